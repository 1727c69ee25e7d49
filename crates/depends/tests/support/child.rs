//! A test's body run again in a child process (under `unshare`, with other
//! environment variables): the test calls [`in_child`] to know which side
//! it is on.

use std::process::Command;

/// Runs this test's body again in a child process, under `prefix` (a
/// command and arguments) with `KESTREL_TEST_CHILD` set, and returns it.
pub fn rerun_in_child(name: &str, prefix: &[&str]) -> Command {
    let exe = std::env::current_exe().unwrap();
    let mut command = Command::new(prefix[0]);
    command
        .args(&prefix[1..])
        .arg(exe)
        .args(["--exact", name, "--nocapture", "--test-threads", "1"])
        .env("KESTREL_TEST_CHILD", name);
    command
}

pub fn in_child(name: &str) -> bool {
    std::env::var("KESTREL_TEST_CHILD").as_deref() == Ok(name)
}
