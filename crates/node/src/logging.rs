//! Logging through tracing: always to `<netdir>/debug.log`, also to the
//! console with -printtoconsole; -debug=<category> turns on debug output.
//! The wallet process of the multiprocess node appends to the same
//! debug.log, as one node's log.

use std::fs::OpenOptions;
use std::io::IsTerminal;
use std::path::Path;
use std::sync::Mutex;

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::{fmt, EnvFilter, Layer};

use crate::config::LogConfig;

/// Installs the process-wide subscriber. Call once, at startup.
pub fn init(config: &LogConfig, net_dir: &Path) -> anyhow::Result<()> {
    let path = net_dir.join("debug.log");
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
