#!/usr/bin/env bash
# Installs what a fresh machine lacks for `cargo xtask test`, which runs this
# script as its first step. Idempotent: each tool is checked before anything
# is installed, so a prepared machine installs nothing. Without root (and
# with something missing) it stops and says what to install.
# Product prerequisites (README): a C/C++ compiler, make, binutils (strip,
# readelf), and the rustfmt and clippy components of the Rust toolchain.
# Test-only tools, never product dependencies: tmux (the gui's end-to-end
# test drives it), pkg-config (the prefix's .pc files are read with
# PKG_CONFIG_LIBDIR) and the openssl/zlib headers (so the tests that the
# depends capnp links neither, and that the system's zlib.pc stays
# invisible, run where the system would offer them). No cmake: depends
# builds its own (native_cmake) and the tests use that one. The remote
# cache tests run real stores: nginx with its WebDAV modules, s3s-fs (a
# local S3 server for testing, from the Rust package registry, pinned), and
# `unshare` + `ip` for a network namespace with only loopback. The sccache
# tests (and `--sccache`) run the pinned sccache in target/tools.
set -euo pipefail

apt_packages=()
for tool in cc c++ make; do
    command -v "$tool" >/dev/null || { apt_packages+=(build-essential); break; }
done
for tool in strip readelf; do
    command -v "$tool" >/dev/null || { apt_packages+=(binutils); break; }
done
command -v tmux >/dev/null || apt_packages+=(tmux)
command -v pkg-config >/dev/null || apt_packages+=(pkgconf)
[ -e /usr/include/openssl/ssl.h ] || apt_packages+=(libssl-dev)
[ -e /usr/include/zlib.h ] || apt_packages+=(zlib1g-dev)
command -v nginx >/dev/null || apt_packages+=(nginx)
[ -e /usr/lib/nginx/modules/ngx_http_dav_ext_module.so ] || apt_packages+=(libnginx-mod-http-dav-ext)
command -v unshare >/dev/null || apt_packages+=(util-linux)
command -v ip >/dev/null || apt_packages+=(iproute2)
# The real cross build (depends --host aarch64-unknown-linux-gnu) and its
# test, which runs an aarch64 program under qemu with the cross sysroot.
command -v aarch64-linux-gnu-gcc >/dev/null || apt_packages+=(gcc-aarch64-linux-gnu)
command -v aarch64-linux-gnu-g++ >/dev/null || apt_packages+=(g++-aarch64-linux-gnu)
command -v qemu-aarch64 >/dev/null || apt_packages+=(qemu-user)
if [ "${#apt_packages[@]}" -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "error: the tests need these Debian packages, and installing them needs root:" >&2
        echo "  sudo apt-get install ${apt_packages[*]}" >&2
        echo "then run cargo xtask test again." >&2
        exit 1
    fi
    echo "installing ${apt_packages[*]}"
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${apt_packages[@]}"
fi

for component in rustfmt clippy; do
    # `cargo fmt` / `cargo clippy` answer --version only when installed.
    cargo "${component/rustfmt/fmt}" --version >/dev/null 2>&1 && continue
    if ! command -v rustup >/dev/null; then
        echo "error: the Rust component $component is missing and there is no rustup" \
            "to add it: install $component for this toolchain." >&2
        exit 1
    fi
    echo "installing the Rust component $component"
    rustup component add "$component"
done

# The S3 test server. Pinned and --locked so every machine tests against the
# same server; built once (a few CPU-minutes), then found on PATH.
S3S_FS_VERSION=0.14.1
if ! s3s-fs --version 2>/dev/null | grep -qF "$S3S_FS_VERSION"; then
    echo "installing s3s-fs $S3S_FS_VERSION (the remote cache tests' S3 server)"
    cargo install --locked s3s-fs --version "$S3S_FS_VERSION" --features binary
fi

# sccache, pinned in crates/depends/src/sccache.rs: xtask installs it into
# target/tools (a few CPU-minutes, once per checkout) or finds it there.
# `cargo xtask test` sets KESTREL_SCCACHE_BY_XTASK and installs it itself.
if [ -z "${KESTREL_SCCACHE_BY_XTASK:-}" ]; then
    (cd "$(dirname "$0")/.." && cargo xtask cache install-sccache >/dev/null)
fi
