//! Host settings (`toolchains/<triple>.toml`) and compiler detection.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::{Deserialize, Serialize};

/// What `toolchains/<triple>.toml` says about a host triple.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostSpec {
    /// The Rust target triple, e.g. `aarch64-unknown-linux-gnu`.
    pub triple: String,
    /// The GNU triple autotools and cross tool names use, e.g.
    /// `aarch64-linux-gnu`.
    pub gnu_triple: String,
    pub cmake_system_name: String,
    pub cmake_system_processor: String,
}

/// A host's settings plus the file bytes they came from (hashed into every
/// build id for that host).
#[derive(Debug, Clone)]
pub struct Host {
    pub spec: HostSpec,
    pub path: PathBuf,
    pub text: String,
}

#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error(
        "unsupported host {triple:?}: no {path} (supported: {supported}); add a toolchain file for it"
    )]
    Unsupported {
        triple: String,
        path: PathBuf,
        supported: String,
    },
    #[error("malformed toolchain file {path}: {message}")]
    Malformed { path: PathBuf, message: String },
    #[error("{path} describes {found:?}, not {expected:?}")]
    TripleMismatch {
        path: PathBuf,
        found: String,
        expected: String,
    },
    #[error("no C/C++ compiler for {triple}: {message} (set CC/CXX or CC_<triple>/CXX_<triple>)")]
    Compiler { triple: String, message: String },
}

impl Host {
    pub fn load(toolchains_dir: &Path, triple: &str) -> Result<Host, HostError> {
        let path = toolchains_dir.join(format!("{triple}.toml"));
        let text = std::fs::read_to_string(&path).map_err(|_| HostError::Unsupported {
            triple: triple.to_owned(),
            path: path.clone(),
            supported: supported_triples(toolchains_dir).join(", "),
        })?;
        let spec: HostSpec = toml::from_str(&text).map_err(|e| HostError::Malformed {
            path: path.clone(),
            message: e.to_string().trim_end().to_owned(),
        })?;
        if spec.triple != triple {
            return Err(HostError::TripleMismatch {
                path,
                found: spec.triple,
                expected: triple.to_owned(),
            });
        }
        Ok(Host { spec, path, text })
    }

    pub fn triple(&self) -> &str {
        &self.spec.triple
    }
}

/// The triples that have a toolchain file, sorted.
pub fn supported_triples(toolchains_dir: &Path) -> Vec<String> {
    let mut triples: Vec<String> = std::fs::read_dir(toolchains_dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.strip_suffix(".toml").map(str::to_owned)
        })
        .collect();
    triples.sort();
    triples
}

/// A C or C++ compiler as the `cc` crate finds it for a triple (honouring
/// `CC`/`CXX`, `CC_<triple>` and the cross prefix).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Compiler {
    pub path: PathBuf,
    /// Flags `cc` adds for the triple (e.g. `-m64`, `-fPIC`).
    pub args: Vec<String>,
}

/// The C and C++ compilers for one triple.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Compilers {
    pub triple: String,
    pub cc: Compiler,
    pub cxx: Compiler,
}

impl Compilers {
    /// Finds the compilers for `target` as seen from a build machine of
    /// `build_triple`. Does not run them: cross compilers that are not
    /// installed are still named (their toolchain files can be written).
    pub fn detect(target: &str, build_triple: &str) -> Result<Compilers, HostError> {
        let find = |cpp: bool| -> Result<Compiler, HostError> {
            let tool = cc::Build::new()
                .cargo_metadata(false)
                .cargo_warnings(false)
                .target(target)
                .host(build_triple)
                .opt_level(2)
                .debug(false)
                .cpp(cpp)
                .warnings(false)
                .extra_warnings(false)
                .try_get_compiler()
                .map_err(|e| HostError::Compiler {
                    triple: target.to_owned(),
                    message: e.to_string(),
                })?;
            Ok(Compiler {
                path: tool.path().to_owned(),
                args: tool
                    .args()
                    .iter()
                    .map(|a| a.to_string_lossy().into_owned())
                    .collect(),
            })
        };
        Ok(Compilers {
            triple: target.to_owned(),
            cc: find(false)?,
            cxx: find(true)?,
        })
    }

    /// What identifies these compilers for the build id: their own
    /// `--version` text (a different path to the same compiler does not
    /// rebuild; an upgraded compiler does). Runs both compilers.
    pub fn identity(&self) -> Result<String, HostError> {
        let version = |c: &Compiler| -> Result<String, HostError> {
            let out = Command::new(&c.path)
                .arg("--version")
                .output()
                .map_err(|e| HostError::Compiler {
                    triple: self.triple.clone(),
                    message: format!("cannot run {}: {e}", c.path.display()),
                })?;
            if !out.status.success() {
                return Err(HostError::Compiler {
                    triple: self.triple.clone(),
                    message: format!("{} --version failed", c.path.display()),
                });
            }
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        };
        Ok(format!(
            "cc: {}\nflags: {}\ncxx: {}\nflags: {}",
            version(&self.cc)?,
            self.cc.args.join(" "),
            version(&self.cxx)?,
            self.cxx.args.join(" ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toolchains() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../toolchains")
    }

    #[test]
    fn loads_the_shipped_hosts() {
        for triple in ["x86_64-unknown-linux-gnu", "aarch64-unknown-linux-gnu"] {
            let host = Host::load(&toolchains(), triple).unwrap();
            assert_eq!(host.triple(), triple);
        }
    }

    #[test]
    fn unknown_host_lists_supported_ones() {
        let err = Host::load(&toolchains(), "mips-unknown-plan9")
            .unwrap_err()
            .to_string();
        assert!(err.contains("x86_64-unknown-linux-gnu"), "{err}");
        assert!(err.contains("add a toolchain file"), "{err}");
    }

    #[test]
    fn cross_compilers_use_the_gnu_prefix() {
        let c = Compilers::detect("aarch64-unknown-linux-gnu", "x86_64-unknown-linux-gnu").unwrap();
        let name =
            c.cc.path
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned();
        assert!(name.starts_with("aarch64-linux-gnu-"), "{name}");
        let name = c
            .cxx
            .path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        assert!(name.starts_with("aarch64-linux-gnu-"), "{name}");
    }
}
