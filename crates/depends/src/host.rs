//! Host settings (`toolchains/<triple>.toml`) and compiler detection.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use atomic_write_file::AtomicWriteFile;
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Compiler {
    pub path: PathBuf,
    /// Flags `cc` adds for the triple (e.g. `-m64`, `-fPIC`).
    pub args: Vec<String>,
}

/// What a package's objects end up in, which decides the flags taken from
/// `cc`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// Libraries linked into Rust binaries: `cc`'s flags as they are
    /// (position-independent, a section per function and datum so the
    /// linker can drop what is unused).
    Libraries,
    /// The build machine's own tools (`native_*` packages), which nothing
    /// links against: without [`LIBRARY_ONLY_FLAGS`], and at `-O0` so the
    /// package's own build picks its optimization, as it does by hand
    /// (CMake's Release; an autotools recipe says `cflags = ["-O2"]`).
    /// CMake's `./bootstrap` compiles its throwaway first stage with
    /// exactly `CFLAGS`: with `-O2` there `native_cmake` took 1.09-1.14x
    /// its bootstrap by hand, and bought nothing.
    Tools,
}

/// The flags `cc` adds that only a library linked into something else needs.
pub const LIBRARY_ONLY_FLAGS: &[&str] = &["-fPIC", "-ffunction-sections", "-fdata-sections"];

impl Output {
    fn name(self) -> &'static str {
        match self {
            Output::Libraries => "libraries",
            Output::Tools => "tools",
        }
    }
}

/// The C and C++ compilers for one triple.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Compilers {
    pub triple: String,
    pub cc: Compiler,
    pub cxx: Compiler,
}

impl Compilers {
    /// Finds the compilers for `target` as seen from a build machine of
    /// `build_triple`. Does not run them: cross compilers that are not
    /// installed are still named (their toolchain files can be written).
    pub fn detect(
        target: &str,
        build_triple: &str,
        output: Output,
    ) -> Result<Compilers, HostError> {
        let find = |cpp: bool| -> Result<Compiler, HostError> {
            let tool = cc::Build::new()
                .cargo_metadata(false)
                .cargo_warnings(false)
                .target(target)
                .host(build_triple)
                .opt_level(match output {
                    Output::Libraries => 2,
                    Output::Tools => 0,
                })
                .debug(false)
                .cpp(cpp)
                .warnings(false)
                .extra_warnings(false)
                .try_get_compiler()
                .map_err(|e| HostError::Compiler {
                    triple: target.to_owned(),
                    message: e.to_string(),
                })?;
            let args = tool
                .args()
                .iter()
                .map(|a| a.to_string_lossy().into_owned())
                .filter(|a| {
                    output == Output::Libraries || !LIBRARY_ONLY_FLAGS.contains(&a.as_str())
                })
                .collect();
            Ok(Compiler {
                path: tool.path().to_owned(),
                args,
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

/// Compilers with their identity, remembered between runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentifiedCompilers {
    pub compilers: Compilers,
    pub identity: String,
}

/// What decides detection and identity: the variables the `cc` crate reads,
/// `PATH`, and the size and mtime of each compiler's real file. Equal keys
/// give equal results, so the cache never needs running the compilers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct DetectionKey {
    target: String,
    build: String,
    env: Vec<(String, String)>,
    files: Vec<(PathBuf, u64, i64)>,
}

impl DetectionKey {
    fn new(target: &str, build: &str, compilers: &[&Compiler]) -> DetectionKey {
        // Prefixes of every variable the cc crate consults.
        const PREFIXES: &[&str] = &[
            "CC", "CXX", "CFLAGS", "CXXFLAGS", "TARGET_", "HOST_", "CRATE_CC", "PATH",
        ];
        let mut env: Vec<(String, String)> = std::env::vars()
            .filter(|(k, _)| PREFIXES.iter().any(|p| k.starts_with(p)))
            .collect();
        env.sort();
        let files = compilers
            .iter()
            .filter_map(|c| {
                let path = which(&c.path)?;
                let meta = std::fs::metadata(&path).ok()?;
                let mtime = std::os::unix::fs::MetadataExt::mtime(&meta);
                Some((path, meta.len(), mtime))
            })
            .collect();
        DetectionKey {
            target: target.to_owned(),
            build: build.to_owned(),
            env,
            files,
        }
    }
}

/// The real file a compiler name runs: looked up on PATH if it is a bare
/// name, symlinks resolved.
fn which(program: &Path) -> Option<PathBuf> {
    if program.components().count() > 1 {
        return std::fs::canonicalize(program).ok();
    }
    which::which(program)
        .ok()
        .and_then(|p| std::fs::canonicalize(p).ok())
}

/// Writes `bytes` to `path` so that readers see the old file or the whole
/// new one, never a part (synced, renamed, the directory synced).
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut file = AtomicWriteFile::open(path)?;
    file.write_all(bytes)?;
    file.commit()
}

#[derive(Serialize, Deserialize)]
struct CacheEntry {
    key: DetectionKey,
    value: IdentifiedCompilers,
}

impl IdentifiedCompilers {
    /// Where [`IdentifiedCompilers::detect`] remembers `target`'s compilers
    /// for `output` in `cache_dir`.
    pub fn cache_path(cache_dir: &Path, target: &str, output: Output) -> PathBuf {
        cache_dir.join(format!("compilers-{target}-{}.json", output.name()))
    }

    /// [`Compilers::detect`] plus [`Compilers::identity`], answered from
    /// `cache_dir` when nothing that decides them changed: detection and
    /// `--version` run the compilers four times, which is most of a no-op
    /// `depends` run.
    pub fn detect(
        target: &str,
        build: &str,
        output: Output,
        cache_dir: &Path,
    ) -> Result<Self, HostError> {
        let cache = Self::cache_path(cache_dir, target, output);
        if let Some(entry) = std::fs::read(&cache)
            .ok()
            .and_then(|b| serde_json::from_slice::<CacheEntry>(&b).ok())
        {
            let c = &entry.value.compilers;
            if entry.key == DetectionKey::new(target, build, &[&c.cc, &c.cxx]) {
                return Ok(entry.value);
            }
        }
        let compilers = Compilers::detect(target, build, output)?;
        let identity = compilers.identity()?;
        let key = DetectionKey::new(target, build, &[&compilers.cc, &compilers.cxx]);
        let value = IdentifiedCompilers {
            compilers,
            identity,
        };
        let entry = CacheEntry {
            key,
            value: value.clone(),
        };
        // A cache that cannot be written only costs time next run.
        let json = serde_json::to_vec_pretty(&entry).expect("plain data serializes");
        if let Err(e) = write_atomically(&cache, &json) {
            tracing::debug!("not caching compiler detection in {}: {e}", cache.display());
        }
        Ok(value)
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
    fn detection_is_cached_and_keyed_by_the_compiler_file() {
        let dir = tempfile::tempdir().unwrap();
        let triple = "x86_64-unknown-linux-gnu";
        let first =
            IdentifiedCompilers::detect(triple, triple, Output::Libraries, dir.path()).unwrap();
        assert!(first.identity.contains("cc: "), "{}", first.identity);
        let cache = dir
            .path()
            .join(format!("compilers-{triple}-libraries.json"));
        // A planted identity is served while the key matches ...
        let text = std::fs::read_to_string(&cache).unwrap();
        let planted = text.replace("cc: ", "cc (planted): ");
        std::fs::write(&cache, &planted).unwrap();
        let second =
            IdentifiedCompilers::detect(triple, triple, Output::Libraries, dir.path()).unwrap();
        assert!(second.identity.contains("planted"));
        // ... and dropped when the compiler file's recorded size differs.
        let mut entry: serde_json::Value = serde_json::from_str(&planted).unwrap();
        entry["key"]["files"][0][1] = serde_json::json!(1);
        std::fs::write(&cache, entry.to_string()).unwrap();
        let third =
            IdentifiedCompilers::detect(triple, triple, Output::Libraries, dir.path()).unwrap();
        assert_eq!(third, first);
    }

    #[test]
    fn tools_are_compiled_without_the_flags_only_libraries_need() {
        let triple = "x86_64-unknown-linux-gnu";
        let libraries = Compilers::detect(triple, triple, Output::Libraries).unwrap();
        let tools = Compilers::detect(triple, triple, Output::Tools).unwrap();
        for (lib, tool) in [(&libraries.cc, &tools.cc), (&libraries.cxx, &tools.cxx)] {
            assert_eq!(lib.path, tool.path);
            for flag in LIBRARY_ONLY_FLAGS {
                assert!(lib.args.iter().any(|a| a == flag), "{:?}", lib.args);
                assert!(!tool.args.iter().any(|a| a == flag), "{:?}", tool.args);
            }
            // What selects the target stays; the optimization is the build's.
            assert!(tool.args.iter().any(|a| a == "-m64"), "{:?}", tool.args);
            assert!(lib.args.iter().any(|a| a == "-O2"), "{:?}", lib.args);
            assert!(tool.args.iter().any(|a| a == "-O0"), "{:?}", tool.args);
        }
        // Separate cache entries: a tool's build id names its own flags.
        let dir = tempfile::tempdir().unwrap();
        let detect = |output| IdentifiedCompilers::detect(triple, triple, output, dir.path());
        let (lib_id, tool_id) = (
            detect(Output::Libraries).unwrap(),
            detect(Output::Tools).unwrap(),
        );
        assert_ne!(lib_id.identity, tool_id.identity);
        assert_eq!(detect(Output::Tools).unwrap(), tool_id);
    }

    #[test]
    fn cross_compilers_use_the_gnu_prefix() {
        let c = Compilers::detect(
            "aarch64-unknown-linux-gnu",
            "x86_64-unknown-linux-gnu",
            Output::Libraries,
        )
        .unwrap();
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
