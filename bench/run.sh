#!/usr/bin/env bash
# SE benchmark: a new software chip behind a vouch-se daemon, se_bench
# through its socket and in-process, and OpenSSL's own speed for the same
# primitives on this machine, summed up in one table.
#
#   bench/run.sh BIN_DIR          (make bench)
#
# BENCH_SECONDS (default 2) is the time per operation and path; the whole run
# takes about 24 x BENCH_SECONDS for se_bench plus 5 x BENCH_SECONDS for
# openssl speed. BENCH_PIN=same puts the daemon and se_bench on CPU 0,
# BENCH_PIN=split the daemon on CPU 1 and se_bench on CPU 0 (taskset);
# unset, the scheduler decides, as it would in use. Needs python3 for the
# summary (scripts/install-deps.sh).
set -euo pipefail

if [ $# -ne 1 ]; then
  echo "usage: $0 BIN_DIR" >&2
  exit 2
fi
BIN=$(cd "$1" && pwd)
SECS=${BENCH_SECONDS:-2}
if ! [[ $SECS =~ ^[1-9][0-9]*$ ]]; then
  echo "bench: BENCH_SECONDS must be a whole number of seconds" >&2
  exit 2
fi
for b in vouch-se se_bench; do
  if [ ! -x "$BIN/$b" ]; then
    echo "bench: $BIN/$b missing (make build)" >&2
    exit 1
  fi
done

PIN_D=() PIN_B=()
case "${BENCH_PIN:-}" in
  "") ;;
  same) PIN_D=(taskset -c 0) PIN_B=(taskset -c 0) ;;
  split) PIN_D=(taskset -c 1) PIN_B=(taskset -c 0) ;;
  *) echo "bench: BENCH_PIN is same or split" >&2; exit 2 ;;
esac

TMP=$(mktemp -d "${TMPDIR:-/tmp}/vouch-bench.XXXXXX")
DPID=
cleanup() {
  if [ -n "$DPID" ] && kill -0 "$DPID" 2>/dev/null; then
    kill -TERM "$DPID" 2>/dev/null || true
    wait "$DPID" 2>/dev/null || true
  fi
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# a new chip; the seal key stands in for the chip's PUF
umask 077
head -c 32 /dev/urandom >"$TMP/seal.key"
SOCK=$TMP/se.sock
"${PIN_D[@]}" "$BIN/vouch-se" --state "$TMP/chip" --seal-key "$TMP/seal.key" --socket "$SOCK" \
  --timing none 2>"$TMP/daemon.log" &
DPID=$!
for _ in $(seq 100); do
  [ -S "$SOCK" ] && break
  if ! kill -0 "$DPID" 2>/dev/null; then
    echo "bench: vouch-se exited:" >&2
    cat "$TMP/daemon.log" >&2
    exit 1
  fi
  sleep 0.1
done
if [ ! -S "$SOCK" ]; then
  echo "bench: vouch-se did not listen on $SOCK within 10 s" >&2
  exit 1
fi

echo "bench: se_bench, ${SECS}s per operation and path${BENCH_PIN:+, pinned: $BENCH_PIN}..." >&2
timeout $((SECS * 30 + 60)) "${PIN_B[@]}" "$BIN/se_bench" --socket "$SOCK" --seconds "$SECS" --json \
  >"$TMP/se_bench.json"

echo "bench: openssl speed -seconds $SECS ecdsap256 ed25519 ecdhp256..." >&2
timeout $((SECS * 10 + 60)) openssl speed -seconds "$SECS" ecdsap256 ed25519 ecdhp256 \
  >"$TMP/openssl.txt" 2>/dev/null

BENCH_PIN=${BENCH_PIN:-} python3 - "$TMP/se_bench.json" "$TMP/openssl.txt" <<'EOF'
import json, os, re, sys

b = json.load(open(sys.argv[1]))
txt = open(sys.argv[2]).read()

def grab(pattern, n):
    m = re.search(pattern, txt)
    return [float(x) for x in m.groups()[:n]] if m else [None] * n

ossl_p256_sign, ossl_p256_verify = grab(r"ecdsa \(nistp256\)\s+\S+s\s+\S+s\s+([\d.]+)\s+([\d.]+)", 2)
ossl_ed_sign, ossl_ed_verify = grab(r"EdDSA \(Ed25519\)\s+\S+s\s+\S+s\s+([\d.]+)\s+([\d.]+)", 2)
(ossl_ecdh,) = grab(r"ecdh \(nistp256\)\s+\S+s\s+([\d.]+)", 1)
ref = {"sign_p256": ossl_p256_sign, "sign_ed25519": ossl_ed_sign,
       "verify_p256": ossl_p256_verify, "ecdh_p256": ossl_ecdh}

cpu = "unknown"
try:
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
except OSError:
    pass
pin = os.environ.get("BENCH_PIN") or "none (scheduler's choice)"
print(f"machine: {os.cpu_count()} CPUs, {cpu}; {b['seconds']:g} s per operation and path; "
      f"pinning: {pin}")
print()
hdr = ("operation", "socket op/s", "in-proc op/s", "socket us", "in-proc us",
       "overhead us", "port us", "openssl us")
print("| " + " | ".join(hdr) + " |")
print("|" + "|".join(["---"] + ["---:"] * (len(hdr) - 1)) + "|")
ops = {o["op"]: o for o in b["ops"]}
def f(v):
    return f"{v:.1f}" if v is not None else "-"
for o in b["ops"]:
    r = ref.get(o["op"])
    print(f"| {o['label']} | {o['socket_ops_per_s']:.0f} | {o['inproc_ops_per_s']:.0f} "
          f"| {o['socket_us']:.1f} | {o['inproc_us']:.1f} | {o['overhead_us']:.1f} "
          f"| {f(o.get('port_us'))} | {f(1e6 / r if r else None)} |")
print()
s = ops["sign_p256"]
e = ops["echo32"]
print(f"echo round trip: socket {b['echo_rtt_us']['socket']:.1f} us, "
      f"in-process {b['echo_rtt_us']['inproc']:.1f} us")
if ossl_p256_sign:
    print(f"P-256 sign: socket {s['socket_ops_per_s']:.0f}/s, in-process "
          f"{s['inproc_ops_per_s']:.0f}/s, openssl {ossl_p256_sign:.0f}/s "
          f"(socket {s['socket_ops_per_s'] / ossl_p256_sign:.2f}x, in-process "
          f"{s['inproc_ops_per_s'] / ossl_p256_sign:.2f}x of openssl)")
# The target: what the socket adds to a signature, against what the
# signature itself costs.
frac = s["overhead_us"] / s["inproc_us"]
frac_echo = e["overhead_us"] / s["inproc_us"]
line = (f"socket overhead: {s['overhead_us']:.1f} us per P-256 signature = "
        f"{frac:.2f} of one in-process P-256 signature ({s['inproc_us']:.1f} us)")
if ossl_p256_sign:
    line += f", {s['overhead_us'] * ossl_p256_sign / 1e6:.2f} of one openssl signature"
print(line)
print(f"  (echo: {e['overhead_us']:.1f} us = {frac_echo:.2f} of a signature)")
print(f"target: socket overhead below 0.5 of a P-256 signature: "
      f"{'MET' if frac < 0.5 else 'NOT MET'}")
EOF

# Firmware image verification against `openssl dgst -sha256` of the same
# file (docs/perf.md, "Firmware image verification").
echo >&2
echo "bench: firmware image verification (bench/fw_bench.sh)..." >&2
"$(dirname "$0")/fw_bench.sh" "$BIN"
