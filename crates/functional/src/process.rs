//! Processes as /proc shows them, and signals: what the teardown needs to
//! stop nodes and prove that nothing of a test is left running. The one
//! place the tests read /proc.

use std::io;
use std::path::Path;
use std::time::Duration;

pub use rustix::process::Signal;

/// One process, identified by pid and start time (a pid alone may be
/// reused once the process is gone).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessInfo {
    pub pid: i32,
    pub parent: i32,
    /// Clock ticks after boot when it started.
    pub start_time: u64,
    /// The state letter of /proc/<pid>/stat: `Z` for a zombie.
    pub state: char,
    pub name: String,
    pub cmdline: Vec<String>,
}

impl ProcessInfo {
    /// Reads /proc/<pid>; `None` if there is no such process.
    pub fn read(pid: i32) -> Option<ProcessInfo> {
        let dir = Path::new("/proc").join(pid.to_string());
        let stat = std::fs::read_to_string(dir.join("stat")).ok()?;
        let cmdline = std::fs::read(dir.join("cmdline")).unwrap_or_default();
        parse(pid, &stat, &cmdline)
    }

    /// Whether this very process still runs. A zombie has finished: only
    /// its exit status waits for its parent to collect it.
    pub fn is_running(&self) -> bool {
        ProcessInfo::read(self.pid)
            .is_some_and(|now| now.start_time == self.start_time && now.state != 'Z')
    }

    pub fn command(&self) -> String {
        self.cmdline.join(" ")
    }
}

/// Parses /proc/<pid>/stat (`pid (name) state ppid ...`, field 22 the start
/// time; the name may hold spaces and parentheses, so fields are counted
/// from the last `)`) and the NUL-separated cmdline.
fn parse(pid: i32, stat: &str, cmdline: &[u8]) -> Option<ProcessInfo> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let name = stat.get(open + 1..close)?.to_string();
    let fields: Vec<&str> = stat.get(close + 1..)?.split_whitespace().collect();
    let state = fields.first()?.chars().next()?;
    let parent = fields.get(1)?.parse().ok()?;
    let start_time = fields.get(19)?.parse().ok()?;
    let cmdline = cmdline
        .split(|b| *b == 0)
        .filter(|arg| !arg.is_empty())
        .map(|arg| String::from_utf8_lossy(arg).into_owned())
        .collect();
    Some(ProcessInfo {
        pid,
        parent,
        start_time,
        state,
        name,
        cmdline,
    })
}

/// Every process visible in /proc.
pub fn all_processes() -> Vec<ProcessInfo> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .filter_map(ProcessInfo::read)
        .collect()
}

/// The children of `pid`, zombies included (they are not reaped yet).
pub fn children(pid: i32) -> Vec<ProcessInfo> {
    all_processes()
        .into_iter()
        .filter(|p| p.parent == pid)
        .collect()
}

/// Whether a process `pid` exists (a zombie counts: it is not reaped yet).
pub fn exists(pid: i32) -> bool {
    ProcessInfo::read(pid).is_some()
}

/// The running descendants of `pid` (children, their children, ...).
pub fn descendants(pid: i32) -> Vec<ProcessInfo> {
    let all = all_processes();
    let mut found: Vec<ProcessInfo> = Vec::new();
    let mut parents = vec![pid];
    while let Some(parent) = parents.pop() {
        for process in all.iter().filter(|p| p.parent == parent && p.state != 'Z') {
            parents.push(process.pid);
            found.push(process.clone());
        }
    }
    found
}

/// Running processes whose command line mentions `text` (e.g. a test's
/// datadir root).
pub fn mentioning(text: &str) -> Vec<ProcessInfo> {
    all_processes()
        .into_iter()
        .filter(|p| p.state != 'Z' && p.cmdline.iter().any(|arg| arg.contains(text)))
        .collect()
}

/// Time on a CPU so far of every thread of `pid` (the first field of each
/// thread's /proc/<pid>/task/<tid>/schedstat); zero if it is gone.
pub fn cpu_time(pid: i32) -> Duration {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Duration::ZERO;
    };
    let nanos: u64 = tasks
        .filter_map(|task| {
            let schedstat = std::fs::read_to_string(task.ok()?.path().join("schedstat")).ok()?;
            schedstat.split_whitespace().next()?.parse::<u64>().ok()
        })
        .sum();
    Duration::from_nanos(nanos)
}

/// Sends `signal` (e.g. [`Signal::TERM`]) to `pid`.
pub fn send_signal(pid: i32, signal: Signal) -> io::Result<()> {
    let target = rustix::process::Pid::from_raw(pid).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{pid} is not a process id"),
        )
    })?;
    rustix::process::kill_process(target, signal).map_err(|e| {
        // Named as kill(1) names it: `kill -TERM 42`.
        // (rustix's Debug says `"Signal::TERM"`, quotes included).
        let name = format!("{signal:?}");
        let name = name.trim_matches('"').trim_start_matches("Signal::");
        io::Error::new(e.kind(), format!("kill -{name} {pid} failed: {e}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_odd_names() {
        let stat =
            "42 (kestrel (x) y) S 7 42 42 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 123456 1 1 1";
        let info = parse(42, stat, b"/bin/kestreld\0-datadir=/tmp/a b\0").unwrap();
        assert_eq!(info.name, "kestrel (x) y");
        assert_eq!(info.state, 'S');
        assert_eq!(info.parent, 7);
        assert_eq!(info.start_time, 123456);
        assert_eq!(info.cmdline, ["/bin/kestreld", "-datadir=/tmp/a b"]);
        assert!(parse(1, "garbage", b"").is_none());
    }

    #[test]
    fn finds_a_child_of_this_process() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        let children = descendants(std::process::id() as i32);
        let found = children.iter().find(|p| p.pid == pid).cloned();
        let info = found.expect("the child is listed");
        assert!(info.is_running());
        assert_eq!(info.cmdline, ["sleep", "30"]);
        send_signal(pid, Signal::KILL).unwrap();
        child.wait().unwrap();
        assert!(!info.is_running());
    }

    #[test]
    fn cpu_time_counts_what_this_process_spends_and_nothing_of_a_gone_one() {
        let this = std::process::id() as i32;
        let before = cpu_time(this);
        // Busy until 30 ms of CPU are counted: by CPU, not wall time, so a
        // loaded machine only makes it take longer.
        let wanted = Duration::from_millis(30);
        let started = std::time::Instant::now();
        let mut spent = Duration::ZERO;
        while spent < wanted && started.elapsed() < Duration::from_secs(10) {
            std::hint::black_box(0u64);
            spent = cpu_time(this) - before;
        }
        let wall = started.elapsed();
        assert!(
            spent >= wanted,
            "{wall:?} of busy work counted as {spent:?}"
        );
        // Never more than every CPU for the whole time, give or take the
        // kernel's accounting, which may credit a running thread late.
        let cpus = std::thread::available_parallelism().unwrap().get() as u32;
        let most = wall * cpus + Duration::from_millis(20);
        assert!(spent <= most, "{spent:?} in {wall:?} on {cpus} CPUs");
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id() as i32;
        child.wait().unwrap();
        assert_eq!(cpu_time(pid), Duration::ZERO);
    }

    #[test]
    fn children_are_found_and_gone_once_reaped() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        let this = std::process::id() as i32;
        // Other tests of this process may have children of their own.
        assert!(children(this).iter().any(|p| p.pid == pid));
        assert!(exists(pid));
        send_signal(pid, Signal::KILL).unwrap();
        child.wait().unwrap();
        assert!(!exists(pid));
        assert!(!children(this).iter().any(|p| p.pid == pid));
        let err = send_signal(pid, Signal::TERM).unwrap_err();
        assert!(err.to_string().contains("kill -TERM"), "{err}");
    }
}
