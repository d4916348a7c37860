#!/usr/bin/env bash
# kill -9 of vouchd during a stream of issuances (server/commit.h: a client
# is answered only after the commit that holds its certificate). Several
# rounds: start vouchd on the same data directory, let concurrent clients
# issue as fast as they can, each recording every 201 it fully received,
# kill -9 the server at a random moment. After every restart and at the
# end: every certificate a client received is stored and byte-identical
# (GET ?format=der, SHA-256), no serial repeats (client side and in the
# store), the store holds at least as many certificates as were received,
# one cert.issue audit entry per certificate, `vouch audit verify` passes,
# SQLite's integrity_check says ok, and sync lists every certificate once.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/vouchd_lib.sh"

vd_files
CURL_MAX=20
PUB=http://ca.example.test:8080/pki
ROUNDS=${VOUCHD_CRASH_ROUNDS:-4}
CLIENTS=4

# client.py PORT TOKEN CSR OUT STOPFILE: POST /v1/certificates on one
# keep-alive connection as fast as the server answers; a line per answer
# ("OK issuer serial sha256-of-DER" for a complete 201, "HTTP status body"
# otherwise). Three connection failures in a row (the server is gone): exit.
cat >client.py <<'PY'
import base64, hashlib, http.client, json, os, sys, time
port, token, csr, out, stop = sys.argv[1:6]
body = json.dumps({"csr": open(csr).read(), "template": "device"})
hdrs = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}
log = open(out, "a", buffering=1)
conn, fails = None, 0
while not os.path.exists(stop):
    try:
        if conn is None:
            conn = http.client.HTTPConnection("127.0.0.1", int(port), timeout=15)
        conn.request("POST", "/v1/certificates", body, hdrs)
        r = conn.getresponse()
        data = r.read()
        if r.status == 201:
            d = json.loads(data)
            der = base64.b64decode("".join(l for l in d["certificate"].splitlines() if not l.startswith("-----")))
            line = "OK %s %s %s\n" % (d["issuer"], d["serial"], hashlib.sha256(der).hexdigest())
        else:
            line = "HTTP %d %s\n" % (r.status, data[:160].decode("utf-8", "replace").replace("\n", " "))
    except Exception:
        if conn is not None:
            conn.close()
        conn = None
        fails += 1
        if fails >= 3:
            break
        time.sleep(0.02)
        continue
    fails = 0
    log.write(line)
PY

# verify.py PORT TOKEN RECV...: every received certificate is served, with
# the same DER; prints a JSON summary.
cat >verify.py <<'PY'
import hashlib, http.client, json, sys
port, token, files = sys.argv[1], sys.argv[2], sys.argv[3:]
recs = []
for f in files:
    for line in open(f):
        if line.startswith("OK "):
            _, iss, ser, h = line.split()
            recs.append((iss, ser, h))
keys = [(i, s) for i, s, _ in recs]
conn = http.client.HTTPConnection("127.0.0.1", int(port), timeout=15)
hdrs = {"Authorization": "Bearer " + token}
missing, differ = [], []
for iss, ser, h in recs:
    conn.request("GET", "/v1/certificates/%s/%s?format=der" % (iss, ser), headers=hdrs)
    r = conn.getresponse()
    data = r.read()
    if r.status != 200:
        missing.append("%s/%s: HTTP %d" % (iss, ser, r.status))
    elif hashlib.sha256(data).hexdigest() != h:
        differ.append("%s/%s" % (iss, ser))
print(json.dumps({"received": len(recs), "repeats": len(keys) - len(set(keys)),
                  "missing": len(missing), "differ": len(differ),
                  "examples": (missing + [d + ": other bytes" for d in differ])[:3]}))
PY

# store.py DB: facts from the database (read-only; vouchd may be running)
cat >store.py <<'PY'
import json, sqlite3, sys
c = sqlite3.connect("file:" + sys.argv[1] + "?mode=ro", uri=True, timeout=30)
q = lambda s: c.execute(s).fetchall()
print(json.dumps({
    "certs": q("select count(*) from certificates")[0][0],
    "serial_repeats": q("select count(*) from (select serial from certificates group by serial having count(*) > 1)")[0][0],
    "issue_audit": q("select count(*) from audit_log where action = 'cert.issue'")[0][0],
    "seq_repeats": q("select count(*) - count(distinct seq) from certificates")[0][0],
    "integrity": q("pragma integrity_check")[0][0],
}))
PY
jf() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2" 2>/dev/null || echo "<no answer>"; }

# store_checks WHEN: the store facts after a restart (or at the end)
store_checks() {
    python3 store.py "$CA/vouch.db" >store.json 2>"$ERR" || echo '{}' >store.json
    IT_POS=$((IT_POS + 2))
    IT_NEG=$((IT_NEG + 2))
    assert_eq "$1: SQLite integrity_check" "$(jf store.json 'd["integrity"]')" ok
    assert_eq "$1: no serial twice in the store" "$(jf store.json 'd["serial_repeats"]')" 0
    assert_eq "$1: no change number twice" "$(jf store.json 'd["seq_repeats"]')" 0
    assert_eq "$1: one cert.issue audit entry per certificate" "$(jf store.json 'd["issue_audit"]')" "$(jf store.json 'd["certs"]')"
    expect 0 "$1: vouch audit verify" "$VOUCH" audit verify --data "$CA"
}
# verify_received WHEN FILES...: every received certificate served identically
verify_received() {
    local when=$1
    shift
    python3 verify.py "$VD_PORT" "$TOKEN" "$@" >ver.json 2>"$ERR" || echo '{}' >ver.json
    note "$when: $(jf ver.json '"%(received)d received, %(repeats)d repeated, %(missing)d missing, %(differ)d different" % d')"
    IT_NEG=$((IT_NEG + 3))
    assert_eq "$when: no serial received twice" "$(jf ver.json 'd["repeats"]')" 0
    assert_eq "$when: every received certificate is stored" "$(jf ver.json 'd["missing"]')" 0
    assert_eq "$when: every stored certificate is the one received (SHA-256 of the DER)" "$(jf ver.json 'd["differ"]')" 0
    [ "$(jf ver.json 'd["missing"] + d["differ"]')" = 0 ] || note "$when: for example $(jf ver.json '", ".join(d["examples"])')"
}

# ---------------------------------------------------------------------------
section "setup"
"$VOUCH" ca init --data "$CA" --org "Crash Test" >/dev/null 2>"$ERR" || die "ca init failed: $(cat "$ERR")"
TOKEN=$(tr -d '\n' <"$CA/admin.token")
for c in $(seq 1 "$CLIENTS"); do
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "c$c.key" \
        -subj "/CN=crash-$c/O=Crash Test" -out "c$c.csr" 2>/dev/null || die "openssl req failed"
done
T0=$(date +%s%N)

# ---------------------------------------------------------------------------
RECV_ALL=()
KILLS=0
for r in $(seq 1 "$ROUNDS"); do
    section "round $r: issue from $CLIENTS clients, kill -9 vouchd"
    vd_start "$IT_TMP/vd.$r.log" --data "$CA" --listen 127.0.0.1:0 --public-url "$PUB" --threads 4
    check "round $r: vouchd starts on the data directory" kill -0 "$VD_PID"
    if [ "$r" -gt 1 ]; then
        verify_received "after kill $((r - 1))" "${RECV_ALL[@]}"
        store_checks "after kill $((r - 1))"
    fi
    rm -f stop
    CPIDS=()
    for c in $(seq 1 "$CLIENTS"); do
        : >"recv.$r.$c"
        python3 client.py "$VD_PORT" "$TOKEN" "c$c.csr" "recv.$r.$c" stop 2>"client.$r.$c.err" &
        CPIDS+=($!)
        RECV_ALL+=("recv.$r.$c")
    done
    # a random moment after some issuances: at least MIN answers, then 0..400 ms
    MIN=$((20 + RANDOM % 100))
    for ((i = 0; i < 300; i++)); do
        n=$(cat recv."$r".* | grep -c '^OK' || true)
        [ "$n" -ge "$MIN" ] && break
        sleep 0.05
    done
    sleep "0.$(printf '%03d' $((RANDOM % 400)))"
    kill -9 "$VD_PID" 2>/dev/null || true
    wait "$VD_PID" 2>/dev/null || true
    VD_PID=""
    KILLS=$((KILLS + 1))
    : >stop
    for p in "${CPIDS[@]}"; do
        for ((i = 0; i < 100; i++)); do kill -0 "$p" 2>/dev/null || break; sleep 0.05; done
        if kill -0 "$p" 2>/dev/null; then
            fail "round $r: client $p still running 5 s after the kill"
            kill -9 "$p" 2>/dev/null || true
        fi
        wait "$p" 2>/dev/null || true
    done
    GOT=$(cat recv."$r".* | grep -c '^OK' || true)
    note "round $r: $GOT certificates received (threshold $MIN) before the kill"
    check "round $r: clients received certificates before the kill" test "$GOT" -ge "$MIN"
done

# ---------------------------------------------------------------------------
section "after the last kill"
vd_start "$IT_TMP/vd.final.log" --data "$CA" --listen 127.0.0.1:0 --public-url "$PUB" --threads 2
check "vouchd starts after $KILLS kills" kill -0 "$VD_PID"
verify_received "all rounds" "${RECV_ALL[@]}"
store_checks "after the last kill"
RECEIVED=$(cat "${RECV_ALL[@]}" | grep -c '^OK' || true)
STORED=$(jf store.json 'd["certs"]')
note "$RECEIVED certificates received by clients, $STORED stored ($((STORED - RECEIVED)) committed but unanswered when vouchd died)"
check "the store holds at least every received certificate ($STORED >= $RECEIVED)" test "$STORED" -ge "$RECEIVED"
check "clients received at least 20 certificates per round" test "$RECEIVED" -ge $((ROUNDS * 20))
OTHER=$(cat "${RECV_ALL[@]}" | grep -v '^OK' | cut -c1-120 | sort | uniq -c | sort -rn | head -5 || true)
IT_NEG=$((IT_NEG + 1))
if [ -z "$OTHER" ]; then pass "every answer a client got was 201"; else
    if grep -qv ' HTTP 503 ' <<<"$OTHER"; then fail "answers other than 201 and 503: $OTHER"; else pass "answers other than 201 were 503 (retry)"; fi
    note "non-201 answers: $OTHER"
fi
# sync lists every certificate once, in change order
SEQS_OK=$(python3 - "$VD_PORT" "$TOKEN" <<'PY' 2>&1 | tail -1
import http.client, json, sys
conn = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=15)
after, seqs, keys = 0, [], set()
while True:
    conn.request("GET", "/v1/sync?after=%d&limit=1000" % after, headers={"Authorization": "Bearer " + sys.argv[2]})
    d = json.loads(conn.getresponse().read())
    seqs += [c["seq"] for c in d["changes"]]
    keys |= {(c["issuer"], c["serial"]) for c in d["changes"]}
    after = d["cursor"]
    if not d["more"]:
        break
print(len(seqs), len(keys), seqs == sorted(set(seqs)))
PY
)
assert_eq "sync: every stored certificate once, seq strictly increasing" "$SEQS_OK" "$STORED $STORED True"
# new issuances still work and get fresh serials
openssl req -new -key c1.key -subj "/CN=crash-after/O=Crash Test" -out after.csr 2>/dev/null
python3 -c 'import json,sys; print(json.dumps({"csr": open("after.csr").read(), "template": "device"}))' >after.json
req "issue after the crashes" 201 -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json" --data-binary @after.json "http://127.0.0.1:$VD_PORT/v1/certificates"
NEWSER=$(jget 'd["serial"]')
IT_NEG=$((IT_NEG + 1))
assert_eq "its serial is new" "$(cat "${RECV_ALL[@]}" | grep -c " $NEWSER " || true)" 0
vd_stop
assert_eq "SIGTERM after the crashes: exit 0" "$VD_RC" 0
store_checks "after a clean stop"
assert_eq "after a clean stop: one more certificate" "$(jf store.json 'd["certs"]')" "$((STORED + 1))"
assert_no_grep "no key material in the logs" 'PRIVATE' <(cat "$IT_TMP"/vd.*.log)
note "$(( ($(date +%s%N) - T0) / 1000000 )) ms for $KILLS kills"

it_done
