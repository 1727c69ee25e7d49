//! Blocks reported accepted survive `kill -9` of the process writing them.
//!
//! The test re-runs this test binary as a child that mines one block at a
//! time and prints each accepted block; after a number of reports the parent
//! kills it (SIGKILL) wherever it is, reopens the chain and looks for every
//! reported block.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use kestrel_chain::{BlockHash, ChainState, PrivateKey};

const CHILD_DIR_VAR: &str = "KESTREL_KILL9_CHILD_DIR";

#[test]
#[ignore = "run by kill_9_keeps_every_reported_block as its child process"]
fn child_mines_until_killed() {
    let Ok(dir) = std::env::var(CHILD_DIR_VAR) else {
        return;
    };
    let chain = ChainState::open(dir.as_ref()).unwrap();
    let address = PrivateKey::generate().unwrap().address();
    let mut stdout = std::io::stdout();
    // Bounded in case the parent never kills it.
    for _ in 0..100_000 {
        let hash = chain.generate_to(&address, 1).unwrap()[0];
        writeln!(stdout, "accepted {} {hash}", chain.tip().0).unwrap();
        stdout.flush().unwrap();
    }
}

#[test]
fn kill_9_keeps_every_reported_block() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_mines_until_killed",
            "--ignored",
            "--nocapture",
        ])
        .env(CHILD_DIR_VAR, dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut reported: Vec<(u32, BlockHash)> = Vec::new();
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        let Some(rest) = line.strip_prefix("accepted ") else {
            continue;
        };
        let (height, hash) = rest.split_once(' ').unwrap();
        reported.push((height.parse().unwrap(), hash.parse().unwrap()));
        if reported.len() == 40 {
            child.kill().unwrap();
            break;
        }
    }
    child.wait().unwrap();
    assert_eq!(reported.len(), 40, "the child stopped reporting early");

    let chain = ChainState::open(dir.path()).unwrap();
    for (height, hash) in reported {
        assert_eq!(chain.block_hash(height), Some(hash), "block {height} lost");
    }
}
