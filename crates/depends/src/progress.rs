//! What a run shows while it works. On a terminal: one live line per
//! package being worked on (packages build at once, each keeps its own
//! line): its step, a download's bytes, rate and ETA, the last line of its
//! `make`. Elsewhere (CI logs): plain `tracing` lines for each step and
//! each quarter of a download, never make's output (that is in the log);
//! or those lines kept in memory for a caller that checks them (tests).

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

pub struct Progress {
    /// `None`: not a terminal, the tracing lines stand in.
    live: Option<MultiProgress>,
    packages: Mutex<BTreeMap<String, PackageLine>>,
    /// Set by [`Progress::recording`]: plain lines go here instead of
    /// `tracing`, whichever thread reports them.
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

/// One package's state: its live line (on a terminal) and what the plain
/// lines last said.
struct PackageLine {
    bar: Option<ProgressBar>,
    step: String,
    /// The last quarter of a download that a plain line reported.
    quarter: u64,
}

const STEP_TEMPLATE: &str = "{spinner} {prefix:.bold} {wide_msg} {elapsed}";
const FETCH_TEMPLATE: &str =
    "{spinner} {prefix:.bold} {wide_msg} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}";

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template).expect("static template")
}

impl Progress {
    /// Live on a terminal, log lines elsewhere.
    pub fn for_stderr() -> Progress {
        let live = std::io::stderr()
            .is_terminal()
            .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));
        Progress {
            live,
            packages: Mutex::new(BTreeMap::new()),
            record: None,
        }
    }

    /// Shows nothing but the tracing lines (tests, non-terminals).
    pub fn quiet() -> Progress {
        Progress {
            live: None,
            packages: Mutex::new(BTreeMap::new()),
            record: None,
        }
    }

    /// Keeps the plain lines in memory: a log capture that does not depend
    /// on which thread reports or on `tracing`'s global state.
    pub fn recording() -> (Progress, Recording) {
        let record = Recording::default();
        let progress = Progress {
            live: None,
            packages: Mutex::new(BTreeMap::new()),
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

    /// Runs `f` on `package`'s line, made on first use.
    fn with_line<T>(&self, package: &str, f: impl FnOnce(&mut PackageLine) -> T) -> T {
        let mut packages = self.packages.lock().unwrap_or_else(|e| e.into_inner());
        let line = packages
            .entry(package.to_owned())
            .or_insert_with(|| PackageLine {
                bar: self.live.as_ref().map(|multi| {
                    let bar = multi.add(ProgressBar::new_spinner());
                    bar.set_style(style(STEP_TEMPLATE));
                    bar.set_prefix(package.to_owned());
                    bar.enable_steady_tick(Duration::from_millis(120));
                    bar
                }),
                step: String::new(),
                quarter: 0,
            });
        f(line)
    }

    /// A package enters a step (fetch, configure, make, install, pack ...).
    pub fn step(&self, package: &str, step: &str) {
        self.with_line(package, |line| {
            line.step = step.to_owned();
            line.quarter = 0;
            match &line.bar {
                Some(bar) => {
                    bar.set_style(style(STEP_TEMPLATE));
                    bar.set_message(step.to_owned());
                }
                None => self.plain(format!("{package}: {step}"), false),
            }
        });
    }

    /// Bytes of a download so far: bytes, rate and ETA on the live line;
    /// a plain line at each quarter of a download of known size.
    pub fn bytes(&self, package: &str, url: &str, done: u64, total: Option<u64>) {
        self.with_line(package, |line| match &line.bar {
            Some(bar) => {
                if let Some(total) = total {
                    bar.set_style(style(FETCH_TEMPLATE));
                    bar.set_length(total);
                }
                bar.set_message(format!("fetch {url}"));
                bar.set_position(done);
            }
            None => {
                if let Some(total) = total.filter(|t| *t > 0) {
                    let quarter = done.min(total) * 4 / total;
                    if quarter > line.quarter {
                        line.quarter = quarter;
                        self.plain(
                            format!(
                                "{package}: fetch {url}: {} of {} KiB",
                                done / 1024,
                                total / 1024
                            ),
                            false,
                        );
                    }
                }
            }
        });
    }

    /// A line of a step's output (make's last line, shown after the step
    /// on the live line; plain runs have it in the package's log only).
    pub fn output(&self, package: &str, text: &str) {
        self.with_line(package, |line| {
            if let Some(bar) = &line.bar {
                bar.set_message(format!("{}: {}", line.step, text.trim_end()));
            }
        });
    }

    /// A package is finished: its live line goes, `message` stays.
    pub fn done(&self, package: &str, message: &str) {
        let line = self
            .packages
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(package);
        if let Some(bar) = line.and_then(|l| l.bar) {
            bar.finish_and_clear();
        }
        self.println(message);
    }

    /// A line that stays on screen above the live ones.
    pub fn println(&self, line: &str) {
        match &self.live {
            Some(multi) => {
                let _ = multi.println(line);
            }
            None => self.plain(line.to_owned(), false),
        }
    }

    pub fn warn(&self, line: &str) {
        match &self.live {
            Some(multi) => {
                let _ = multi.println(format!("warning: {line}"));
            }
            None => self.plain(line.to_owned(), true),
        }
    }

    /// Clears every live line.
    pub fn finish(&self) {
        let lines = std::mem::take(&mut *self.packages.lock().unwrap_or_else(|e| e.into_inner()));
        for bar in lines.into_values().filter_map(|l| l.bar) {
            bar.finish_and_clear();
        }
        if let Some(multi) = &self.live {
            let _ = multi.clear();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}
