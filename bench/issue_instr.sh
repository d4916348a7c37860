#!/usr/bin/env bash
# bench/issue_instr.sh BIN_DIR [N]: instructions vouchd executes per issued
# certificate, counted by valgrind's callgrind, per thread kind.
#
# Rates on this VM move by a third between runs of the same binary, so a
# change worth a few percent cannot be seen in them. Instruction counts do
# not move: this script starts vouchd under callgrind on a fresh data
# directory, issues 300 certificates to warm it up (issuer and template
# caches, SQLite's statement cache), zeroes the counters, issues N more
# (default 1000) with http_load (8 keep-alive connections, distinct CSRs
# from gen_csrs), dumps the counters and divides by the certificates
# issued. It does not count the kernel (system calls, fdatasync) and
# callgrind runs one thread at a time, so commit groups differ from a real
# run; compare builds with it, and rates with bench/pki_bench.sh.
#
# Needs valgrind. About 40 s for N = 1000. Output: one line per thread
# kind (workers, committer) and the total, in thousands of instructions.
set -euo pipefail

BIN=${1:?usage: bench/issue_instr.sh BIN_DIR [N]}
N=${2:-1000}
BIN=$(cd "$BIN" && pwd)
for b in vouch vouchd http_load gen_csrs; do
  [ -x "$BIN/$b" ] || { echo "issue_instr: $BIN/$b is missing (build the bench targets)" >&2; exit 2; }
done
command -v valgrind >/dev/null && command -v callgrind_control >/dev/null ||
  { echo "issue_instr: needs valgrind (apt-get install valgrind)" >&2; exit 2; }

TMP=$(mktemp -d "${TMPDIR:-/tmp}/vouch-issue-instr.XXXXXX")
VP=
cleanup() {
  [ -n "$VP" ] && kill "$VP" 2>/dev/null && wait "$VP" 2>/dev/null
  rm -rf "$TMP"
}
trap cleanup EXIT

mkdir "$TMP/csr"
"$BIN/gen_csrs" --count $((N + 300)) --out "$TMP/csr" >/dev/null
head -300 "$TMP/csr/vouchd.bodies" >"$TMP/warm"
tail -n +301 "$TMP/csr/vouchd.bodies" >"$TMP/measure"
"$BIN/vouch" ca init --data "$TMP/ca" --org Bench >/dev/null
TOKEN=$(cat "$TMP/ca/admin.token")

(cd "$TMP" && exec valgrind --tool=callgrind --callgrind-out-file="$TMP/cg.out" \
  --separate-threads=yes --dump-instr=no "$BIN/vouchd" --data "$TMP/ca" \
  --listen 127.0.0.1:0 --public-url http://127.0.0.1:8080 2>"$TMP/vouchd.log") &
VP=$!
PORT=
for _ in $(seq 300); do
  PORT=$(sed -n 's#^vouchd: listening on http://127\.0\.0\.1:\([0-9][0-9]*\).*#\1#p' "$TMP/vouchd.log")
  [ -n "$PORT" ] && break
  kill -0 "$VP" 2>/dev/null || { echo "issue_instr: vouchd exited: $(head -c 300 "$TMP/vouchd.log")" >&2; exit 1; }
  sleep 0.1
done
[ -n "$PORT" ] || { echo "issue_instr: vouchd did not start" >&2; exit 1; }

load() {
  "$BIN/http_load" --connections 8 --duration 600 --max-requests "$1" --json \
    --url "http://127.0.0.1:$PORT/v1/certificates" --method POST \
    --header "Authorization: Bearer $TOKEN" --header 'Content-Type: application/json' \
    --bodies-file "$2" --expect-status 201
}
load 300 "$TMP/warm" >"$TMP/warm.json"
callgrind_control -z "$VP" >/dev/null 2>&1
load "$N" "$TMP/measure" >"$TMP/measure.json"
callgrind_control -d "$VP" >/dev/null 2>&1
grep -m1 -o 'malloc: [^)]*' "$TMP/vouchd.log" || true

python3 - "$TMP" <<'EOF'
import glob, json, re, sys
d = sys.argv[1]
ok = json.load(open(d + "/measure.json"))["ok"]
if ok == 0:
    sys.exit("issue_instr: no certificate was issued")
sums, threads, total = {"workers": 0, "committer": 0}, {"workers": 0, "committer": 0}, 0
for f in sorted(glob.glob(d + "/cg.out*")):
    text = open(f).read()
    if "Trigger: Client Request: dump" not in text and "desc: Trigger: dump" not in text:
        continue
    m = re.search(r"^(?:summary|totals): (\d+)", text, re.M)
    if not m or int(m.group(1)) < 1000 * ok:
        continue  # main thread and idle helpers
    v = int(m.group(1))
    kind = "committer" if "committer_main" in text else "workers"
    sums[kind] += v
    threads[kind] += 1
    total += v
for kind in ("workers", "committer"):
    print(f"{kind:10s} {sums[kind] / ok / 1000:8.1f}k instructions per certificate"
          f" ({threads[kind]} thread{'s' if threads[kind] != 1 else ''})")
print(f"{'total':10s} {total / ok / 1000:8.1f}k instructions per certificate ({ok} certificates)")
EOF
