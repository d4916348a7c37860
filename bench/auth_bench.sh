#!/usr/bin/env bash
# Device authentication benchmark (issue 4's targets, docs/perf.md):
# authentications per second end to end over HTTP keep-alive with many
# devices, and vouchd's CPU time per authentication divided by the cost of
# one P-256 verification measured in the same run.
#
#   bench/auth_bench.sh BIN_DIR          (make bench)
#
# A fresh CA and vouchd (2 worker threads, SQLite, durable), one account,
# an outside family CA made by auth_bench and verified the AWS/Azure way
# (a certificate whose CN is vouchd's code, signed by the family key, with
# the openssl command), then auth_bench with AUTH_DEVICES devices (default
# 1000) over AUTH_CONNS connections (default "16 64"), BENCH_SECONDS
# (default 10) each, BENCH_ROUNDS rounds (default 3). The P-256 reference:
# `openssl speed ecdsap256` and auth_bench --verify-cost (EVP as vouchd
# calls it), both on this machine in this run.
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: $0 BIN_DIR" >&2; exit 2; }
BIN=$(cd "$1" && pwd)
SECS=${BENCH_SECONDS:-10}
ROUNDS=${BENCH_ROUNDS:-3}
DEVICES=${AUTH_DEVICES:-1000}
CONNS=${AUTH_CONNS:-16 64}
for b in vouch vouchd auth_bench; do
  [ -x "$BIN/$b" ] || { echo "bench: $BIN/$b missing (make build)" >&2; exit 1; }
done
W=$(mktemp -d /tmp/vouch-authbench.XXXXXX)
VD=""
trap '[ -z "$VD" ] || kill "$VD" 2>/dev/null; wait 2>/dev/null; rm -rf "$W"' EXIT
cd "$W"

"$BIN/vouch" ca init --data ca --org "Auth Bench" >/dev/null
chmod 600 ca/admin.token
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
URL=http://127.0.0.1:$PORT
"$BIN/vouchd" --data ca --listen "127.0.0.1:$PORT" --public-url "$URL" --threads 2 2>vd.log &
VD=$!
for _ in $(seq 100); do grep -q listening vd.log && break; sleep 0.05; done
export VOUCH_SERVER=$URL VOUCH_TOKEN_FILE=$W/ca/admin.token
"$BIN/vouch" account create bench >/dev/null
"$BIN/auth_bench" --make-ca "$W"
FID=$("$BIN/vouch" family enroll --account bench --ca-cert family.pem --json |
  python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["id"], d["verification_code"])')
read -r ID CODE <<<"$FID"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout v.key \
  -subj "/CN=$CODE" -out v.csr 2>/dev/null
openssl x509 -req -in v.csr -CA family.pem -CAkey family.key -CAcreateserial -days 1 -out v.pem 2>/dev/null
"$BIN/vouch" family verify --account bench "$ID" --cert v.pem >/dev/null

echo "# machine: $(nproc) cores, $(openssl version)"
echo "# reference: openssl speed ecdsap256 (3 s)"
openssl speed -seconds 3 ecdsap256 2>/dev/null | grep -E '^ *256 bits ecdsa' | tee speed.txt
OSSL_VERIFY=$(awk '{print $NF}' speed.txt | tail -1)
"$BIN/auth_bench" --verify-cost --seconds 3 --json | tee vc.json
EVP_VERIFY=$(python3 -c 'import json; print(json.load(open("vc.json"))["verify_per_cpu_second"])')
for c in $CONNS; do
  for r in $(seq "$ROUNDS"); do
    "$BIN/auth_bench" --ca "$W" --url "$URL" --devices "$DEVICES" --connections "$c" \
      --duration "$SECS" --warmup 2 --server-pid "$VD" --json >"run_c${c}_r${r}.json"
    python3 - "run_c${c}_r${r}.json" "$OSSL_VERIFY" "$EVP_VERIFY" "$c" "$r" <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); ov = float(sys.argv[2]); ev = float(sys.argv[3])
us = d["server_cpu_us_per_auth"]
print(f"conns {sys.argv[4]} round {sys.argv[5]}: {d['auth_per_s']:.0f} auth/s, p50 {d['p50_ms']:.2f} ms, "
      f"p99 {d['p99_ms']:.2f} ms, refused {d['refused']}, errors {d['errors']}; vouchd CPU {us:.1f} us/auth "
      f"= {us * ov / 1e6:.2f} openssl-speed verifies = {us * ev / 1e6:.2f} EVP verifies")
PY
  done
done
kill "$VD"
wait "$VD" 2>/dev/null || true
VD=""
