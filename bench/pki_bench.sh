#!/usr/bin/env bash
# PKI benchmarks (issue 3): certificate issuance, OCSP and CRL, each against
# a reference measured in the same run with the same client.
#
#   bench/pki_bench.sh BIN_DIR          (make bench)
#
#  1. crypto limit: `openssl speed ecdsap256`; one issuance costs one ECDSA
#     verification (the CSR) and one signature, so one core issues at most
#     1 / (1/sign_rate + 1/verify_rate) certificates per second.
#  2. CRL: crl_bench, 100,000 entries, vouch_pki_crl_build + i2d against a
#     minimal OpenSSL-only build of the same CRL.
#  3. issuance: vouchd (POST /v1/certificates, template device, durable)
#     against `cfssl serve` (POST /api/v1/cfssl/sign, not durable), both
#     signing pre-generated distinct P-256 CSRs with a P-256 CA, through
#     http_load with the same connection count, at each count in
#     BENCH_ISSUE_CONNS (a durable server needs requests in flight while it
#     syncs, so the comparison is made at more than one load).
#  4. OCSP: vouchd's POST /ocsp against `openssl ocsp -index` (alone and with
#     -multi 2) answering for the same issuing CA and the same certificates
#     (those vouchd issued in step 3, some revoked through the API), the same
#     DER requests (`openssl ocsp -reqout`), with keep-alive and with a new
#     connection per request; without nonce (vouchd may answer from its
#     cache) and with a nonce (a signature per answer). Every responder is
#     first checked to answer good and revoked correctly under the CA's
#     signature. vouchd's part is skipped with a message when it has no
#     /ocsp yet.
#
# The servers being compared run side by side and the runs alternate
# between them (BENCH_ROUNDS rounds of: each server once), so a machine
# whose speed drifts (other work, a VM's neighbours) moves them alike; the
# summary gives the median of the rounds and their range.
#
# Servers listen on 127.0.0.1 only. `openssl ocsp -port` binds every
# address, so when the script runs as root it puts every server and the
# client in a private network namespace that has only a loopback interface
# (unshare -n, nsenter, ip); otherwise the openssl responder is skipped,
# unless BENCH_OCSP_ANY_ADDR=1 allows it to listen on every interface.
# Every process started here is stopped on exit.
#
# Environment: BENCH_SECONDS (default 5) measured seconds per run, after one
# second of warm-up; BENCH_ROUNDS (default 2); BENCH_CONNS (default 16)
# connections per OCSP run; BENCH_ISSUE_CONNS (default "16 64") the
# connection counts of the issuance runs; BENCH_CSRS (default 10000 per
# second of a run, at least 3000) distinct CSRs per issuance run; BENCH_OCSP_REQS (default 200)
# distinct OCSP requests, of which BENCH_OCSP_REVOKED (default 50) ask about
# revoked certificates. About (9 + 2 x issuance counts) x BENCH_ROUNDS x
# (BENCH_SECONDS + 1) + 90 seconds in all. Needs openssl, python3, curl and golang-cfssl
# (scripts/install-deps.sh); without cfssl that comparison is skipped.
set -euo pipefail

if [ $# -ne 1 ]; then
  echo "usage: $0 BIN_DIR" >&2
  exit 2
fi
BIN=$(cd "$1" && pwd)
REPO=$(cd "$(dirname "$0")/.." && pwd)
SECS=${BENCH_SECONDS:-5}
ROUNDS=${BENCH_ROUNDS:-2}
CONNS=${BENCH_CONNS:-16}
ISSUE_CONNS=(${BENCH_ISSUE_CONNS:-16 64})
OCSP_REQS=${BENCH_OCSP_REQS:-200}
OCSP_REVOKED=${BENCH_OCSP_REVOKED:-50}
for v in SECS ROUNDS CONNS OCSP_REQS; do
  if ! [[ ${!v} =~ ^[1-9][0-9]{0,4}$ ]]; then
    echo "pki_bench: $v must be a whole number, 1..99999" >&2
    exit 2
  fi
done
if [ ${#ISSUE_CONNS[@]} -lt 1 ] || [ ${#ISSUE_CONNS[@]} -gt 8 ]; then
  echo "pki_bench: BENCH_ISSUE_CONNS holds 1 to 8 connection counts" >&2
  exit 2
fi
for c in "${ISSUE_CONNS[@]}"; do
  if ! [[ $c =~ ^[1-9][0-9]{0,3}$ ]]; then
    echo "pki_bench: BENCH_ISSUE_CONNS: '$c' is not a connection count, 1..9999" >&2
    exit 2
  fi
done
if ! [[ $OCSP_REVOKED =~ ^[0-9]+$ ]] || [ "$OCSP_REVOKED" -ge "$OCSP_REQS" ]; then
  echo "pki_bench: BENCH_OCSP_REVOKED must be below BENCH_OCSP_REQS" >&2
  exit 2
fi
CSRS=${BENCH_CSRS:-$((10000 * (SECS + 1) > 3000 ? 10000 * (SECS + 1) : 3000))}
NRUNS=$((ROUNDS * ${#ISSUE_CONNS[@]})) # issuance runs per server
if ! [[ $CSRS =~ ^[1-9][0-9]{0,6}$ ]] || [ $((CSRS * NRUNS)) -gt 1000000 ]; then
  echo "pki_bench: BENCH_CSRS x BENCH_ROUNDS x issuance counts is 1..1000000" >&2
  exit 2
fi
for b in vouch vouchd http_load gen_csrs crl_bench; do
  if [ ! -x "$BIN/$b" ]; then
    echo "pki_bench: $BIN/$b missing (make build)" >&2
    exit 1
  fi
done
for t in openssl python3 curl split; do
  command -v "$t" >/dev/null || { echo "pki_bench: $t missing (scripts/install-deps.sh)" >&2; exit 1; }
done

TMP=$(mktemp -d "${TMPDIR:-/tmp}/vouch-pki-bench.XXXXXX")
PIDS=() # every process started here; each leads its own process group
cleanup() {
  local p i
  for p in "${PIDS[@]}"; do
    kill -TERM -- "-$p" 2>/dev/null || kill -TERM "$p" 2>/dev/null || true
  done
  for p in "${PIDS[@]}"; do
    for ((i = 0; i < 50; i++)); do
      kill -0 "$p" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL -- "-$p" 2>/dev/null || kill -KILL "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { echo "pki_bench: $*" >&2; }
# stop PID: SIGTERM to its group, wait (5 s at most), then SIGKILL
stop() {
  local p=$1 i
  kill -TERM -- "-$p" 2>/dev/null || kill -TERM "$p" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do
    kill -0 "$p" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL -- "-$p" 2>/dev/null || true
  wait "$p" 2>/dev/null || true
}

# ---- network namespace --------------------------------------------------------
NS=()
OSSL_OK=1
if [ "$(id -u)" -eq 0 ] && command -v unshare >/dev/null && command -v nsenter >/dev/null &&
  command -v ip >/dev/null && unshare -n true 2>/dev/null; then
  # a process that holds a namespace with only "lo", up
  setsid unshare -n sh -c 'ip link set lo up && exec sleep 86400' &
  NSPID=$!
  PIDS+=("$NSPID")
  for _ in $(seq 50); do
    [ "$(readlink "/proc/$NSPID/exe" 2>/dev/null)" = "$(readlink -f "$(command -v sleep)")" ] && break
    sleep 0.05
  done
  NS=(nsenter -t "$NSPID" -n)
  "${NS[@]}" ip -o link show lo 2>/dev/null | grep -q 'LOOPBACK,UP' ||
    { log "loopback in the namespace did not come up"; exit 1; }
  log "servers and client run in a private network namespace (loopback only)"
elif [ "${BENCH_OCSP_ANY_ADDR:-}" = 1 ]; then
  log "no private network namespace (needs root, unshare, nsenter, ip): openssl ocsp will listen on EVERY interface (BENCH_OCSP_ANY_ADDR=1)"
else
  OSSL_OK=0
  echo "skipped: no private network namespace" >"$TMP/ossl_skip.txt"
  log "no private network namespace (needs root, unshare, nsenter, ip); openssl ocsp binds every interface, so it is skipped (BENCH_OCSP_ANY_ADDR=1 runs it anyway)"
fi
# run a command in the namespace (or here)
ns() { "${NS[@]}" "$@"; }

free_port() {
  ns python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
# wait_http URL: until something answers HTTP there (10 s at most)
wait_http() {
  local i code
  for ((i = 0; i < 200; i++)); do
    code=$(ns curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$1" 2>/dev/null || true)
    [ -n "$code" ] && [ "$code" != 000 ] && return 0
    sleep 0.05
  done
  return 1
}

# load NAME ARGS...: one http_load run with $CONNS connections (or
# $LOAD_CONNS when set), JSON in $TMP/NAME.json
load() {
  local name=$1 conns=${LOAD_CONNS:-$CONNS}
  shift
  log "  $name: ${SECS}s, $conns connections"
  if ! timeout $((SECS + 40)) "${NS[@]}" "$BIN/http_load" --connections "$conns" --warmup 1 \
    --duration "$SECS" --json "$@" >"$TMP/$name.json" 2>"$TMP/$name.err"; then
    log "  $name: no successful responses: $(head -c 300 "$TMP/$name.err") $(head -c 300 "$TMP/$name.json")"
  fi
}

# ---- vouchd --------------------------------------------------------------------
VD_PID=
VD_PORT=
vd_start() {
  setsid "${NS[@]}" "$BIN/vouchd" --data "$TMP/ca" --listen 127.0.0.1:0 \
    --public-url http://127.0.0.1:8080 2>"$TMP/vouchd.log" &
  VD_PID=$!
  PIDS+=("$VD_PID")
  VD_PORT=
  for _ in $(seq 200); do
    VD_PORT=$(sed -n 's#^vouchd: listening on http://127\.0\.0\.1:\([0-9][0-9]*\).*#\1#p' "$TMP/vouchd.log")
    [ -n "$VD_PORT" ] && return 0
    kill -0 "$VD_PID" 2>/dev/null || { log "vouchd exited: $(head -c 400 "$TMP/vouchd.log")"; exit 1; }
    sleep 0.05
  done
  log "vouchd did not announce its port: $(head -c 400 "$TMP/vouchd.log")"
  exit 1
}

CPU=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
FS=$(findmnt -n -o FSTYPE -T "$TMP" 2>/dev/null || stat -f -c %T "$TMP")
GITREV=$(git -C "$REPO" describe --always --dirty 2>/dev/null || echo unknown)
{
  echo "machine=$(nproc) CPUs, ${CPU:-unknown CPU}, kernel $(uname -r)"
  echo "openssl=$(openssl version)"
  echo "data dir filesystem=$FS ($TMP)"
  echo "script=$REPO at $GITREV; binaries from $BIN"
  echo "load average=$(cut -d' ' -f1-3 /proc/loadavg) (at the start)"
} >"$TMP/meta.txt"

# ---- 1. the crypto limit ----------------------------------------------------------
log "openssl speed -seconds $SECS ecdsap256..."
timeout $((SECS * 4 + 60)) openssl speed -seconds "$SECS" ecdsap256 >"$TMP/speed.txt" 2>/dev/null

# ---- 2. CRL ---------------------------------------------------------------------------
log "crl_bench: 100,000 entries, 3 runs each way, in the store's order and shuffled..."
timeout 300 "$BIN/crl_bench" --entries 100000 --runs 3 --json >"$TMP/crl.json"
timeout 300 "$BIN/crl_bench" --entries 100000 --runs 3 --order random --json >"$TMP/crl_random.json"

# ---- 3. issuance -----------------------------------------------------------------------
log "generating $((CSRS * NRUNS)) P-256 CSRs ($CSRS per run; not measured)..."
mkdir "$TMP/csr"
# one gen_csrs per core, each numbering its subjects from its own start
GEN=$(nproc 2>/dev/null || echo 1)
[ "$GEN" -le 8 ] || GEN=8
PER=$(((CSRS * NRUNS + GEN - 1) / GEN))
GPIDS=()
for ((g = 0; g < GEN; g++)); do
  mkdir "$TMP/csr/g$g"
  "$BIN/gen_csrs" --count "$PER" --first $((g * PER)) --out "$TMP/csr/g$g" &
  GPIDS+=($!)
done
for p in "${GPIDS[@]}"; do
  wait "$p" || { log "gen_csrs failed"; exit 1; }
done
for f in vouchd cfssl; do
  for ((g = 0; g < GEN; g++)); do cat "$TMP/csr/g$g/$f.bodies"; done >"$TMP/csr/$f.bodies"
done
rm -rf "$TMP"/csr/g*
# one slice per run, so no CSR is sent to vouchd twice
split -l "$CSRS" -d -a 3 "$TMP/csr/vouchd.bodies" "$TMP/csr/vouchd.r"
split -l "$CSRS" -d -a 3 "$TMP/csr/cfssl.bodies" "$TMP/csr/cfssl.r"
"$BIN/vouch" ca init --data "$TMP/ca" --org Bench >"$TMP/ca-init.txt"
TOKEN=$(cat "$TMP/ca/admin.token")
vd_start

CF_PID=
if command -v cfssl >/dev/null; then
  # a CA like vouchd's issuing CA: P-256, CA:TRUE, pathlen 0
  openssl ecparam -name prime256v1 -genkey -noout -out "$TMP/cfssl-ca-key.pem" 2>/dev/null
  openssl req -x509 -new -key "$TMP/cfssl-ca-key.pem" -subj "/O=Bench/CN=Bench cfssl CA" \
    -days 3650 -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
    -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" -out "$TMP/cfssl-ca.pem"
  # the default profile follows vouchd's device template: digitalSignature,
  # keyAgreement, clientAuth, 3650 days
  cat >"$TMP/cfssl.json" <<'EOF'
{"signing": {"default": {"usages": ["digital signature", "key agreement", "client auth"],
                         "expiry": "87600h"}}}
EOF
  CF_PORT=$(free_port)
  setsid "${NS[@]}" cfssl serve -address 127.0.0.1 -port "$CF_PORT" -ca "$TMP/cfssl-ca.pem" \
    -ca-key "$TMP/cfssl-ca-key.pem" -config "$TMP/cfssl.json" 2>"$TMP/cfssl.log" &
  CF_PID=$!
  PIDS+=("$CF_PID")
  if ! wait_http "http://127.0.0.1:$CF_PORT/api/v1/cfssl/sign"; then
    log "cfssl serve did not answer: $(tail -c 300 "$TMP/cfssl.log")"
    stop "$CF_PID"
    CF_PID=
  fi
else
  log "cfssl not installed (Debian golang-cfssl): issuance comparison skipped"
fi
log "issuance: vouchd on port $VD_PORT (data dir on $FS)${CF_PID:+, cfssl serve on port $CF_PORT}"
run=0
for ((r = 1; r <= ROUNDS; r++)); do
  for c in "${ISSUE_CONNS[@]}"; do
    slice=$(printf '%03d' $run)
    run=$((run + 1))
    LOAD_CONNS=$c load "issue_vouchd_c$c.r$r" --url "http://127.0.0.1:$VD_PORT/v1/certificates" \
      --method POST --header "Authorization: Bearer $TOKEN" --header 'Content-Type: application/json' \
      --bodies-file "$TMP/csr/vouchd.r$slice" --expect-status 201
    if [ -n "$CF_PID" ]; then
      LOAD_CONNS=$c load "issue_cfssl_c$c.r$r" --url "http://127.0.0.1:$CF_PORT/api/v1/cfssl/sign" \
        --method POST --header 'Content-Type: application/json' \
        --bodies-file "$TMP/csr/cfssl.r$slice" --expect-status 200
    fi
  done
done
[ -z "$CF_PID" ] || stop "$CF_PID"

# ---- 4. OCSP ---------------------------------------------------------------------------
OCSP_HDR='Content-Type: application/ocsp-request'
"$BIN/vouch" ca export --data "$TMP/ca" --name default --out "$TMP/issuing.pem"
# Does this vouchd answer OCSP? (any serial: an unknown one is answered too)
VD_OCSP=0
openssl ocsp -issuer "$TMP/issuing.pem" -serial 0x01 -no_nonce -reqout "$TMP/probe.der" >/dev/null
if [ "$(ns curl -s -o /dev/null -w '%{http_code} %{content_type}' --max-time 10 -H "$OCSP_HDR" \
  --data-binary @"$TMP/probe.der" "http://127.0.0.1:$VD_PORT/ocsp" || true)" = "200 application/ocsp-response" ]; then
  VD_OCSP=1
else
  log "vouchd has no POST /ocsp yet (no application/ocsp-response answer): its OCSP runs are skipped (pending)"
fi

# every certificate vouchd issued, some revoked through the API; openssl's
# index.txt holds the same ones
CERTS_OK=1
if ! ns python3 - "$VD_PORT" "$TOKEN" "$OCSP_REVOKED" "$TMP/certs.json" <<'EOF'; then
import json, sys, urllib.request, urllib.error
port, token, nrev, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
base = f"http://127.0.0.1:{port}"
def call(method, path, body=None):
    req = urllib.request.Request(base + path, method=method, data=body,
                                 headers={"Authorization": "Bearer " + token,
                                          "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.load(r)
def sync():
    certs, after = {}, 0
    while True:
        d = call("GET", f"/v1/sync?after={after}&limit=10000")
        for c in d["changes"]:
            certs[c["serial"]] = c
        after = d["cursor"]
        if not d["more"]:
            return certs
try:
    certs = sync()
except (urllib.error.URLError, KeyError, ValueError) as e:
    sys.exit(f"pki_bench: GET /v1/sync failed ({e}): no certificate list for the OCSP runs")
revoked = 0
for serial in list(certs)[:nrev]:
    try:
        call("POST", f"/v1/certificates/default/{serial}/revoke",
             json.dumps({"reason": "keyCompromise"}).encode())
        revoked += 1
    except urllib.error.HTTPError as e:
        print(f"pki_bench: revoke {serial}: HTTP {e.code}; going on without revocations",
              file=sys.stderr)
        break
if revoked:
    certs = sync()
json.dump(list(certs.values()), open(out, "w"))
print(f"pki_bench: {len(certs)} certificates, {revoked} revoked", file=sys.stderr)
EOF
  CERTS_OK=0
  VD_OCSP=0
  OSSL_OK=0
  echo "skipped: no certificate list from vouchd" >"$TMP/ossl_skip.txt"
  log "OCSP runs skipped: no certificate list"
fi

if [ "$CERTS_OK" = 1 ]; then
  # the index may hold one subject more than once (a CSR sent twice when a
  # run outpaces BENCH_CSRS): tell openssl so, or it refuses the whole index
  echo "unique_subject = no" >"$TMP/index.txt.attr"
  python3 - "$TMP/certs.json" "$TMP/index.txt" "$TMP/serials.txt" "$OCSP_REQS" <<'EOF'
import json, sys, datetime
certs = json.load(open(sys.argv[1]))
nreq = int(sys.argv[4])
def t(s):  # RFC 3339 -> openssl's index time (UTCTime)
    d = datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ")
    return d.strftime("%y%m%d%H%M%SZ")
with open(sys.argv[2], "w") as f:
    for c in certs:
        if c["status"] == "revoked":
            f.write(f"R\t{t(c['not_after'])}\t{t(c['revoked_at'])},{c['reason']}\t{c['serial']}\tunknown\t/{c['subject']}\n")
        else:
            f.write(f"V\t{t(c['not_after'])}\t\t{c['serial']}\tunknown\t/{c['subject']}\n")
rev = [c["serial"] for c in certs if c["status"] == "revoked"]
good = [c["serial"] for c in certs if c["status"] != "revoked"]
pick = rev[:nreq] + good[:max(0, nreq - len(rev))]
with open(sys.argv[3], "w") as f:
    for s in pick:
        f.write(("R " if s in rev else "G ") + s + "\n")
EOF
  mkdir "$TMP/req_plain" "$TMP/req_nonce"
  i=0
  while read -r _ serial; do
    n=$(printf '%05d' $i)
    openssl ocsp -issuer "$TMP/issuing.pem" -serial "0x$serial" -no_nonce -reqout "$TMP/req_plain/$n.der" >/dev/null
    openssl ocsp -issuer "$TMP/issuing.pem" -serial "0x$serial" -reqout "$TMP/req_nonce/$n.der" >/dev/null
    i=$((i + 1))
  done <"$TMP/serials.txt"
  log "OCSP: $i distinct requests ($(grep -c '^R' "$TMP/serials.txt" || true) about revoked certificates), without and with nonce"
fi
GOOD_SERIAL=$(awk '$1 == "G" {print $2; exit}' "$TMP/serials.txt" 2>/dev/null || true)
REV_SERIAL=$(awk '$1 == "R" {print $2; exit}' "$TMP/serials.txt" 2>/dev/null || true)

# check_ocsp NAME URL: the responder says good and revoked where it should,
# under the issuing CA's signature, so nothing fast but wrong is measured
check_ocsp() {
  local name=$1 url=$2 s serial want got
  for s in "$GOOD_SERIAL:good" "$REV_SERIAL:revoked"; do
    serial=${s%%:*} want=${s#*:}
    [ -n "$serial" ] || continue
    openssl ocsp -issuer "$TMP/issuing.pem" -serial "0x$serial" -no_nonce -reqout "$TMP/chk.der" >/dev/null
    if ! ns curl -s --max-time 10 -o "$TMP/chk.resp" -H "$OCSP_HDR" --data-binary @"$TMP/chk.der" "$url"; then
      log "$name: no answer"
      return 1
    fi
    got=$(openssl ocsp -respin "$TMP/chk.resp" -issuer "$TMP/issuing.pem" -VAfile "$TMP/issuing.pem" \
      -serial "0x$serial" 2>&1 || true)
    if ! grep -q '^Response verify OK' <<<"$got"; then
      log "$name: the answer about $serial does not verify under the issuing CA"
      return 1
    fi
    got=$(sed -n 's/^0x[0-9A-Fa-f]*: \([a-z]*\).*/\1/p' <<<"$got" | head -1)
    if [ "$got" != "$want" ]; then
      log "$name: $serial answered '${got:-nothing}', want $want"
      return 1
    fi
  done
  return 0
}

RESPONDERS=() # "name url" of every responder that answered correctly
if [ "$VD_OCSP" = 1 ]; then
  if check_ocsp vouchd "http://127.0.0.1:$VD_PORT/ocsp"; then
    RESPONDERS+=("vouchd http://127.0.0.1:$VD_PORT/ocsp")
  else
    VD_OCSP=0
    log "vouchd's /ocsp answers wrongly: its OCSP runs are skipped"
  fi
fi

# the CA key for openssl ocsp, recovered as docs/cli.md describes: the
# encrypted PEM from vouch.db, the passphrase HKDF'd from master.key (a
# throwaway CA made for this run; its key never leaves $TMP)
if [ "$OSSL_OK" = 1 ]; then
  umask 077
  python3 - "$TMP/ca/vouch.db" >"$TMP/issuing-enc.pem" <<'EOF'
import sqlite3, sys
db = sqlite3.connect("file:" + sys.argv[1] + "?mode=ro", uri=True)
sys.stdout.write(db.execute("SELECT key_pem FROM issuers WHERE name = 'default'").fetchone()[0])
EOF
  openssl kdf -keylen 32 -kdfopt digest:SHA256 \
    -kdfopt "hexkey:$(od -An -tx1 -v "$TMP/ca/master.key" | tr -d ' \n')" \
    -kdfopt "info:vouch ca key passphrase v1" HKDF | tr -d ':\n' | tr 'A-F' 'a-f' >"$TMP/pass.txt"
  openssl pkey -in "$TMP/issuing-enc.pem" -passin "file:$TMP/pass.txt" -out "$TMP/issuing-key.pem"
  umask 022
  # ossl_start NAME MULTI: openssl ocsp answering like vouchd (responder ID
  # by key, no certificates, nextUpdate in 60 minutes)
  ossl_start() {
    local name=$1 multi=$2 port pid
    local args=(openssl ocsp -index "$TMP/index.txt" -port 0 -rsigner "$TMP/issuing.pem"
      -rkey "$TMP/issuing-key.pem" -CA "$TMP/issuing.pem" -resp_no_certs -resp_key_id -nmin 60 -ignore_err)
    if [ "$multi" -gt 0 ]; then
      # -multi makes its own process group (and refuses to run as a session leader)
      "${NS[@]}" "${args[@]}" -multi "$multi" >"$TMP/$name.log" 2>&1 &
    else
      setsid "${NS[@]}" "${args[@]}" >"$TMP/$name.log" 2>&1 &
    fi
    pid=$!
    PIDS+=("$pid")
    port=
    for _ in $(seq 100); do
      port=$(sed -n 's/^ACCEPT .*:\([0-9][0-9]*\) PID=.*/\1/p' "$TMP/$name.log")
      [ -n "$port" ] && break
      sleep 0.05
    done
    if [ -z "$port" ] || ! wait_http "http://127.0.0.1:$port/" ||
      ! check_ocsp "$name" "http://127.0.0.1:$port/"; then
      log "$name: not usable: $(head -c 300 "$TMP/$name.log")"
      stop "$pid"
      return 0
    fi
    RESPONDERS+=("$name http://127.0.0.1:$port/")
  }
  ossl_start openssl 0
  if openssl ocsp -help 2>&1 | grep -q -- '-multi'; then
    ossl_start openssl_multi2 2
  else
    log "this openssl has no ocsp -multi"
  fi
fi

if [ ${#RESPONDERS[@]} -gt 0 ]; then
  log "OCSP: ${RESPONDERS[*]}"
  for ((r = 1; r <= ROUNDS; r++)); do
    for mode in ka nc nonce; do
      for resp in "${RESPONDERS[@]}"; do
        name=${resp%% *} url=${resp#* }
        case $mode in
        ka) load "ocsp_${name}_ka.r$r" --url "$url" --method POST --header "$OCSP_HDR" \
          --bodies-dir "$TMP/req_plain" --expect-status 200 ;;
        nc) load "ocsp_${name}_nc.r$r" --url "$url" --method POST --header "$OCSP_HDR" \
          --bodies-dir "$TMP/req_plain" --expect-status 200 --new-conn ;;
        nonce) load "ocsp_${name}_nonce.r$r" --url "$url" --method POST --header "$OCSP_HDR" \
          --bodies-dir "$TMP/req_nonce" --expect-status 200 ;;
        esac
      done
    done
  done
fi
stop "$VD_PID"

# ---- summary -----------------------------------------------------------------------------
echo "load average=$(cut -d' ' -f1-3 /proc/loadavg) (at the end)" >>"$TMP/meta.txt"
python3 - "$TMP" "$SECS" "$CONNS" "$ROUNDS" "$VD_OCSP" "$OSSL_OK" "${ISSUE_CONNS[*]}" <<'EOF'
import json, os, re, statistics, sys
tmp, secs, conns, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
vd_ocsp, ossl_ok = sys.argv[5] == "1", sys.argv[6] == "1"
issue_conns = [int(c) for c in sys.argv[7].split()]

def load(name):
    try:
        with open(os.path.join(tmp, name + ".json")) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None

def agg(prefix):
    """The rounds of one run: medians, range, sums."""
    runs = [d for d in (load(f"{prefix}.r{r}") for r in range(1, rounds + 1)) if d]
    if not runs:
        return None
    rates = [d["ok_rps"] for d in runs]
    return {
        "n": len(runs), "ok_rps": statistics.median(rates), "min": min(rates), "max": max(rates),
        "p50": statistics.median(d["latency_us"]["p50"] for d in runs) / 1000,
        "p99": statistics.median(d["latency_us"]["p99"] for d in runs) / 1000,
        "errors": sum(d["errors"] for d in runs),
        "other": sum(d["responses"] - d["ok"] for d in runs),
        "cpu": statistics.median(d["client_cpu_s"] / (d["elapsed_s"] + 1) for d in runs) * 100,
        "cycled": any(d.get("bodies_cycled") for d in runs),
    }

for m in open(os.path.join(tmp, "meta.txt")).read().strip().splitlines():
    print("# " + m.replace("=", ": ", 1))
print(f"# {rounds} round(s) of {secs} s per run after 1 s of warm-up; issuance with "
      f"{', '.join(map(str, issue_conns))} connections, OCSP with {conns}; "
      f"the same http_load for every server; median of the rounds [range]")
print()

speed = open(os.path.join(tmp, "speed.txt")).read()
m = re.search(r"ecdsa \(nistp256\)\s+\S+s\s+\S+s\s+([\d.]+)\s+([\d.]+)", speed)
sign, verify = (float(m.group(1)), float(m.group(2))) if m else (None, None)
ncpu = os.cpu_count() or 1
limit1 = 1 / (1 / sign + 1 / verify) if sign else None
if sign:
    print(f"crypto limit (openssl speed ecdsap256, one core): sign {sign:.0f}/s, verify {verify:.0f}/s"
          f" -> 1/(1/sign + 1/verify) = {limit1:.0f} issuances/s per core, {limit1 * ncpu:.0f}/s on"
          f" {ncpu} cores")
    print()

print("| run | ok/s | range | p50 ms | p99 ms | transport errors / other status | client CPU | notes |")
print("|---|---:|---:|---:|---:|---:|---:|---|")
def row(label, d, note=""):
    if d is None:
        print(f"| {label} | - | - | - | - | - | - | {note or 'not run'} |")
        return
    if d["cycled"]:
        note += " (bodies cycled: some CSRs sent twice)" if label.startswith("issue") else ""
    print(f"| {label} | {d['ok_rps']:.0f} | {d['min']:.0f}-{d['max']:.0f} | {d['p50']:.2f} | "
          f"{d['p99']:.2f} | {d['errors']}/{d['other']} | {d['cpu']:.0f}% | {note.strip()} |")

issue = {}
for c in issue_conns:
    iv = issue["vouchd", c] = agg(f"issue_vouchd_c{c}")
    ic = issue["cfssl", c] = agg(f"issue_cfssl_c{c}")
    row(f"issue, {c} connections: vouchd POST /v1/certificates (durable)", iv, "201")
    row(f"issue, {c} connections: cfssl serve /api/v1/cfssl/sign (not durable)", ic,
        "200" if ic else "")
names = [("vouchd", "vouchd /ocsp"), ("openssl", "openssl ocsp"),
         ("openssl_multi2", "openssl ocsp -multi 2")]
modes = [("ka", "keep-alive"), ("nc", "new connection each"), ("nonce", "keep-alive, nonce")]
ocsp = {}
for key, label in names:
    for mode, mlabel in modes:
        d = ocsp[key, mode] = agg(f"ocsp_{key}_{mode}")
        note = ""
        if d is None and key == "vouchd" and not vd_ocsp:
            note = "pending: vouchd has no /ocsp yet"
        elif d is None and key != "vouchd" and not ossl_ok:
            try:
                note = open(os.path.join(tmp, "ossl_skip.txt")).read().strip()
            except OSError:
                note = "skipped"
        elif d is not None and key.startswith("openssl") and mode != "nc":
            note = "closes the connection after each answer"
        elif d is not None and key == "vouchd" and mode != "nonce":
            note = "may answer from its cache"
        row(f"OCSP: {label}, {mlabel}", d, note)
print()

cr, crr = load("crl"), load("crl_random")
if cr:
    print("| CRL, 100,000 entries (median of 3) | DER bytes | build+sign s | encode s | total s |")
    print("|---|---:|---:|---:|---:|")
    for d, order in ((cr, "store order"), (crr, "shuffled")):
        if not d:
            continue
        for k, label in (("vouch", "vouch_pki_crl_build + i2d"), ("openssl", "OpenSSL-only reference")):
            v = d[k]
            print(f"| {label}, {order} | {v['der_bytes']} | {v['build_sign_s']:.3f} | "
                  f"{v['encode_s']:.3f} | {v['total_s']:.3f} |")
    print()

def ratio(a, b):
    return f"{a['ok_rps'] / b['ok_rps']:.2f}" if a and b and b["ok_rps"] > 0 else "-"
print("ratios (medians):")
for c in issue_conns:
    iv, ic = issue["vouchd", c], issue["cfssl", c]
    if iv and ic:
        print(f"  issuance vouchd/cfssl, {c} connections: {ratio(iv, ic)} ({iv['ok_rps']:.0f}/s durable,"
              f" {ic['ok_rps']:.0f}/s not durable)")
    if limit1:
        for d, who in ((iv, "vouchd"), (ic, "cfssl")):
            if d:
                print(f"  issuance {who} / crypto limit of {ncpu} cores, {c} connections: "
                      f"{d['ok_rps'] / (limit1 * ncpu):.2f} ({d['ok_rps']:.0f}/s of {limit1 * ncpu:.0f}/s)")
for mode, mlabel in modes:
    for key, label in names[1:]:
        if ocsp["vouchd", mode] and ocsp[key, mode]:
            print(f"  OCSP vouchd/{label}, {mlabel}: {ratio(ocsp['vouchd', mode], ocsp[key, mode])}")
if not vd_ocsp:
    print("  OCSP vouchd: pending (no /ocsp in this vouchd)")
if cr:
    v = cr["vouch"]
    print(f"  CRL 100k, build+sign+encode (store order): {v['total_s']:.3f} s against the 1 s target;"
          f" OpenSSL-only reference {cr['openssl']['total_s']:.3f} s")
EOF
