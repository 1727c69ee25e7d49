//! Builds the C++ peer (`cxx/`) through the `cmake` crate against the
//! depends prefix's C++ IPC set: the cmake executable is the depends one
//! (`CMAKE`, which the `cmake` crate honours), the toolchain file the
//! host's (`CMAKE_TOOLCHAIN_FILE_<triple>`), both set by the prefix's
//! `cargo-config.toml`. A prefix without the set builds no peer: the crate
//! then says why from [`executable`](src/lib.rs), so what needs the peer
//! fails loudly instead of passing without it.

use std::path::{Path, PathBuf};

fn main() {
    let target = std::env::var("TARGET").expect("cargo sets TARGET");
    let toolchain_var = format!("CMAKE_TOOLCHAIN_FILE_{}", target.replace('-', "_"));
    for var in ["KESTREL_DEPENDS_PREFIX", "CMAKE", toolchain_var.as_str()] {
        println!("cargo:rerun-if-env-changed={var}");
    }
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let schema_dir = manifest_dir.join("../../schema");
    println!("cargo:rerun-if-changed=cxx");
    println!("cargo:rerun-if-changed={}", schema_dir.display());

    match cxx_ipc_prefix(&toolchain_var) {
        Ok(prefix) => {
            println!(
                "cargo:rerun-if-changed={}",
                prefix.join("manifest.json").display()
            );
            let out = cmake::Config::new(manifest_dir.join("cxx"))
                // The bench row is the floor the Rust rows are compared
                // with: always optimized, whatever cargo's profile.
                .profile("Release")
                .define(
                    "KESTREL_SCHEMA_DIR",
                    schema_dir.canonicalize().expect("schema/"),
                )
                .build();
            let executable = out.join("bin").join("kestrel-cxx-peer");
            println!("cargo:rustc-env=KESTREL_CXX_PEER={}", executable.display());
        }
        Err(missing) => {
            println!("cargo:warning=the C++ Cap'n Proto peer is not built: {missing}");
            println!("cargo:rustc-env=KESTREL_CXX_PEER_MISSING={missing}");
        }
    }
}

/// The depends prefix when it has the C++ IPC set (Cap'n Proto's CMake
/// package and the depends cmake), or what is missing and how to get it.
fn cxx_ipc_prefix(toolchain_var: &str) -> Result<PathBuf, String> {
    let how = "run `cargo xtask depends --cxx-ipc` and build with \
               `--config depends/<triple>/cargo-config.toml` (cargo xtask test and bench do both)";
    let prefix = std::env::var_os("KESTREL_DEPENDS_PREFIX")
        .map(PathBuf::from)
        .ok_or_else(|| format!("KESTREL_DEPENDS_PREFIX is not set: {how}"))?;
    let package = prefix.join("lib/cmake/CapnProto/CapnProtoConfig.cmake");
    if !package.is_file() {
        return Err(format!(
            "the depends prefix {} has no C++ IPC set ({} is missing): {how}",
            prefix.display(),
            package.display()
        ));
    }
    for var in ["CMAKE", toolchain_var] {
        let value = std::env::var_os(var).map(PathBuf::from);
        if !value
            .as_deref()
            .is_some_and(|path| path.starts_with(&prefix))
        {
            return Err(format!(
                "{var} is {value:?}, not a file of the depends prefix {}: {how}",
                prefix.display()
            ));
        }
    }
    Ok(prefix)
}
