#!/usr/bin/env bash
# Installs every Debian package vouch needs to build, test, fuzz and demo.
# Idempotent and non-interactive: packages already present are left alone.
set -euo pipefail

PKGS=(
  build-essential cmake pkg-config make
  clang libclang-rt-14-dev llvm
  libssl-dev openssl
  libevent-dev libjansson-dev libcbor-dev libsqlite3-dev
  libmimalloc-dev # vouchd links mimalloc when present (server/CMakeLists.txt)
  libcmocka-dev
  python3 procps util-linux psmisc curl
  golang-cfssl iproute2 # bench/pki_bench.sh: the cfssl reference, a loopback-only namespace
)

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PKGS[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
