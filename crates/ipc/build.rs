//! Generates the Cap'n Proto bindings for `schema/*.capnp` with the `capnp`
//! that the depends toolchain names in `CAPNP`, never one found on `PATH`:
//! the multiprocess build must be hermetic.

use std::path::{Path, PathBuf};

const SCHEMAS: &[&str] = &[
    "common.capnp",
    "chain.capnp",
    "wallet.capnp",
    "echo.capnp",
    "node.capnp",
    "init.capnp",
];

fn main() {
    println!("cargo:rerun-if-env-changed=CAPNP");
    let capnp = match depends_capnp() {
        Ok(path) => path,
        Err(problem) => {
            let host = std::env::var("TARGET").unwrap_or_else(|_| "<triple>".into());
            eprintln!(
                "error: kestrel-ipc needs the Cap'n Proto compiler built by depends: {problem}.\n\
                 Run `cargo xtask depends --host {host} --multiprocess`, then build with \
                 `--config depends/{host}/cargo-config.toml` (or use `cargo xtask build`)."
            );
            std::process::exit(1);
        }
    };
    // The standard imports (capnp/c++.capnp ...) come from the depends
    // prefix only: capnp would otherwise search /usr/include.
    let include = capnp
        .parent()
        .and_then(Path::parent)
        .map(|prefix| prefix.join("include"))
        .expect("CAPNP was checked to be <prefix>/bin/capnp");

    let schema_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schema");
    let mut command = capnpc::CompilerCommand::new();
    command
        .capnp_executable(&capnp)
        .no_standard_import()
        .import_path(&include)
        .src_prefix(&schema_dir)
        .default_parent_module(vec!["schema".into()]);
    for schema in SCHEMAS {
        let path = schema_dir.join(schema);
        println!("cargo:rerun-if-changed={}", path.display());
        command.file(path);
    }
    if let Err(e) = command.run() {
        eprintln!(
            "error: {} failed to compile schema/*.capnp: {e}",
            capnp.display()
        );
        std::process::exit(1);
    }
}

/// `CAPNP` as an absolute path to an executable file, or what is wrong with it.
fn depends_capnp() -> Result<PathBuf, String> {
    let value = std::env::var_os("CAPNP").ok_or("CAPNP is not set")?;
    let path = PathBuf::from(&value);
    if !path.is_absolute() {
        return Err(format!("CAPNP={} is not an absolute path", path.display()));
    }
    let executable = std::fs::metadata(&path)
        .map(|m| {
            use std::os::unix::fs::PermissionsExt;
            m.is_file() && m.permissions().mode() & 0o111 != 0
        })
        .unwrap_or(false);
    if !executable {
        return Err(format!(
            "CAPNP={} is not an executable file",
            path.display()
        ));
    }
    Ok(path)
}
