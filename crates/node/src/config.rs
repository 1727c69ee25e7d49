//! From parsed options to what the node and the cli run with: the datadir
//! layout, the config file, RPC endpoint and credentials, log settings.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use crate::args::{Args, ArgsError, OptionSpec};

/// bitcoind's regtest RPC port.
pub const DEFAULT_RPC_PORT: u16 = 18443;
/// Name of the config file inside the datadir.
pub const DEFAULT_CONF_FILE: &str = "kestrel.conf";
/// We always run regtest, and keep bitcoind's layout for it.
pub const NETWORK_DIR: &str = "regtest";

/// Debug log categories `-debug=<category>` accepts.
pub const DEBUG_CATEGORIES: &[&str] = &["rpc", "http", "chain", "wallet", "ipc"];

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("Error parsing command line arguments: {0}")]
    CommandLine(ArgsError),
    #[error("Error reading configuration file: {0}")]
    ConfigFile(ArgsError),
    #[error("{0}")]
    Invalid(String),
}

/// The data directory and the network directory inside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataDir {
    pub root: PathBuf,
}

impl DataDir {
    /// `<datadir>/regtest`: chain, wallet, cookie, debug.log, lock.
    pub fn net_dir(&self) -> PathBuf {
        self.root.join(NETWORK_DIR)
    }

    /// The RPC cookie file.
    pub fn cookie_path(&self) -> PathBuf {
        self.net_dir().join(".cookie")
    }

    /// Creates the network directory (and a default datadir) if needed.
    pub fn create_net_dir(&self) -> Result<PathBuf, ConfigError> {
        let dir = self.net_dir();
        std::fs::create_dir_all(&dir).map_err(|e| {
            ConfigError::Invalid(format!(
                "Cannot create data directory {}: {e}",
                dir.display()
            ))
        })?;
        Ok(dir)
    }
}

fn default_datadir() -> Result<PathBuf, ConfigError> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|home| Path::new(&home).join(".kestrel"))
        .ok_or_else(|| {
            ConfigError::Invalid(
                "HOME is not set: give the data directory with -datadir=<dir>".into(),
            )
        })
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
        return Ok((
            args,
            DataDir {
                root: PathBuf::new(),
            },
        ));
    }
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
        None => default_datadir()?,
    };
    let datadir = DataDir { root };
    if args.values("regtest").iter().any(|v| v == "0") {
        return Err(ConfigError::Invalid(
            "Kestrel only runs the regression test chain: drop -noregtest / -regtest=0".into(),
        ));
    }
    let conf = match args.value("conf") {
        Some(file) => Some(datadir.root.join(file)),
        None => {
            let default = datadir.root.join(DEFAULT_CONF_FILE);
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

/// Which debug categories are on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DebugLog {
    None,
    All,
    Categories(Vec<String>),
}

impl DebugLog {
    fn from_args(args: &Args) -> Result<DebugLog, ConfigError> {
        let mut categories = Vec::new();
        let mut all = false;
        for value in args.values("debug") {
            match value.as_str() {
                "1" | "all" => all = true,
                // bitcoind: -debug=0 (or none) turns debug logging off.
                "0" | "none" => return Ok(DebugLog::None),
                cat if DEBUG_CATEGORIES.contains(&cat) => categories.push(cat.to_string()),
                other => {
                    return Err(ConfigError::Invalid(format!(
                        "Unsupported logging category -debug={other}; use one of {} (or 1 for all)",
                        DEBUG_CATEGORIES.join(", ")
                    )))
                }
            }
        }
        Ok(if all {
            DebugLog::All
        } else if categories.is_empty() {
            DebugLog::None
        } else {
            DebugLog::Categories(categories)
        })
    }

    /// The options that select these categories in a child process; its
    /// command line wins over any `debug=` in its config file.
    pub fn to_args(&self) -> Vec<String> {
        match self {
            DebugLog::None => vec!["-nodebug".into()],
            DebugLog::All => vec!["-debug=1".into()],
            DebugLog::Categories(cats) => cats.iter().map(|c| format!("-debug={c}")).collect(),
        }
    }

    /// The tracing filter: info everywhere, debug for the chosen categories
    /// (a category is both the tracing target `<cat>` and the crate
    /// `kestrel_<cat>`, so crates that log under their module path count).
    pub fn filter_directives(&self) -> String {
        match self {
            DebugLog::None => "info".into(),
            DebugLog::All => "debug".into(),
            DebugLog::Categories(cats) => std::iter::once("info".to_string())
                .chain(cats.iter().map(|c| format!("{c}=debug,kestrel_{c}=debug")))
                .collect::<Vec<_>>()
                .join(","),
        }
    }
}

/// Where a process logs and what: `-printtoconsole`, `-debug`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    pub print_to_console: bool,
    pub debug: DebugLog,
}

impl LogConfig {
    pub fn from_args(args: &Args) -> Result<LogConfig, ConfigError> {
        Ok(LogConfig {
            print_to_console: args.flag("printtoconsole"),
            debug: DebugLog::from_args(args)?,
        })
    }

    /// The options that give a child process the same logging.
    pub fn to_args(&self) -> Vec<String> {
        let mut args = vec![format!(
            "-printtoconsole={}",
            u8::from(self.print_to_console)
        )];
        args.extend(self.debug.to_args());
        args
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
    use super::*;
    use crate::args::{COMMON_OPTIONS, LOG_OPTIONS, NODE_OPTIONS};

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
