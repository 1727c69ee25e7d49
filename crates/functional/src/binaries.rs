//! Which executables are under test: `KESTRELD` (a `kestreld` or a
//! `kestrel-node`) and `KESTREL_CLI`, by default the ones built next to the
//! running test executable, as Bitcoin Core's `BITCOIND`/`BITCOINCLI`.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Environment variable naming the node executable under test.
pub const NODE_ENV: &str = "KESTRELD";
/// Environment variable naming the `kestrel-cli` executable.
pub const CLI_ENV: &str = "KESTREL_CLI";

/// The shape of the node under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Build {
    /// `kestreld`: the wallet runs inside the node process.
    Monolithic,
    /// `kestrel-node`: the wallet runs in a `kestrel-wallet` child process.
    Multiprocess,
}

impl Build {
    /// Tells the build by the executable's name, the way the two are
    /// installed (`kestreld`, `kestrel-node`).
    pub fn of(path: &Path) -> Result<Build, String> {
        match path.file_name().and_then(|n| n.to_str()) {
            Some("kestreld") => Ok(Build::Monolithic),
            Some("kestrel-node") => Ok(Build::Multiprocess),
            _ => Err(format!(
                "{NODE_ENV}={}: expected a path to an executable named kestreld or kestrel-node",
                path.display()
            )),
        }
    }
}

/// The node executable under test and its build.
#[derive(Debug, Clone)]
pub struct NodeBinary {
    pub path: PathBuf,
    pub build: Build,
}

impl NodeBinary {
    /// `kestrel-wallet`, installed next to `kestrel-node` (it is what the
    /// node spawns, and what a test attaches with `-ipcconnect`).
    pub fn wallet_path(&self) -> PathBuf {
        self.path.with_file_name("kestrel-wallet")
    }
}

/// `<target>/<profile>/` of the running test executable, which cargo
/// places at `<target>/<profile>/deps/<name>-<hash>`.
fn profile_dir() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    Some(exe.parent()?.parent()?.to_path_buf())
}

/// The executable `env_var` names (relative paths are taken from the
/// current directory), else `default_name` in the profile directory.
fn locate(env_var: &str, default_name: &str, build_hint: &str) -> Result<PathBuf, String> {
    let (path, origin) = match std::env::var_os(env_var).filter(|v| !v.is_empty()) {
        Some(value) => {
            let path = PathBuf::from(value);
            let path = if path.is_absolute() {
                path
            } else {
                std::env::current_dir()
                    .map_err(|e| format!("cannot resolve {env_var}: {e}"))?
                    .join(path)
            };
            (path, format!("{env_var} names"))
        }
        None => {
            let dir = profile_dir()
                .ok_or_else(|| "cannot find the directory of the test executable".to_string())?;
            (
                dir.join(default_name),
                format!("{env_var} is not set, so the test looked for the one just built at"),
            )
        }
    };
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!(
            "{origin} {}, which does not exist. Build it first ({build_hint}), or set {env_var} to the executable to test.",
            path.display()
        ))
    }
}

fn resolve_node() -> Result<NodeBinary, String> {
    let path = locate(
        NODE_ENV,
        "kestreld",
        "`cargo xtask build`, or `cargo build -p kestrel-node -p kestrel-cli`",
    )?;
    let build = Build::of(&path)?;
    Ok(NodeBinary { path, build })
}

/// The node executable under test, resolved once per test process. Panics
/// with how to build it when it is missing.
pub fn node_binary() -> &'static NodeBinary {
    static NODE: OnceLock<Result<NodeBinary, String>> = OnceLock::new();
    match NODE.get_or_init(resolve_node) {
        Ok(binary) => binary,
        Err(message) => panic!("{message}"),
    }
}

/// The `kestrel-cli` executable. Panics with how to build it when missing.
pub fn cli_binary() -> &'static Path {
    static CLI: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match CLI.get_or_init(|| {
        locate(
            CLI_ENV,
            "kestrel-cli",
            "`cargo xtask build`, or `cargo build -p kestrel-cli`",
        )
    }) {
        Ok(path) => path,
        Err(message) => panic!("{message}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_is_told_by_executable_name() {
        assert_eq!(
            Build::of(Path::new("/x/target/debug/kestreld")),
            Ok(Build::Monolithic)
        );
        assert_eq!(
            Build::of(Path::new("/usr/bin/kestrel-node")),
            Ok(Build::Multiprocess)
        );
        let err = Build::of(Path::new("/usr/bin/bitcoind")).unwrap_err();
        assert!(err.contains("kestreld or kestrel-node"), "{err}");
    }

    #[test]
    fn wallet_sits_next_to_the_node() {
        let node = NodeBinary {
            path: PathBuf::from("/opt/kestrel/bin/kestrel-node"),
            build: Build::Multiprocess,
        };
        assert_eq!(
            node.wallet_path(),
            Path::new("/opt/kestrel/bin/kestrel-wallet")
        );
    }

    #[test]
    fn missing_executable_says_how_to_build_it() {
        let err = locate(
            "KESTREL_FUNCTIONAL_UNSET_FOR_TEST",
            "no-such-executable",
            "`cargo build -p x`",
        )
        .unwrap_err();
        assert!(
            err.contains("no-such-executable") && err.contains("cargo build -p x"),
            "{err}"
        );
    }
}
