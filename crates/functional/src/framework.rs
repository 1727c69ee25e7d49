//! One test's world (Bitcoin's BitcoinTestFramework): a temp root holding
//! each node's datadir, the nodes, helper processes, and a teardown that
//! stops everything, proves nothing is left running, and keeps the root of
//! a failed test for inspection.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use crate::binaries::{node_binary, Build, NodeBinary};
use crate::node::{tail, wait_for_exit, TestNode};
use crate::process::{mentioning, send_signal, ProcessInfo, Signal};
use crate::wait::{try_wait_until, TimedOut, DEFAULT_TIMEOUT};

/// How long processes of a test may take to vanish once its nodes exited
/// (a child notices its parent's death asynchronously).
const ORPHAN_GRACE: Duration = Duration::from_secs(5);
/// How long a helper process may take to exit on SIGTERM at teardown.
const HELPER_TERM_TIMEOUT: Duration = Duration::from_secs(10);

/// A process a test runs besides its nodes (e.g. a `kestrel-wallet` that
/// attaches with `-ipcconnect`), output captured under the test root.
pub struct TestProcess {
    pub name: String,
    child: Option<Child>,
    stdout_path: PathBuf,
    stderr_path: PathBuf,
}

impl TestProcess {
    pub fn pid(&self) -> Option<i32> {
        self.child.as_ref().map(|c| c.id() as i32)
    }

    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    pub fn stdout_path(&self) -> &Path {
        &self.stdout_path
    }

    pub fn stderr_path(&self) -> &Path {
        &self.stderr_path
    }

    /// Waits for the process to exit by itself and returns its status.
    pub fn wait_for_exit(&mut self, timeout: Duration) -> Result<ExitStatus, TimedOut> {
        let child = self
            .child
            .as_mut()
            .unwrap_or_else(|| panic!("{} already exited", self.name));
        let status = wait_for_exit(child, timeout)?;
        self.child = None;
        Ok(status)
    }

    /// SIGTERM, then SIGKILL if it does not exit in time.
    fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = send_signal(child.id() as i32, Signal::TERM);
        if wait_for_exit(&mut child, HELPER_TERM_TIMEOUT).is_err() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The nodes and processes of one test, under one temp root.
pub struct TestFramework {
    /// `None` only during teardown.
    root: Option<tempfile::TempDir>,
    root_path: PathBuf,
    pub nodes: Vec<TestNode>,
    pub processes: Vec<TestProcess>,
}

/// The longest test name kept in a root's directory name: `-ipcbind`
/// sockets live under the root, and a Unix socket path must fit in 108
/// bytes.
const ROOT_NAME_MAX: usize = 32;

/// The running test's name (libtest names the thread after it), fit for a
/// short directory name.
fn test_name() -> String {
    let name = std::thread::current()
        .name()
        .unwrap_or("test")
        .replace("::", ".");
    // The end of a test's path is its most telling part.
    let skip = name.chars().count().saturating_sub(ROOT_NAME_MAX);
    name.chars()
        .skip(skip)
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

impl TestFramework {
    /// `count` nodes of the binary under test, not started yet (set
    /// `extra_args` first, then [`TestFramework::start_all`]).
    pub fn new(count: usize) -> TestFramework {
        let root = tempfile::Builder::new()
            .prefix(&format!("kestrel-functional-{}-", test_name()))
            .tempdir()
            .unwrap_or_else(|e| panic!("cannot create a temp dir: {e}"));
        let root_path = root.path().to_path_buf();
        let nodes = (0..count)
            .map(|index| TestNode::new(index, &root_path, node_binary()))
            .collect();
        TestFramework {
            root: Some(root),
            root_path,
            nodes,
            processes: Vec::new(),
        }
    }

    /// `count` nodes, started.
    pub fn start(count: usize) -> TestFramework {
        let mut test = TestFramework::new(count);
        test.start_all();
        test
    }

    /// Starts every node that is not running, all at once, and waits until
    /// each answers RPC.
    pub fn start_all(&mut self) {
        let starting: Vec<usize> = (0..self.nodes.len())
            .filter(|&i| !self.nodes[i].is_running())
            .collect();
        for &i in &starting {
            self.nodes[i].spawn(&[]);
        }
        for &i in &starting {
            self.nodes[i].wait_until_started();
        }
    }

    /// The directory holding every datadir and log of this test.
    pub fn root(&self) -> &Path {
        &self.root_path
    }

    pub fn binary(&self) -> &'static NodeBinary {
        node_binary()
    }

    pub fn build(&self) -> Build {
        node_binary().build
    }

    /// Runs `command` as a helper of this test, its output in
    /// `<root>/<name>.stdout.log` and `.stderr.log`; teardown stops it.
    pub fn spawn_process(&mut self, name: &str, mut command: Command) -> &mut TestProcess {
        let stdout_path = self.root_path.join(format!("{name}.stdout.log"));
        let stderr_path = self.root_path.join(format!("{name}.stderr.log"));
        let create = |path: &Path| {
            std::fs::File::create(path)
                .unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()))
        };
        let child = command
            .stdin(Stdio::null())
            .stdout(create(&stdout_path))
            .stderr(create(&stderr_path))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {name} ({command:?}): {e}"));
        self.processes.push(TestProcess {
            name: name.to_string(),
            child: Some(child),
            stdout_path,
            stderr_path,
        });
        self.processes.last_mut().expect("just pushed")
    }

    /// Stops every node and helper and checks that no process of the test
    /// is left. Returns what went wrong.
    fn teardown(&mut self) -> Vec<String> {
        // Ask every node first so they shut down together.
        let stop_requested: Vec<bool> = self.nodes.iter_mut().map(|n| n.request_stop()).collect();
        let mut problems: Vec<String> = self
            .nodes
            .iter_mut()
            .zip(stop_requested)
            .flat_map(|(node, requested)| node.shut_down_for_teardown(requested))
            .collect();
        for process in &mut self.processes {
            process.stop();
        }
        let seen: Vec<ProcessInfo> = self
            .nodes
            .iter()
            .flat_map(|n| n.seen_descendants().iter().cloned())
            .collect();
        let root = self.root_path.to_string_lossy().into_owned();
        let left = || -> Vec<ProcessInfo> {
            let mut left: Vec<ProcessInfo> =
                seen.iter().filter(|p| p.is_running()).cloned().collect();
            for process in mentioning(&root) {
                if !left.iter().any(|p| p.pid == process.pid) {
                    left.push(process);
                }
            }
            left
        };
        if try_wait_until("the test's processes to exit", ORPHAN_GRACE, || {
            left().is_empty()
        })
        .is_err()
        {
            for orphan in left() {
                problems.push(format!(
                    "orphan process left running: pid {} ({}), parent {}: {}",
                    orphan.pid,
                    orphan.name,
                    orphan.parent,
                    orphan.command()
                ));
                let _ = send_signal(orphan.pid, Signal::KILL);
            }
        }
        problems
    }

    /// Where to look after a failure: each node's log tails.
    fn report_logs(&self) -> String {
        let mut report = String::new();
        for node in &self.nodes {
            for path in [node.debug_log_path(), node.stderr_path()] {
                report.push_str(&format!(
                    "--- node{} {} (last lines) ---\n{}\n",
                    node.index,
                    path.display(),
                    tail(&path, 25)
                ));
            }
        }
        report
    }
}

/// Fails the test unless every node has the same best block (Bitcoin's
/// `sync_blocks`), waiting up to the default timeout for it.
pub fn sync_blocks(nodes: &[&TestNode]) {
    let mut last = Vec::new();
    let synced = try_wait_until("the nodes' best blocks to match", DEFAULT_TIMEOUT, || {
        last = nodes.iter().map(|n| n.getbestblockhash()).collect();
        last.windows(2).all(|pair| pair[0] == pair[1])
    });
    if let Err(timed_out) = synced {
        panic!("{timed_out}; best blocks: {last:?}");
    }
}

impl Drop for TestFramework {
    fn drop(&mut self) {
        let problems = self.teardown();
        let failed = std::thread::panicking() || !problems.is_empty();
        let root = self.root.take().expect("teardown runs once");
        if !failed {
            // Dropping the TempDir removes it.
            return;
        }
        let kept = root.keep();
        eprintln!(
            "Test failed: its datadirs and logs are kept in {}\n{}",
            kept.display(),
            self.report_logs()
        );
        if !problems.is_empty() {
            let problems = problems.join("\n");
            if std::thread::panicking() {
                eprintln!("Teardown found:\n{problems}");
            } else {
                panic!("teardown found:\n{problems}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::panic::{catch_unwind, AssertUnwindSafe};
    use std::path::PathBuf;

    use super::*;

    /// The message of a caught panic.
    fn message(payload: Box<dyn std::any::Any + Send>) -> String {
        match payload.downcast::<String>() {
            Ok(text) => *text,
            Err(payload) => payload
                .downcast::<&str>()
                .map(|s| s.to_string())
                .unwrap_or_default(),
        }
    }

    #[test]
    fn root_names_keep_the_end_of_long_test_names() {
        let name = std::thread::Builder::new()
            .name("suite::module::a_scenario_with_a_rather_long_name".into())
            .spawn(test_name)
            .unwrap()
            .join()
            .unwrap();
        assert_eq!(name, "scenario_with_a_rather_long_name");
        assert_eq!(name.len(), ROOT_NAME_MAX);
    }

    #[test]
    fn passing_test_removes_its_root() {
        let root = {
            let test = TestFramework::new(0);
            assert!(test.root().is_dir());
            test.root().to_path_buf()
        };
        assert!(!root.exists(), "{} left behind", root.display());
    }

    #[test]
    fn failing_test_keeps_its_root() {
        let mut root = PathBuf::new();
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            let test = TestFramework::new(0);
            root = test.root().to_path_buf();
            std::fs::write(root.join("evidence.log"), "what happened").unwrap();
            panic!("deliberate failure");
        }));
        assert_eq!(message(outcome.unwrap_err()), "deliberate failure");
        let evidence = std::fs::read_to_string(root.join("evidence.log"));
        std::fs::remove_dir_all(&root).unwrap();
        assert_eq!(evidence.unwrap(), "what happened");
    }

    #[test]
    fn teardown_stops_helpers_and_fails_on_orphans() {
        let mut root = PathBuf::new();
        let mut stray = None;
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            let mut test = TestFramework::new(0);
            root = test.root().to_path_buf();
            let marker = root.join("marker");
            std::fs::write(&marker, "").unwrap();
            // A helper is the framework's to stop: not an orphan.
            let mut helper = Command::new("tail");
            helper.arg("-f").arg(&marker);
            let helper_pid = test.spawn_process("helper", helper).pid();
            assert!(helper_pid.is_some());
            // A process started behind the framework's back, mentioning the
            // test's root, is.
            stray = Some(Command::new("tail").arg("-f").arg(&marker).spawn().unwrap());
        }));
        let mut stray = stray.expect("spawned");
        let stray_pid = stray.id();
        // Teardown killed it; collect its exit status.
        let status = stray.wait().unwrap();
        std::fs::remove_dir_all(&root).unwrap();
        let message = message(outcome.expect_err("teardown must fail the test"));
        assert!(
            message.contains("orphan process left running")
                && message.contains(&format!("pid {stray_pid} ")),
            "{message}"
        );
        assert_eq!(message.matches("orphan process").count(), 1, "{message}");
        assert!(!status.success());
    }
}
