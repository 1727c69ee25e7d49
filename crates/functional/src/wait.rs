//! Waiting for a condition with a timeout (Bitcoin's `wait_until`): tests
//! wait for what they need to see, never for a fixed time.

use std::time::{Duration, Instant};

/// The default patience for a condition in a scenario: long enough for a
/// loaded 2-core machine running debug builds.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

const FIRST_POLL: Duration = Duration::from_millis(10);
const MAX_POLL: Duration = Duration::from_millis(200);

/// The condition still did not hold at the deadline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimedOut {
    pub what: String,
    pub after: Duration,
}

impl std::fmt::Display for TimedOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "timed out after {:?} waiting for {}",
            self.after, self.what
        )
    }
}

impl std::error::Error for TimedOut {}

/// Polls `condition` (often at first, then less) until it returns true or
/// `timeout` passes. It is checked once more at the deadline, so a slow
/// last poll cannot make it miss.
pub fn try_wait_until(
    what: &str,
    timeout: Duration,
    mut condition: impl FnMut() -> bool,
) -> Result<(), TimedOut> {
    let start = Instant::now();
    let mut poll = FIRST_POLL;
    loop {
        if condition() {
            return Ok(());
        }
        let elapsed = start.elapsed();
        if elapsed >= timeout {
            return Err(TimedOut {
                what: what.to_string(),
                after: elapsed,
            });
        }
        std::thread::sleep(poll.min(timeout - elapsed));
        poll = (poll * 2).min(MAX_POLL);
    }
}

/// [`try_wait_until`], failing the test on timeout.
pub fn wait_until(what: &str, timeout: Duration, condition: impl FnMut() -> bool) {
    if let Err(timed_out) = try_wait_until(what, timeout, condition) {
        panic!("{timed_out}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn returns_once_the_condition_holds() {
        let mut polls = 0;
        try_wait_until("the third poll", DEFAULT_TIMEOUT, || {
            polls += 1;
            polls == 3
        })
        .unwrap();
        assert_eq!(polls, 3);
    }

    #[test]
    fn times_out_naming_what_it_waited_for() {
        let err = try_wait_until("never", Duration::from_millis(30), || false).unwrap_err();
        assert_eq!(err.what, "never");
        assert!(err.after >= Duration::from_millis(30));
        assert!(err.to_string().contains("waiting for never"), "{err}");
    }

    #[test]
    #[should_panic(expected = "waiting for the impossible")]
    fn wait_until_fails_the_test() {
        wait_until("the impossible", Duration::from_millis(1), || false);
    }
}
