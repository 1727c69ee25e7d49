//! The toolchain files `depends` writes, read by CMake itself: a native
//! project configured with `depends/<build triple>/toolchain.cmake` finds
//! the detected compilers and the depends `capnp`; the aarch64 files (the
//! cross compiler is not installed here, so they are only rendered and
//! parsed) name the cross compilers, system and linker.
//!
//! Ignored in a plain `cargo test`: they run the depends cmake (never the
//! system's), which `cargo xtask depends --cxx-ipc` builds, and the first one
//! needs that prefix's capnp; `cargo xtask test` builds both first.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use kestrel_depends::host::{Compilers, Output};
use kestrel_depends::progress::Progress;
use kestrel_depends::toolchain_files::{capnp_path, cmake_path, CARGO_FILE, CMAKE_FILE};
use kestrel_depends::{Config, Depends};

fn build_triple() -> String {
    format!("{}-unknown-linux-gnu", std::env::consts::ARCH)
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Runs the depends cmake with `args` in `dir`; returns stdout + stderr
/// (message() without STATUS goes to stderr).
fn cmake(dir: &Path, args: &[&std::ffi::OsStr]) -> String {
    let triple = build_triple();
    let program = cmake_path(&workspace().join("depends").join(&triple));
    let out = Command::new(&program)
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {} ({e}): build it with `cargo xtask depends --host {triple} --cxx-ipc`",
                program.display()
            )
        });
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "cmake {args:?} failed:\n{text}");
    text
}

/// `NAME:TYPE=VALUE` entries of a CMakeCache.txt.
fn cmake_cache(path: &Path) -> BTreeMap<String, String> {
    fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with("//"))
        .filter_map(|l| {
            let (key, value) = l.split_once('=')?;
            let name = key.split_once(':').map_or(key, |(n, _)| n);
            Some((name.to_owned(), value.to_owned()))
        })
        .collect()
}

/// A compiler as CMake records it: the file a bare name resolves to on PATH,
/// symlinks followed.
fn resolved(program: &Path) -> PathBuf {
    let found = if program.components().count() > 1 {
        program.to_owned()
    } else {
        which::which(program).unwrap_or_else(|e| panic!("{}: {e}", program.display()))
    };
    fs::canonicalize(&found).unwrap_or_else(|e| panic!("{}: {e}", found.display()))
}

fn canonical(value: &str) -> PathBuf {
    fs::canonicalize(value).unwrap_or_else(|e| panic!("{value}: {e}"))
}

#[test]
#[ignore = "needs the depends prefix with CXX_IPC; run by cargo xtask test"]
fn native_project_finds_detected_compilers_and_depends_capnp() {
    let triple = build_triple();
    let prefix = workspace().join("depends").join(&triple);
    let toolchain = prefix.join(CMAKE_FILE);
    assert!(
        toolchain.is_file(),
        "no {}: run `cargo xtask depends --host {triple}` first",
        toolchain.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("src");
    fs::create_dir(&source).unwrap();
    fs::write(
        source.join("CMakeLists.txt"),
        "cmake_minimum_required(VERSION 3.21)\n\
         project(probe C CXX)\n\
         execute_process(COMMAND \"${CAPNP_EXECUTABLE}\" --version\n\
           OUTPUT_VARIABLE version RESULT_VARIABLE result OUTPUT_STRIP_TRAILING_WHITESPACE)\n\
         message(STATUS \"probe: capnp exit ${result}: ${version}\")\n\
         message(STATUS \"probe: CMAKE_C_COMPILER=${CMAKE_C_COMPILER}\")\n\
         message(STATUS \"probe: CMAKE_CXX_COMPILER=${CMAKE_CXX_COMPILER}\")\n",
    )
    .unwrap();
    let output = cmake(
        dir.path(),
        &[
            "-S".as_ref(),
            source.as_os_str(),
            "-B".as_ref(),
            "build".as_ref(),
            "--toolchain".as_ref(),
            toolchain.as_os_str(),
        ],
    );
    // The compilers come from the toolchain file as plain variables, so
    // CMake resolves them but does not cache them: the project prints them.
    let probed: BTreeMap<&str, &str> = output
        .lines()
        .filter_map(|l| l.strip_prefix("-- probe: ")?.split_once('='))
        .collect();
    let detected = Compilers::detect(&triple, &triple, Output::Libraries).unwrap();
    assert_eq!(
        canonical(probed["CMAKE_C_COMPILER"]),
        resolved(&detected.cc.path)
    );
    assert_eq!(
        canonical(probed["CMAKE_CXX_COMPILER"]),
        resolved(&detected.cxx.path)
    );
    let cache = cmake_cache(&dir.path().join("build/CMakeCache.txt"));
    assert_eq!(
        canonical(&cache["CAPNP_EXECUTABLE"]),
        canonical(capnp_path(&prefix).to_str().unwrap())
    );
    assert_eq!(
        canonical(&cache["CAPNPC_CXX_EXECUTABLE"]),
        canonical(prefix.join("native/bin/capnpc-c++").to_str().unwrap())
    );
    assert_eq!(cache["ENABLE_IPC"], "ON");
    assert!(
        output.contains("probe: capnp exit 0: Cap'n Proto version 1.1.0"),
        "{output}"
    );
}

/// `toolchain.cmake` loaded by `cmake -P`: the values it sets, printed as
/// `NAME=VALUE` lines.
fn cmake_values(toolchain: &Path, names: &[&str]) -> BTreeMap<String, String> {
    let dir = toolchain.parent().unwrap();
    let script = dir.join("print.cmake");
    let mut text = format!("include(\"{}\")\n", toolchain.display());
    for name in names {
        text.push_str(&format!("message(\"{name}=${{{name}}}\")\n"));
    }
    fs::write(&script, text).unwrap();
    cmake(dir, &["-P".as_ref(), script.as_os_str()])
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

#[test]
#[ignore = "needs the depends cmake (CXX_IPC); run by cargo xtask test"]
fn aarch64_files_name_cross_compilers_system_and_linker() {
    let host = "aarch64-unknown-linux-gnu";
    // A temp workspace with this one's recipes and host files; rendering
    // builds nothing.
    let root = tempfile::tempdir().unwrap();
    for dir in ["toolchains", "depends/packages"] {
        fs::create_dir_all(root.path().join(dir)).unwrap();
        for entry in fs::read_dir(workspace().join(dir)).unwrap() {
            let entry = entry.unwrap();
            fs::copy(entry.path(), root.path().join(dir).join(entry.file_name())).unwrap();
        }
    }
    let depends = Depends::load(
        Config::new(root.path(), host, &build_triple()),
        Progress::quiet(),
    )
    .unwrap();
    let prefix = depends.config.prefix();
    fs::create_dir_all(&prefix).unwrap();
    for (name, contents) in depends.toolchain_files().unwrap() {
        fs::write(prefix.join(name), contents).unwrap();
    }

    let values = cmake_values(
        &prefix.join(CMAKE_FILE),
        &[
            "CMAKE_SYSTEM_NAME",
            "CMAKE_SYSTEM_PROCESSOR",
            "CMAKE_C_COMPILER",
            "CMAKE_CXX_COMPILER",
            "CAPNP_EXECUTABLE",
            "ENABLE_IPC",
        ],
    );
    let file_name = |key: &str| {
        Path::new(&values[key])
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned()
    };
    assert_eq!(values["CMAKE_SYSTEM_NAME"], "Linux");
    assert_eq!(values["CMAKE_SYSTEM_PROCESSOR"], "aarch64");
    assert_eq!(file_name("CMAKE_C_COMPILER"), "aarch64-linux-gnu-gcc");
    assert_eq!(file_name("CMAKE_CXX_COMPILER"), "aarch64-linux-gnu-g++");
    assert_eq!(
        PathBuf::from(&values["CAPNP_EXECUTABLE"]),
        std::path::absolute(capnp_path(&prefix)).unwrap()
    );
    assert_eq!(values["ENABLE_IPC"], "ON");

    let cargo: toml::Value =
        toml::from_str(&fs::read_to_string(prefix.join(CARGO_FILE)).unwrap()).unwrap();
    assert_eq!(cargo["build"]["target"].as_str(), Some(host));
    let linker = cargo["target"][host]["linker"].as_str().unwrap();
    assert!(linker.ends_with("aarch64-linux-gnu-gcc"), "{linker}");
    assert_eq!(
        cargo["env"]["CAPNP"]["value"].as_str().map(PathBuf::from),
        Some(std::path::absolute(capnp_path(&prefix)).unwrap())
    );
}
