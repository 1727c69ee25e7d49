//! What a run shows while it works: a live line on a terminal (package,
//! step, bytes fetched), plain `tracing` lines otherwise (CI logs), or
//! lines kept in memory for a caller that checks them (tests).

use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

pub struct Progress {
    /// Hidden when stderr is not a terminal; the tracing lines stand in.
    bar: ProgressBar,
    interactive: bool,
    /// Set by [`Progress::recording`]: lines go here instead of `tracing`,
    /// whichever thread reports them.
    record: Option<Recording>,
}

/// The lines a [`Progress::recording`] run reported, in order; warnings
/// start with `WARN `.
#[derive(Clone, Default)]
pub struct Recording(Arc<Mutex<Vec<String>>>);

impl Recording {
    pub fn text(&self) -> String {
        let lines = self.0.lock().unwrap_or_else(|e| e.into_inner());
        lines.iter().map(|l| format!("{l}\n")).collect()
    }

    fn push(&self, line: String) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(line);
    }
}

impl Progress {
    /// Live on a terminal, log lines elsewhere.
    pub fn for_stderr() -> Progress {
        if std::io::stderr().is_terminal() {
            let bar = ProgressBar::new_spinner();
            bar.set_style(spinner_style());
            bar.enable_steady_tick(Duration::from_millis(120));
            Progress {
                bar,
                interactive: true,
                record: None,
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
            record: None,
        }
    }

    /// Keeps the lines in memory: a log capture that does not depend on
    /// which thread reports or on `tracing`'s global state.
    pub fn recording() -> (Progress, Recording) {
        let record = Recording::default();
        let progress = Progress {
            bar: ProgressBar::hidden(),
            interactive: false,
            record: Some(record.clone()),
        };
        (progress, record)
    }

    /// A plain line: into the recording, or to `tracing`.
    fn plain(&self, line: String, warning: bool) {
        match (&self.record, warning) {
            (Some(record), false) => record.push(line),
            (Some(record), true) => record.push(format!("WARN {line}")),
            (None, false) => tracing::info!("{line}"),
            (None, true) => tracing::warn!("{line}"),
        }
    }

    /// A package enters a step (fetch, configure, make, install, pack ...).
    pub fn step(&self, package: &str, step: &str) {
        if self.interactive {
            self.bar.set_style(spinner_style());
            self.bar.set_prefix(package.to_owned());
            self.bar.set_message(step.to_owned());
        } else {
            self.plain(format!("{package}: {step}"), false);
        }
    }

    /// Bytes of a transfer so far: on a terminal with size, rate and ETA
    /// (when the total is known); the log gets the step and result lines.
    pub fn bytes(&self, package: &str, url: &str, done: u64, total: Option<u64>) {
        if self.interactive {
            let length = total.unwrap_or(0);
            if self.bar.position() > done || self.bar.length() != Some(length) {
                // A new transfer: rate and ETA start from here.
                self.bar.set_style(transfer_style(total.is_some()));
                self.bar.set_length(length);
                self.bar.reset_eta();
            }
            self.bar.set_prefix(package.to_owned());
            self.bar.set_message(url.to_owned());
            self.bar.set_position(done);
        }
    }

    /// A line that stays on screen above the live one.
    pub fn println(&self, line: &str) {
        if self.interactive {
            self.bar.println(line);
        } else {
            self.plain(line.to_owned(), false);
        }
    }

    pub fn warn(&self, line: &str) {
        if self.interactive {
            self.bar.println(format!("warning: {line}"));
        } else {
            self.plain(line.to_owned(), true);
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

fn spinner_style() -> ProgressStyle {
    ProgressStyle::with_template("{spinner} {prefix:.bold} {wide_msg} {elapsed}")
        .expect("static template")
}

fn transfer_style(total_known: bool) -> ProgressStyle {
    let template = if total_known {
        "{spinner} {prefix:.bold} {wide_msg} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}"
    } else {
        "{spinner} {prefix:.bold} {wide_msg} {bytes} {bytes_per_sec}"
    };
    ProgressStyle::with_template(template).expect("static template")
}
