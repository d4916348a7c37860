#!/usr/bin/env bash
# Firmware image verification benchmark (docs/perf.md, "Firmware image
# verification"): a 16 MiB payload signed with `vouch fw sign`, then in the
# same run, best of BENCH_RUNS (default 7) rounds each, with the file in the
# page cache:
#   (a) openssl dgst -sha256 IMAGE, as a process (the reference)
#   (b) vouch_fw_verify of the same file through a reader with 64 KiB chunks
#   (c) vouch fw verify --pubkey PUB IMAGE, as a process
#   (d) SHA-256 alone over the same reads, in process
# in MB/s, and the ratio (b)/(a); the target is >= 80 %. P-256 and Ed25519.
#
#   bench/fw_bench.sh BIN_DIR          (make bench, through bench/run.sh)
#
# FW_BENCH_MIB changes the payload size (default 16).
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: $0 BIN_DIR" >&2; exit 2; }
BIN=$(cd "$1" && pwd)
RUNS=${BENCH_RUNS:-7}
MIB=${FW_BENCH_MIB:-16}
for b in vouch fw_bench; do
  [ -x "$BIN/$b" ] || { echo "bench: $BIN/$b missing (make build)" >&2; exit 1; }
done
command -v openssl >/dev/null || { echo "bench: no openssl command" >&2; exit 1; }
W=$(mktemp -d "${TMPDIR:-/tmp}/vouch-fwbench.XXXXXX")
trap 'rm -rf "$W"' EXIT
cd "$W"

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -1)
sha_ext=no
grep -qw sha_ni /proc/cpuinfo 2>/dev/null && sha_ext=yes
echo "# machine: $(nproc) CPUs, ${cpu:-unknown}; SHA extensions: $sha_ext; $(openssl version)"
echo "# payload: $MIB MiB from /dev/urandom; best of $RUNS rounds; file in the page cache"

head -c "$((MIB * 1024 * 1024))" /dev/urandom >app.bin
for alg in p256 ed25519; do
  "$BIN/vouch" fw keygen --alg "$alg" --out "$alg.key" --pubout "$alg.pub" >/dev/null
  "$BIN/vouch" fw sign --key "$alg.key" --version 1.0.0+1 --security-counter 1 \
    --in app.bin --out "$alg.img" 2>/dev/null
  cat "$alg.img" >/dev/null
  echo
  echo "## $alg"
  "$BIN/fw_bench" --image "$alg.img" --pubkey "$alg.pub" --runs "$RUNS" --vouch "$BIN/vouch"
done
