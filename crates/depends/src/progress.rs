//! What a run shows while it works: a live line on a terminal (package,
//! step, bytes fetched), plain `tracing` lines otherwise (CI logs).

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

pub struct Progress {
    /// Hidden when stderr is not a terminal; the tracing lines stand in.
    bar: ProgressBar,
    interactive: bool,
}

impl Progress {
    /// Live on a terminal, log lines elsewhere.
    pub fn for_stderr() -> Progress {
        if std::io::stderr().is_terminal() {
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template("{spinner} {prefix:.bold} {wide_msg} {elapsed}")
                    .expect("static template"),
            );
            bar.enable_steady_tick(Duration::from_millis(120));
            Progress {
                bar,
                interactive: true,
            }
        } else {
            Progress::quiet()
        }
    }

    /// Shows nothing but the tracing lines (tests, non-terminals).
    pub fn quiet() -> Progress {
        Progress {
            bar: ProgressBar::hidden(),
            interactive: false,
        }
    }

    /// A package enters a step (fetch, configure, make, install, pack ...).
    pub fn step(&self, package: &str, step: &str) {
        if self.interactive {
            self.bar.set_prefix(package.to_owned());
            self.bar.set_message(step.to_owned());
        } else {
            tracing::info!("{package}: {step}");
        }
    }

    /// Bytes of a download so far; only the live line shows these.
    pub fn bytes(&self, package: &str, url: &str, done: u64, total: Option<u64>) {
        if self.interactive {
            self.bar.set_prefix(package.to_owned());
            let total = total
                .map(|t| format!("/{} KiB", t / 1024))
                .unwrap_or_default();
            self.bar
                .set_message(format!("fetch {url} {} KiB{total}", done / 1024));
        }
    }

    /// A line that stays on screen above the live one.
    pub fn println(&self, line: &str) {
        if self.interactive {
            self.bar.println(line);
        } else {
            tracing::info!("{line}");
        }
    }

    pub fn warn(&self, line: &str) {
        if self.interactive {
            self.bar.println(format!("warning: {line}"));
        } else {
            tracing::warn!("{line}");
        }
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}
