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
            bar.set_style(spinner_style());
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
            self.bar.set_style(spinner_style());
            self.bar.set_prefix(package.to_owned());
            self.bar.set_message(step.to_owned());
        } else {
            tracing::info!("{package}: {step}");
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
