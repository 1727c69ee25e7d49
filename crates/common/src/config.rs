//! From parsed options to what the node and the cli run with: the datadir,
//! the config file, RPC endpoint and credentials, log settings.

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

use crate::args::{Args, ArgsError, OptionSpec};
use crate::datadir::DataDir;
use crate::logging::LogConfig;

/// bitcoind's regtest RPC port.
pub const DEFAULT_RPC_PORT: u16 = 18443;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("Error parsing command line arguments: {0}")]
    CommandLine(ArgsError),
    #[error("Error reading configuration file: {0}")]
    ConfigFile(ArgsError),
    #[error("{0}")]
    Invalid(String),
}

/// The datadir `-datadir` names (it must exist), else `~/.kestrel`.
pub fn datadir(args: &Args) -> Result<DataDir, ConfigError> {
    let root = match args.value("datadir") {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            if !dir.is_dir() {
                return Err(ConfigError::Invalid(format!(
                    "Specified data directory \"{}\" does not exist; create it or choose another -datadir",
                    dir.display()
                )));
            }
            dir
        }
        None => DataDir::default_root().ok_or_else(|| {
            ConfigError::Invalid(
                "HOME is not set: give the data directory with -datadir=<dir>".into(),
            )
        })?,
    };
    Ok(DataDir::new(root))
}

/// Parses the command line, finds the datadir and merges the config file
/// (`-conf`, default `<datadir>/kestrel.conf`; a missing default file is
/// fine, a missing `-conf` file is an error).
pub fn load<I, S>(argv: I, sets: &[&[OptionSpec]]) -> Result<(Args, DataDir), ConfigError>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let mut args = Args::parse(argv, sets).map_err(ConfigError::CommandLine)?;
    if args.flag("help") {
        // The caller prints help; the datadir does not matter then.
        return Ok((args, DataDir::new(PathBuf::new())));
    }
    let datadir = datadir(&args)?;
    if args.values("regtest").iter().any(|v| v == "0") {
        return Err(ConfigError::Invalid(
            "Kestrel only runs the regression test chain: drop -noregtest / -regtest=0".into(),
        ));
    }
    let conf = match args.value("conf") {
        Some(file) => Some(datadir.root.join(file)),
        None => {
            let default = datadir.default_conf_path();
            default.exists().then_some(default)
        }
    };
    if let Some(conf) = conf {
        args.read_config_file(&conf, sets)
            .map_err(ConfigError::ConfigFile)?;
    }
    Ok((args, datadir))
}

/// RPC user and password, when given instead of the cookie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserPassword {
    pub user: String,
    pub password: String,
}

/// The port option, checked.
pub fn rpc_port(args: &Args) -> Result<u16, ConfigError> {
    match args.value("rpcport") {
        None => Ok(DEFAULT_RPC_PORT),
        Some(text) => text.parse::<u16>().ok().filter(|p| *p != 0).ok_or_else(|| {
            ConfigError::Invalid(format!(
                "Invalid port in -rpcport={text}: expected a number from 1 to 65535"
            ))
        }),
    }
}

/// `-rpcuser`/`-rpcpassword`, which go together.
pub fn user_password(args: &Args) -> Result<Option<UserPassword>, ConfigError> {
    match (args.value("rpcuser"), args.value("rpcpassword")) {
        (None, None) => Ok(None),
        (Some(user), Some(password)) if !password.is_empty() => {
            if user.contains(':') {
                return Err(ConfigError::Invalid(format!(
                    "-rpcuser={user} contains ':', which basic authentication cannot carry; choose another user name"
                )));
            }
            Ok(Some(UserPassword {
                user: user.into(),
                password: password.into(),
            }))
        }
        _ => Err(ConfigError::Invalid(
            "-rpcuser and -rpcpassword go together: give both (non-empty) or neither to use the cookie".into(),
        )),
    }
}

/// A loopback address from `-rpcbind`/`-rpcconnect` (`localhost` allowed).
pub fn loopback_address(option: &str, args: &Args) -> Result<IpAddr, ConfigError> {
    let Some(text) = args.value(option) else {
        return Ok(IpAddr::V4(Ipv4Addr::LOCALHOST));
    };
    let addr = match text {
        "localhost" => Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        other => other.trim_matches(['[', ']']).parse::<IpAddr>().ok(),
    };
    match addr {
        Some(addr) if addr.is_loopback() => Ok(addr),
        _ => Err(ConfigError::Invalid(format!(
            "-{option}={text}: only loopback addresses (such as 127.0.0.1 or ::1) are allowed"
        ))),
    }
}

/// No positional arguments: every executable but the cli takes options only.
pub fn reject_positionals(args: &Args) -> Result<(), ConfigError> {
    match args.positionals().first() {
        Some(extra) => Err(ConfigError::Invalid(format!(
            "Error parsing command line arguments: unexpected argument '{extra}' (options start with -)"
        ))),
        None => Ok(()),
    }
}

/// Everything a node executable runs with.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    pub datadir: DataDir,
    /// `-conf` as given, so a child process reads the same file.
    pub conf: Option<String>,
    pub log: LogConfig,
    pub rpc_bind: IpAddr,
    pub rpc_port: u16,
    pub rpc_user_password: Option<UserPassword>,
}

impl NodeConfig {
    pub fn from_args(args: &Args, datadir: DataDir) -> Result<NodeConfig, ConfigError> {
        reject_positionals(args)?;
        Ok(NodeConfig {
            datadir,
            conf: args.value("conf").map(str::to_string),
            log: LogConfig::from_args(args)?,
            rpc_bind: loopback_address("rpcbind", args)?,
            rpc_port: rpc_port(args)?,
            rpc_user_password: user_password(args)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::datadir::DEFAULT_CONF_FILE;
    use crate::logging::DebugLog;
    use crate::options::{COMMON_OPTIONS, LOG_OPTIONS, NODE_OPTIONS};

    const NODE: &[&[OptionSpec]] = &[COMMON_OPTIONS, LOG_OPTIONS, NODE_OPTIONS];

    fn node_config(dir: &Path, extra: &[&str]) -> Result<NodeConfig, ConfigError> {
        let argv = std::iter::once(format!("-datadir={}", dir.display()))
            .chain(extra.iter().map(|s| s.to_string()));
        let (args, datadir) = load(argv, NODE)?;
        NodeConfig::from_args(&args, datadir)
    }

    #[test]
    fn defaults() {
        let dir = tempfile::tempdir().unwrap();
        let config = node_config(dir.path(), &[]).unwrap();
        assert_eq!(config.rpc_port, DEFAULT_RPC_PORT);
        assert_eq!(config.rpc_bind, IpAddr::V4(Ipv4Addr::LOCALHOST));
        assert_eq!(config.rpc_user_password, None);
        assert_eq!(config.log.debug, DebugLog::None);
        assert_eq!(
            config.datadir.cookie_path(),
            dir.path().join("regtest/.cookie")
        );
    }

    #[test]
    fn conf_file_in_datadir_is_read_and_command_line_wins() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(DEFAULT_CONF_FILE),
            "rpcport=2000\nrpcuser=u\nrpcpassword=p\ndebug=wallet\n",
        )
        .unwrap();
        let config = node_config(dir.path(), &["-rpcport=3000"]).unwrap();
        assert_eq!(config.rpc_port, 3000);
        assert_eq!(
            config.rpc_user_password,
            Some(UserPassword {
                user: "u".into(),
                password: "p".into()
            })
        );
        assert_eq!(
            config.log.debug,
            DebugLog::Categories(vec!["wallet".into()])
        );
    }

    #[test]
    fn explicit_conf_must_exist() {
        let dir = tempfile::tempdir().unwrap();
        let err = node_config(dir.path(), &["-conf=missing.conf"]).unwrap_err();
        assert!(err.to_string().contains("missing.conf"), "{err}");
    }

    #[test]
    fn missing_datadir_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = node_config(&dir.path().join("nope"), &[]).unwrap_err();
        assert!(err.to_string().contains("does not exist"), "{err}");
    }

    #[test]
    fn bad_values_are_rejected_clearly() {
        let dir = tempfile::tempdir().unwrap();
        let cases: &[(&[&str], &str)] = &[
            (&["-rpcport=abc"], "-rpcport=abc"),
            (&["-rpcport=0"], "-rpcport=0"),
            (&["-rpcbind=0.0.0.0"], "loopback"),
            (&["-rpcbind=8.8.8.8"], "loopback"),
            (&["-rpcuser=u"], "go together"),
            (&["-debug=bogus"], "-debug=bogus"),
            (&["stray"], "unexpected argument 'stray'"),
            (&["-noregtest"], "only runs the regression test chain"),
        ];
        for (extra, expected) in cases {
            let err = node_config(dir.path(), extra).unwrap_err().to_string();
            assert!(err.contains(expected), "{extra:?}: {err}");
        }
    }

    #[test]
    fn loopback_forms_are_accepted() {
        let dir = tempfile::tempdir().unwrap();
        for (bind, expected) in [
            ("::1", "::1"),
            ("[::1]", "::1"),
            ("localhost", "127.0.0.1"),
            ("127.0.0.2", "127.0.0.2"),
        ] {
            let config = node_config(dir.path(), &[&format!("-rpcbind={bind}")]).unwrap();
            assert_eq!(config.rpc_bind.to_string(), expected);
        }
    }

    #[test]
    fn debug_categories_become_tracing_directives() {
        let dir = tempfile::tempdir().unwrap();
        let config = node_config(dir.path(), &["-debug=rpc", "-debug=ipc"]).unwrap();
        assert_eq!(
            config.log.debug.filter_directives(),
            "info,rpc=debug,kestrel_rpc=debug,ipc=debug,kestrel_ipc=debug"
        );
        let config = node_config(dir.path(), &["-debug"]).unwrap();
        assert_eq!(config.log.debug, DebugLog::All);
        let config = node_config(dir.path(), &["-debug=rpc", "-debug=0"]).unwrap();
        assert_eq!(config.log.debug, DebugLog::None);
    }

    #[test]
    fn log_settings_pass_to_a_child_whatever_its_config_file_says() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(DEFAULT_CONF_FILE),
            "debug=wallet\nprinttoconsole=1\n",
        )
        .unwrap();
        for extra in [
            &["-debug=ipc", "-debug=rpc", "-noprinttoconsole"][..],
            &["-debug"],
            &["-debug=0"],
            &[],
        ] {
            let parent = node_config(dir.path(), extra).unwrap();
            let child_args = parent.log.to_args();
            let child_args: Vec<&str> = child_args.iter().map(String::as_str).collect();
            let child = node_config(dir.path(), &child_args).unwrap();
            assert_eq!(child.log, parent.log, "{extra:?} -> {child_args:?}");
        }
    }
}
