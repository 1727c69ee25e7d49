//! The cmake style's configure + build + install, run through the `cmake`
//! crate in a child process of its own.
//!
//! Why a child: the `cmake` crate is made for build scripts. It runs cmake
//! with this process's stdout and stderr (a package's build output must go
//! to its log, and packages build at once) and panics when a step fails. A
//! child whose output goes to the log and whose exit status is the result
//! gives both. The child is a program that calls [`main`] with the file
//! [`CmakeStep::write`] wrote: `cargo xtask depends cmake-step <file>`, or
//! the `kestrel-depends-cmake` binary of this crate (which the tests use).
//!
//! The cmake executable is the one `CMAKE` names in the child's
//! environment (the `cmake` crate honours it); the builder points it at the
//! depends `native_cmake`.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Everything one cmake package build passes to the child.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CmakeStep {
    /// The unpacked source tree; the build tree is `<source>/build`.
    pub source: PathBuf,
    /// The Rust target triple to build for, and the build machine's.
    pub target: String,
    pub build_triple: String,
    /// `CMAKE_TOOLCHAIN_FILE`: the host's `toolchain.cmake`, rendered for
    /// the package's private dependency prefix.
    pub toolchain_file: PathBuf,
    /// `CMAKE_INSTALL_PREFIX`: the fixed prefix, never the checkout's.
    pub install_prefix: PathBuf,
    pub defines: BTreeMap<String, String>,
    pub cflags: Vec<String>,
    pub cxxflags: Vec<String>,
    /// Build targets, in order; empty means the default target.
    pub targets: Vec<String>,
    /// Also build the install target (into `DESTDIR`, set by the caller).
    pub install: bool,
}

impl CmakeStep {
    /// The build tree cmake configures: `<source>/build`, so install rules
    /// name its outputs as `build/...`.
    pub fn build_dir(source: &Path) -> PathBuf {
        source.join("build")
    }

    /// Writes the step where [`main`] reads it.
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        std::fs::write(path, serde_json::to_vec_pretty(self).expect("plain data"))
    }

    /// Configures once, then builds each target (the `cmake` crate skips a
    /// configure that is already done). Panics, as the `cmake` crate does,
    /// when cmake fails: run it in the child [`main`] is for.
    pub fn run(&self) {
        let mut config = cmake::Config::new(&self.source);
        config
            .out_dir(&self.source)
            .target(&self.target)
            .host(&self.build_triple)
            .profile("Release")
            .define("CMAKE_TOOLCHAIN_FILE", &self.toolchain_file)
            .define("CMAKE_INSTALL_PREFIX", &self.install_prefix)
            .define("CMAKE_BUILD_TYPE", "Release");
        for (key, value) in &self.defines {
            config.define(key, value);
        }
        for flag in &self.cflags {
            config.cflag(flag);
        }
        for flag in &self.cxxflags {
            config.cxxflag(flag);
        }
        let mut targets: Vec<Option<&str>> =
            self.targets.iter().map(|t| Some(t.as_str())).collect();
        if self.install {
            targets.push(Some("install"));
        } else if targets.is_empty() {
            targets.push(None);
        }
        for target in targets {
            match target {
                Some(target) => config.build_target(target).no_build_target(false),
                None => config.no_build_target(true),
            };
            config.build();
        }
    }
}

/// The child's entry point: `args` are what follows the program name (one
/// path, of the file [`CmakeStep::write`] wrote). Returns the exit code.
pub fn main(args: impl IntoIterator<Item = OsString>) -> i32 {
    let args: Vec<OsString> = args.into_iter().collect();
    let [path] = args.as_slice() else {
        eprintln!("usage: <cmake step file>  (written by the depends builder)");
        return 2;
    };
    let step: CmakeStep = match std::fs::read(path)
        .map_err(|e| e.to_string())
        .and_then(|bytes| serde_json::from_slice(&bytes).map_err(|e| e.to_string()))
    {
        Ok(step) => step,
        Err(e) => {
            eprintln!("cannot read cmake step {}: {e}", Path::new(path).display());
            return 2;
        }
    };
    // The cmake crate reports a failed step by panicking; its message is
    // already in the log, the exit status tells the builder.
    match std::panic::catch_unwind(|| step.run()) {
        Ok(()) => 0,
        Err(_) => 1,
    }
}
