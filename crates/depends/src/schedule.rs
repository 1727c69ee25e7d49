//! Which packages of a run build at once, and the one `-j N` budget they
//! share.
//!
//! A package starts as soon as every package it depends on has finished
//! (not when a whole "wave" has). The budget is a GNU make jobserver with
//! N tokens: a package holds one token while it builds (the implicit job
//! of its `make`), and every `make` (also the one `cmake --build` runs)
//! takes further tokens from the same pipe for its parallel jobs, so two
//! packages building at once never run more than N compile jobs together.

use std::io;
use std::process::Command;
use std::sync::mpsc;

/// The run's `-j N`, shared by every package build through one jobserver.
pub struct JobBudget {
    client: jobserver::Client,
    jobs: usize,
}

impl JobBudget {
    pub fn new(jobs: usize) -> io::Result<JobBudget> {
        let jobs = jobs.max(1);
        Ok(JobBudget {
            client: jobserver::Client::new(jobs)?,
            jobs,
        })
    }

    /// N of `-j N`.
    pub fn jobs(&self) -> usize {
        self.jobs
    }

    /// Blocks until a token is free: a package holds one while it builds.
    pub fn acquire(&self) -> io::Result<jobserver::Acquired> {
        self.client.acquire()
    }

    /// Lets `cmd` (a `make`, or the cmake step, whose `cmake` crate hands
    /// `CARGO_MAKEFLAGS` on to make) take jobs from this budget: sets
    /// `MAKEFLAGS`/`CARGO_MAKEFLAGS` to the jobserver and keeps its pipe open
    /// in the child. Such a `make` must not be given `-jN` as well (an
    /// explicit `-j` makes GNU make leave the jobserver).
    pub fn share_with(&self, cmd: &mut Command) {
        self.client.configure_make(cmd);
    }
}

/// The packages grouped by how they can run at once: wave 0 needs nothing
/// from this run, wave k+1 waits for something in wave k. `dependencies[i]`
/// lists the indexes (into the same slice) that package `i` waits for.
pub fn waves(dependencies: &[Vec<usize>]) -> Vec<Vec<usize>> {
    let mut level: Vec<usize> = Vec::with_capacity(dependencies.len());
    for (i, deps) in dependencies.iter().enumerate() {
        assert!(
            deps.iter().all(|&d| d < i),
            "dependencies come first in a plan"
        );
        level.push(deps.iter().map(|&d| level[d] + 1).max().unwrap_or(0));
    }
    let mut waves: Vec<Vec<usize>> = Vec::new();
    for (i, &l) in level.iter().enumerate() {
        if waves.len() <= l {
            waves.resize(l + 1, Vec::new());
        }
        waves[l].push(i);
    }
    waves
}

/// Runs `job(i)` for every index of `dependencies`, each on its own thread
/// as soon as the jobs it depends on (indexes, all smaller than `i`) have
/// succeeded. After a failure nothing new starts; the jobs already running
/// finish. Returns every failure, in the order they happened.
pub fn run_when_ready<E: Send>(
    dependencies: &[Vec<usize>],
    job: impl Fn(usize) -> Result<(), E> + Sync,
) -> Result<(), Vec<(usize, E)>> {
    let count = dependencies.len();
    let mut started = vec![false; count];
    let mut succeeded = vec![false; count];
    let mut failures = Vec::new();
    std::thread::scope(|scope| {
        let (finished, results) = mpsc::channel();
        let job = &job;
        let mut running = 0;
        loop {
            if failures.is_empty() {
                for i in 0..count {
                    if !started[i] && dependencies[i].iter().all(|&d| succeeded[d]) {
                        started[i] = true;
                        running += 1;
                        let finished = finished.clone();
                        scope.spawn(move || {
                            let result =
                                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(i)));
                            let _ = finished.send((i, result));
                        });
                    }
                }
            }
            if running == 0 {
                break;
            }
            let (i, result) = results.recv().expect("every job sends its result");
            running -= 1;
            match result {
                Ok(Ok(())) => succeeded[i] = true,
                Ok(Err(e)) => failures.push((i, e)),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
    });
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Barrier, Mutex};

    #[test]
    fn waves_put_each_package_one_after_its_last_dependency() {
        // 0 and 1 independent; 2 needs 0; 3 needs 1 and 2.
        let deps = vec![vec![], vec![], vec![0], vec![1, 2]];
        assert_eq!(waves(&deps), vec![vec![0, 1], vec![2], vec![3]]);
        assert_eq!(waves(&[]), Vec::<Vec<usize>>::new());
    }

    #[test]
    fn independent_jobs_run_at_once_and_dependents_wait() {
        // 0 and 1 can only both pass the barrier if they run at once; 2
        // must see both finished.
        let barrier = Barrier::new(2);
        let finished = Mutex::new(Vec::new());
        let deps = vec![vec![], vec![], vec![0, 1]];
        run_when_ready(&deps, |i| -> Result<(), ()> {
            if i < 2 {
                barrier.wait();
            } else {
                assert_eq!(finished.lock().unwrap().len(), 2);
            }
            finished.lock().unwrap().push(i);
            Ok(())
        })
        .unwrap();
        assert_eq!(finished.into_inner().unwrap().last(), Some(&2));
    }

    #[test]
    fn a_failure_stops_its_dependents_and_running_jobs_finish() {
        // 0 fails while 1 runs (the barrier holds both); 2 needs 0 and
        // never starts; 1 still finishes before the run returns.
        let barrier = Barrier::new(2);
        let ran = Mutex::new(Vec::new());
        let deps = vec![vec![], vec![], vec![0]];
        let failures = run_when_ready(&deps, |i| {
            if i < 2 {
                barrier.wait();
            }
            ran.lock().unwrap().push(i);
            if i == 0 {
                Err("broken")
            } else {
                Ok(())
            }
        })
        .unwrap_err();
        assert_eq!(failures, vec![(0, "broken")]);
        let mut ran = ran.into_inner().unwrap();
        ran.sort();
        assert_eq!(ran, vec![0, 1]);
    }

    #[test]
    fn a_package_holds_one_token_of_the_budget_until_it_is_done() {
        let budget = JobBudget::new(2).unwrap();
        assert_eq!(budget.client.available().unwrap(), 2);
        let token = budget.acquire().unwrap();
        assert_eq!(budget.client.available().unwrap(), 1);
        drop(token);
        assert_eq!(budget.client.available().unwrap(), 2);
    }
}
