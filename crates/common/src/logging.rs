//! Logging through tracing: always to `<datadir>/regtest/debug.log`, also to
//! the console with -printtoconsole; -debug=<category> turns on debug
//! output. The wallet process of the multiprocess node and the gui append
//! to the same debug.log, as one node's log.

use std::fs::OpenOptions;
use std::io::IsTerminal;
use std::sync::Mutex;

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::{fmt, EnvFilter, Layer};

use crate::args::Args;
use crate::config::ConfigError;
use crate::datadir::DataDir;

/// Debug log categories `-debug=<category>` accepts.
pub const DEBUG_CATEGORIES: &[&str] = &["rpc", "http", "chain", "wallet", "ipc"];

/// Which debug categories are on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DebugLog {
    None,
    All,
    Categories(Vec<String>),
}

impl DebugLog {
    pub fn from_args(args: &Args) -> Result<DebugLog, ConfigError> {
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

/// Installs the process-wide subscriber. Call once, at startup, once the
/// network directory exists.
pub fn init(config: &LogConfig, datadir: &DataDir) -> anyhow::Result<()> {
    let path = datadir.debug_log_path();
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|e| anyhow::anyhow!("Cannot open log file {}: {e}", path.display()))?;
    let filter = || EnvFilter::new(config.debug.filter_directives());
    let file_layer = fmt::layer()
        .with_ansi(false)
        .with_writer(Mutex::new(file))
        .with_filter(filter());
    let console_layer = config.print_to_console.then(|| {
        fmt::layer()
            .with_ansi(std::io::stdout().is_terminal())
            .with_writer(std::io::stdout)
            .with_filter(filter())
    });
    let subscriber = tracing_subscriber::registry()
        .with(file_layer)
        .with(console_layer);
    tracing::subscriber::set_global_default(subscriber)
        .map_err(|e| anyhow::anyhow!("Cannot install the logger: {e}"))
}
