//! Logging through tracing: always to `<datadir>/regtest/debug.log`, also to
//! the console with -printtoconsole; -debug=<category> turns on debug
//! output. The wallet process of the multiprocess node and the gui append
//! to the same debug.log, as one node's log.

use std::fs::{File, OpenOptions};
use std::io::IsTerminal;
use std::sync::Arc;
use std::time::SystemTime;

use tracing::Subscriber;
use tracing_subscriber::filter::{filter_fn, FilterExt};
use tracing_subscriber::fmt::time::FormatTime;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::{fmt, EnvFilter, Layer};

use crate::args::Args;
use crate::config::ConfigError;
use crate::datadir::DataDir;

/// The tracing target of `-debug=ipc` lines (kestrel-ipc's `LOG_TARGET`).
pub const IPC_TARGET: &str = "ipc";

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
    // Each line is one append-mode write, whole, so the node's processes
    // share the file without a lock between them or within one.
    tracing::subscriber::set_global_default(subscriber(config, Arc::new(file)))
        .map_err(|e| anyhow::anyhow!("Cannot install the logger: {e}"))
}

/// The subscriber [`init`] installs, writing to `file` (`bench ipc`'s
/// children log through it, so the bench pays what a node pays).
pub fn subscriber(config: &LogConfig, file: Arc<File>) -> impl Subscriber + Send + Sync {
    let directives = config.debug.filter_directives();
    let mut destinations = vec![split_by_target(&directives, file, false).boxed()];
    if config.print_to_console {
        let ansi = std::io::stdout().is_terminal();
        destinations.push(split_by_target(&directives, std::io::stdout, ansi).boxed());
    }
    // A Vec, not an `Option` layer: a `None` layer says yes to every
    // `enabled!` in front of per-layer filters, and kestrel-ipc would then
    // format every message's text only for the filter to drop the line.
    tracing_subscriber::registry().with(destinations)
}

/// One destination's layers: `-debug=ipc` lines through [`line_layer`] for
/// escape-free lines, every other line sanitized; both filtered by
/// `directives`.
fn split_by_target<S, W>(directives: &str, writer: W, ansi: bool) -> impl Layer<S>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + Clone + Send + Sync + 'static,
{
    let is_ipc = || filter_fn(|meta| meta.target() == IPC_TARGET);
    let ipc = line_layer(writer.clone(), ansi, true)
        .with_filter(EnvFilter::new(directives).and(is_ipc()));
    let other =
        line_layer(writer, ansi, false).with_filter(EnvFilter::new(directives).and(is_ipc().not()));
    ipc.and_then(other)
}

/// How lines are written. The formatter sanitizes every character of a
/// line against terminal escapes; `escape_free` skips that for lines that
/// cannot hold one: kestrel-ipc's `-debug=ipc` lines are Cap'n Proto text,
/// whose Text is `{:?}`-escaped and whose Data is hex, and the scan was 40%
/// of what `-debug=ipc` cost per call (`cargo xtask bench ipc` uses this
/// layer too).
pub fn line_layer<S, W>(
    writer: W,
    ansi: bool,
    escape_free: bool,
) -> fmt::Layer<
    S,
    fmt::format::DefaultFields,
    fmt::format::Format<fmt::format::Full, Rfc3339Micros>,
    W,
>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + 'static,
{
    fmt::layer()
        .with_ansi(ansi)
        .with_ansi_sanitization(!escape_free)
        .with_timer(Rfc3339Micros)
        .with_writer(writer)
}

/// The timestamp tracing's default timer writes (`2026-12-07T01:45:12.123456Z`),
/// from humantime's byte buffer instead of seven padded `fmt` fields: those
/// were a fifth of what a `-debug=ipc` line cost.
pub struct Rfc3339Micros;

impl FormatTime for Rfc3339Micros {
    fn format_time(&self, w: &mut fmt::format::Writer<'_>) -> std::fmt::Result {
        write!(w, "{}", humantime::format_rfc3339_micros(SystemTime::now()))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::{subscriber, DebugLog, LogConfig, IPC_TARGET};

    /// What `debug` lets into the file of one subscriber, after one IPC
    /// line and one other line, both holding an escape.
    fn logged(debug: DebugLog) -> String {
        let file = tempfile::NamedTempFile::new().unwrap();
        let config = LogConfig {
            print_to_console: false,
            debug,
        };
        let handle = Arc::new(file.reopen().unwrap());
        tracing::subscriber::with_default(subscriber(&config, handle), || {
            tracing::debug!(target: IPC_TARGET, "ipc line \u{1b}[31m");
            tracing::info!("other line \u{1b}[31m");
        });
        std::fs::read_to_string(file.path()).unwrap()
    }

    #[test]
    fn ipc_lines_are_written_once_as_they_are_and_other_lines_sanitized() {
        let log = logged(DebugLog::Categories(vec!["ipc".into()]));
        assert_eq!(log.matches("ipc line").count(), 1, "{log}");
        assert!(log.contains("ipc line \u{1b}[31m"), "{log}");
        assert!(log.contains(r"other line \x1b[31m"), "{log}");
        assert_eq!(log.lines().count(), 2, "{log}");
    }

    #[test]
    fn timestamps_have_the_shape_tracing_s_own_timer_gives_them() {
        use tracing_subscriber::fmt::format::Writer;
        use tracing_subscriber::fmt::time::{FormatTime, SystemTime};

        let format = |timer: &dyn FormatTime| {
            let mut text = String::new();
            timer.format_time(&mut Writer::new(&mut text)).unwrap();
            text
        };
        let (ours, tracing) = (format(&super::Rfc3339Micros), format(&SystemTime));
        let shape = |t: &str| t.replace(|c: char| c.is_ascii_digit(), "0");
        assert_eq!(shape(&ours), "0000-00-00T00:00:00.000000Z");
        assert_eq!(shape(&ours), shape(&tracing));
        // The same clock and zone: ours was taken first, and not long before.
        let parse = |t: &str| humantime::parse_rfc3339(t).unwrap();
        let apart = parse(&tracing).duration_since(parse(&ours)).unwrap();
        assert!(apart.as_secs() < 1, "{ours} {tracing}");
    }

    #[test]
    fn ipc_lines_stay_out_unless_their_category_is_on() {
        let log = logged(DebugLog::Categories(vec!["rpc".into()]));
        assert!(!log.contains("ipc line"), "{log}");
        assert!(log.contains("other line"), "{log}");
        assert!(logged(DebugLog::All).contains("ipc line"));
    }

    /// kestrel-ipc formats a message's text only when this says yes: with
    /// the category off it must say no, or every call pays for text that
    /// is thrown away.
    #[test]
    fn the_ipc_target_is_disabled_unless_its_category_is_on() {
        let enabled = |debug: DebugLog, print_to_console: bool| {
            let file = tempfile::NamedTempFile::new().unwrap();
            let config = LogConfig {
                print_to_console,
                debug,
            };
            let handle = Arc::new(file.reopen().unwrap());
            tracing::subscriber::with_default(
                subscriber(&config, handle),
                || tracing::enabled!(target: IPC_TARGET, tracing::Level::DEBUG),
            )
        };
        for console in [false, true] {
            assert!(!enabled(DebugLog::None, console), "console {console}");
            assert!(!enabled(DebugLog::Categories(vec!["rpc".into()]), console));
            assert!(enabled(DebugLog::Categories(vec!["ipc".into()]), console));
            assert!(enabled(DebugLog::All, console));
        }
    }
}
