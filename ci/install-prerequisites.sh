#!/usr/bin/env bash
# Installs what the README lists as prerequisites when a fresh machine lacks
# them: a C/C++ compiler, make, binutils (strip, readelf), and the rustfmt
# and clippy components of the machine's Rust toolchain. Also what only the
# tests need, never the product: CMake (the toolchain.cmake test) and the
# openssl/zlib headers (so the test that the depends capnp links neither
# runs where the system would offer them).
set -euo pipefail

missing=()
for tool in cc c++ make strip readelf; do
    command -v "$tool" >/dev/null || missing+=("$tool")
done
if [ "${#missing[@]}" -gt 0 ]; then
    echo "installing build-essential for: ${missing[*]}"
    apt-get update -q && apt-get install -y -q build-essential binutils
fi
for component in rustfmt clippy; do
    rustup component list --installed 2>/dev/null | grep -q "^$component" \
        || rustup component add "$component"
done

headers=()
[ -e /usr/include/openssl/ssl.h ] || headers+=(libssl-dev)
[ -e /usr/include/zlib.h ] || headers+=(zlib1g-dev)
if [ "${#headers[@]}" -gt 0 ]; then
    echo "installing ${headers[*]} (tests: capnp must ignore them)"
    apt-get update -q && apt-get install -y -q "${headers[@]}"
fi
if ! command -v cmake >/dev/null; then
    # From the machine's configured Python package index; a test tool only.
    echo "installing cmake (tests: toolchain.cmake)"
    # A system Python that refuses (PEP 668) gets the flag that allows it:
    # the cmake wheel is self-contained.
    python3 -m pip install --quiet cmake \
        || python3 -m pip install --quiet --break-system-packages cmake
    hash -r
    command -v cmake >/dev/null || {
        echo "cmake was installed but is not on PATH: add pip's script directory" \
            "($(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')) to PATH" >&2
        exit 1
    }
fi
