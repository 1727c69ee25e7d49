//! The real `native_capnp` that `cargo xtask depends` built for this
//! machine. Ignored in a plain `cargo test` (it needs the prefix, which takes
//! a minute or two of C++ compiling); `cargo xtask test` builds the prefix
//! and then runs these with `--ignored`.

mod build_machine;

use std::path::PathBuf;
use std::process::Command;

fn prefix() -> PathBuf {
    build_machine::prefix("manifest.json", "")
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
#[ignore = "needs the depends prefix; run by `cargo xtask test`"]
fn capnp_reports_the_pinned_version() {
    let version = run(Command::new(prefix().join("native/bin/capnp")).arg("--version"));
    assert_eq!(version.trim(), "Cap'n Proto version 1.1.0");
}

#[test]
#[ignore = "needs the depends prefix; run by `cargo xtask test`"]
fn capnp_compiles_a_schema_with_only_the_prefix_imports() {
    let prefix = prefix();
    let dir = tempfile::tempdir().unwrap();
    let schema = dir.path().join("point.capnp");
    std::fs::write(
        &schema,
        "@0xd3f4c2b1a0e9f8d7;\nusing Cxx = import \"/capnp/c++.capnp\";\n$Cxx.namespace(\"demo\");\nstruct Point { x @0 :Int32; y @1 :Int32; }\n",
    )
    .unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    run(Command::new(prefix.join("native/bin/capnp"))
        .arg("compile")
        .arg("--no-standard-import")
        .arg("-I")
        .arg(prefix.join("native/include"))
        .arg(format!(
            "-o{}:{}",
            prefix.join("native/bin/capnpc-c++").display(),
            out.display()
        ))
        .arg("--src-prefix")
        .arg(dir.path())
        .arg(&schema));
    let header = std::fs::read_to_string(out.join("point.capnp.h")).unwrap();
    assert!(header.contains("struct Point"), "{header}");
    assert!(out.join("point.capnp.c++").is_file());
}

#[test]
#[ignore = "needs the depends prefix; run by `cargo xtask test`"]
fn tools_link_no_openssl_or_zlib_and_leak_no_build_path() {
    let prefix = prefix();
    for tool in ["capnp", "capnpc-c++", "capnpc-capnp"] {
        let path = prefix.join("native/bin").join(tool);
        let dynamic = run(Command::new("readelf").arg("-d").arg(&path));
        let needed: Vec<&str> = dynamic.lines().filter(|l| l.contains("(NEEDED)")).collect();
        assert!(
            !needed.is_empty(),
            "{tool}: readelf found no NEEDED entries"
        );
        for lib in ["libssl", "libcrypto", "libz."] {
            assert!(
                !needed.iter().any(|l| l.contains(lib)),
                "{tool} links {lib}: {needed:?}"
            );
        }
        assert!(!dynamic.contains("RUNPATH") && !dynamic.contains("RPATH"));
        let bytes = std::fs::read(&path).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            !text.contains("depends/work/build"),
            "{tool} embeds its build directory"
        );
    }
}
