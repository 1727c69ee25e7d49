#!/usr/bin/env bash
# Installs what the README lists as prerequisites when a fresh machine lacks
# them: a C/C++ compiler, make, binutils (strip, readelf), and the rustfmt
# and clippy components of the machine's Rust toolchain.
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
