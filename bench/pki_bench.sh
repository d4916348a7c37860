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
#     signing the same pre-generated P-256 CSRs with a P-256 CA, one after
#     the other, through http_load with the same connection count.
#  4. OCSP: vouchd's POST /ocsp against `openssl ocsp -index` (alone and with
#     -multi 2) answering for the same issuing CA and the same certificates
#     (those vouchd issued in step 3, some revoked through the API), the same
#     DER requests (`openssl ocsp -reqout`), with keep-alive and with a new
#     connection per request; without nonce (vouchd may answer from its
#     cache) and with a nonce (a signature per answer). Skipped with a
#     message when vouchd has no /ocsp yet.
#
# Servers listen on 127.0.0.1 only. `openssl ocsp -port` binds every
# address, so when the script runs as root it puts every server and the
# client in a private network namespace that has only a loopback interface
# (unshare -n, nsenter, ip); otherwise the openssl responder is skipped,
# unless BENCH_OCSP_ANY_ADDR=1 allows it to listen on every interface.
# Every process started here is stopped on exit.
#
# Environment: BENCH_SECONDS (default 5) measured seconds per run, after one
# second of warm-up; BENCH_CONNS (default 16) connections per run;
# BENCH_CSRS (default 4000 per second of a run, at least 3000) distinct
# CSRs; BENCH_OCSP_REQS (default 200) distinct OCSP requests, of which
# BENCH_OCSP_REVOKED (default 50) ask about revoked certificates. About
# 14 x (BENCH_SECONDS + 1) + 40 seconds in all. Needs openssl, python3, curl
# and golang-cfssl (scripts/install-deps.sh); without cfssl that comparison
# is skipped.
set -euo pipefail

if [ $# -ne 1 ]; then
  echo "usage: $0 BIN_DIR" >&2
  exit 2
fi
BIN=$(cd "$1" && pwd)
REPO=$(cd "$(dirname "$0")/.." && pwd)
SECS=${BENCH_SECONDS:-5}
CONNS=${BENCH_CONNS:-16}
OCSP_REQS=${BENCH_OCSP_REQS:-200}
OCSP_REVOKED=${BENCH_OCSP_REVOKED:-50}
for v in SECS CONNS OCSP_REQS; do
  if ! [[ ${!v} =~ ^[1-9][0-9]*$ ]]; then
    echo "pki_bench: $v must be a positive whole number" >&2
    exit 2
  fi
done
if ! [[ $OCSP_REVOKED =~ ^[0-9]+$ ]] || [ "$OCSP_REVOKED" -ge "$OCSP_REQS" ]; then
  echo "pki_bench: BENCH_OCSP_REVOKED must be below BENCH_OCSP_REQS" >&2
  exit 2
fi
CSRS=${BENCH_CSRS:-$((4000 * (SECS + 1) > 3000 ? 4000 * (SECS + 1) : 3000))}
if ! [[ $CSRS =~ ^[1-9][0-9]*$ ]] || [ "$CSRS" -gt 1000000 ]; then
  echo "pki_bench: BENCH_CSRS is 1..1000000" >&2
  exit 2
fi
for b in vouch vouchd http_load gen_csrs crl_bench; do
  if [ ! -x "$BIN/$b" ]; then
    echo "pki_bench: $BIN/$b missing (make build)" >&2
    exit 1
  fi
done
for t in openssl python3 curl; do
  command -v "$t" >/dev/null || { echo "pki_bench: $t missing (scripts/install-deps.sh)" >&2; exit 1; }
done

TMP=$(mktemp -d "${TMPDIR:-/tmp}/vouch-pki-bench.XXXXXX")
PIDS=() # every process started here, each the leader of its own process group
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
  "${NS[@]}" ip -o link show lo | grep -q 'LOOPBACK,UP' ||
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

# load NAME ARGS...: one http_load run, JSON in $TMP/NAME.json
load() {
  local name=$1
  shift
  log "  $name: ${SECS}s, $CONNS connections"
  if ! timeout $((SECS + 40)) "${NS[@]}" "$BIN/http_load" --connections "$CONNS" --warmup 1 \
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
GITREV=$(git -C "$REPO" describe --always --dirty 2>/dev/null || echo unknown)
{
  echo "machine=$(nproc) CPUs, ${CPU:-unknown CPU}, $(uname -r)"
  echo "openssl=$(openssl version)"
  echo "data dir filesystem=$(stat -f -c %T "$TMP")"
  echo "bench script from=$REPO at $GITREV; binaries from $BIN"
  echo "load=$(cut -d' ' -f1-3 /proc/loadavg)"
} >"$TMP/meta.txt"

# ---- 1. the crypto limit ----------------------------------------------------------
log "openssl speed -seconds $SECS ecdsap256..."
timeout $((SECS * 4 + 60)) openssl speed -seconds "$SECS" ecdsap256 >"$TMP/speed.txt" 2>/dev/null

# ---- 2. CRL ---------------------------------------------------------------------------
log "crl_bench: 100,000 entries, 3 runs each way..."
timeout 300 "$BIN/crl_bench" --entries 100000 --runs 3 --json >"$TMP/crl.json"
timeout 300 "$BIN/crl_bench" --entries 100000 --runs 3 --order random --json >"$TMP/crl_random.json"

# ---- 3. issuance -----------------------------------------------------------------------
log "generating $CSRS P-256 CSRs (not measured)..."
mkdir "$TMP/csr"
"$BIN/gen_csrs" --count "$CSRS" --out "$TMP/csr"
"$BIN/vouch" ca init --data "$TMP/ca" --org Bench >"$TMP/ca-init.txt"
TOKEN=$(cat "$TMP/ca/admin.token")
printf 'Authorization: Bearer %s' "$TOKEN" >"$TMP/auth.hdr"
vd_start
log "issuance (vouchd on port $VD_PORT, data dir on $(stat -f -c %T "$TMP"))"
load issue_vouchd --url "http://127.0.0.1:$VD_PORT/v1/certificates" --method POST \
  --header "$(cat "$TMP/auth.hdr")" --header 'Content-Type: application/json' \
  --bodies-file "$TMP/csr/vouchd.bodies" --expect-status 201

if command -v cfssl >/dev/null; then
  # a CA like vouchd's issuing CA: P-256, CA:TRUE pathlen 0
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
  if wait_http "http://127.0.0.1:$CF_PORT/api/v1/cfssl/sign"; then
    log "issuance (cfssl serve on port $CF_PORT)"
    load issue_cfssl --url "http://127.0.0.1:$CF_PORT/api/v1/cfssl/sign" --method POST \
      --header 'Content-Type: application/json' --bodies-file "$TMP/csr/cfssl.bodies" \
      --expect-status 200
  else
    log "cfssl serve did not answer: $(tail -c 300 "$TMP/cfssl.log")"
  fi
  stop "$CF_PID"
else
  log "cfssl not installed (Debian golang-cfssl): issuance comparison skipped"
fi

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

# ocsp_runs NAME URL: keep-alive, a new connection per request, and with a nonce
ocsp_runs() {
  load "ocsp_$1_ka" --url "$2" --method POST --header "$OCSP_HDR" --bodies-dir "$TMP/req_plain" --expect-status 200
  load "ocsp_$1_nc" --url "$2" --method POST --header "$OCSP_HDR" --bodies-dir "$TMP/req_plain" --expect-status 200 --new-conn
  load "ocsp_$1_nonce" --url "$2" --method POST --header "$OCSP_HDR" --bodies-dir "$TMP/req_nonce" --expect-status 200
}

if [ "$VD_OCSP" = 1 ]; then
  if check_ocsp vouchd "http://127.0.0.1:$VD_PORT/ocsp"; then
    log "OCSP (vouchd)"
    ocsp_runs vouchd "http://127.0.0.1:$VD_PORT/ocsp"
  else
    VD_OCSP=0
    log "vouchd's /ocsp answers wrongly: its OCSP runs are skipped"
  fi
fi
stop "$VD_PID"

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
  # ossl_run NAME MULTI: openssl ocsp answering like vouchd (responder ID
  # by key, no certificates, nextUpdate in 60 minutes)
  ossl_run() {
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
    log "OCSP ($name on port $port)"
    ocsp_runs "$name" "http://127.0.0.1:$port/"
    stop "$pid"
  }
  ossl_run openssl 0
  if openssl ocsp -help 2>&1 | grep -q -- '-multi'; then
    ossl_run openssl_multi2 2
  else
    log "this openssl has no ocsp -multi"
  fi
fi

# ---- summary -----------------------------------------------------------------------------
echo "load=$(cut -d' ' -f1-3 /proc/loadavg) (at the end)" >>"$TMP/meta.txt"
python3 - "$TMP" "$SECS" "$CONNS" "$VD_OCSP" "$OSSL_OK" <<'EOF'
import json, os, re, sys
tmp, secs, conns, vd_ocsp, ossl_ok = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "1", sys.argv[5] == "1"
def j(name):
    try:
        with open(os.path.join(tmp, name + ".json")) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None
meta = open(os.path.join(tmp, "meta.txt")).read().strip().splitlines()
for m in meta:
    print("# " + m.replace("=", ": ", 1))
print(f"# {secs} s per run after 1 s of warm-up, {conns} connections, one http_load for every server")
print()

speed = open(os.path.join(tmp, "speed.txt")).read()
m = re.search(r"ecdsa \(nistp256\)\s+\S+s\s+\S+s\s+([\d.]+)\s+([\d.]+)", speed)
sign, verify = (float(m.group(1)), float(m.group(2))) if m else (None, None)
ncpu = os.cpu_count() or 1
limit1 = 1 / (1 / sign + 1 / verify) if sign else None
if sign:
    print(f"crypto limit (openssl speed ecdsap256, one core): sign {sign:.0f}/s, verify {verify:.0f}/s "
          f"-> 1/(1/sign + 1/verify) = {limit1:.0f} issuances/s per core, {limit1 * ncpu:.0f}/s on {ncpu} cores")
    print()

def fmt_rate(d):
    return f"{d['ok_rps']:.0f}" if d else "-"
def lat(d, k):
    return f"{d['latency_us'][k] / 1000:.2f}" if d else "-"
def errs(d):
    if not d:
        return "-"
    bad = d["responses"] - d["ok"]
    return f"{d['errors']}/{bad}"
def row(label, d, extra=""):
    if d is None:
        print(f"| {label} | - | - | - | - | - | {extra or 'not run'} |")
        return
    cyc = " (CSRs cycled)" if label.startswith("issue") and d.get("bodies_cycled") else ""
    print(f"| {label} | {fmt_rate(d)} | {lat(d, 'p50')} | {lat(d, 'p99')} | {errs(d)} | "
          f"{d['client_cpu_s'] / max(d['elapsed_s'] + 1, 1e-9) * 100:.0f}% | {extra}{cyc} |")
def ratio(a, b):
    return f"{a['ok_rps'] / b['ok_rps']:.2f}" if a and b and b["ok_rps"] > 0 else "-"

print("| run | ok/s | p50 ms | p99 ms | transport errors / other status | client CPU | notes |")
print("|---|---:|---:|---:|---:|---:|---|")
iv, ic = j("issue_vouchd"), j("issue_cfssl")
row("issue: vouchd POST /v1/certificates (durable)", iv, "201s")
row("issue: cfssl serve /api/v1/cfssl/sign (not durable)", ic, "200s")
runs = [("vouchd", "vouchd"), ("openssl", "openssl ocsp"), ("openssl_multi2", "openssl ocsp -multi 2")]
for key, label in runs:
    for mode, mlabel in (("ka", "keep-alive"), ("nc", "new connection each"), ("nonce", "keep-alive, nonce")):
        d = j(f"ocsp_{key}_{mode}")
        note = ""
        if d is None and key == "vouchd" and not vd_ocsp:
            note = "pending: vouchd has no /ocsp yet"
        elif d is None and key != "vouchd" and not ossl_ok:
            try:
                note = open(os.path.join(tmp, "ossl_skip.txt")).read().strip()
            except OSError:
                note = "skipped"
        if key.startswith("openssl") and mode == "ka" and d:
            note = "server closes after each answer "
        row(f"OCSP: {label}, {mlabel}", d, note)
print()

cr, crr = j("crl"), j("crl_random")
if cr:
    print("| CRL, 100,000 entries (median of 3) | DER bytes | build+sign s | encode s | total s |")
    print("|---|---:|---:|---:|---:|")
    for d, order in ((cr, "store order"), (crr, "random order")):
        if not d:
            continue
        for k, label in (("vouch", "vouch_pki_crl_build + i2d"), ("openssl", "OpenSSL-only reference")):
            v = d[k]
            print(f"| {label}, {order} | {v['der_bytes']} | {v['build_sign_s']:.3f} | {v['encode_s']:.3f} | {v['total_s']:.3f} |")
    print()

print("ratios:")
if iv and ic:
    print(f"  issuance vouchd/cfssl: {ratio(iv, ic)} ({iv['ok_rps']:.0f}/s durable vs {ic['ok_rps']:.0f}/s not durable)")
if iv and limit1:
    print(f"  issuance vouchd / crypto limit on {ncpu} cores: {iv['ok_rps'] / (limit1 * ncpu):.2f}"
          f" (per core: {iv['ok_rps'] / ncpu:.0f}/s of {limit1:.0f}/s)")
if ic and limit1:
    print(f"  issuance cfssl / crypto limit on {ncpu} cores: {ic['ok_rps'] / (limit1 * ncpu):.2f}")
for mode, mlabel in (("ka", "keep-alive"), ("nc", "new connection each"), ("nonce", "nonce, keep-alive")):
    v = j(f"ocsp_vouchd_{mode}")
    for key, label in (("openssl", "openssl ocsp"), ("openssl_multi2", "openssl ocsp -multi 2")):
        o = j(f"ocsp_{key}_{mode}")
        if v and o:
            print(f"  OCSP vouchd/{label}, {mlabel}: {ratio(v, o)}")
if not vd_ocsp:
    print("  OCSP vouchd: pending (no /ocsp in this vouchd)")
if cr:
    v = cr["vouch"]
    print(f"  CRL 100k total (store order): {v['total_s']:.3f} s (target < 1 s), "
          f"OpenSSL-only reference {cr['openssl']['total_s']:.3f} s")
EOF
