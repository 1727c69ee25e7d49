//! Running commands and copying trees: what every xtask subcommand shares.

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

/// `cargo` (the one running xtask, if any) in `root`.
pub fn cargo(root: &Path) -> Command {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(root);
    cmd
}

/// A heading between the steps of a long command.
pub fn step(what: &str) {
    println!("\n== {what} ==");
}

/// Runs `cmd` with its output shown; an unsuccessful exit is an error.
pub fn run(cmd: &mut Command) -> Result<()> {
    let status = cmd.status().with_context(|| format!("running {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed ({status})");
    }
    Ok(())
}

/// As [`run`], with output discarded (for timing).
pub fn run_quiet(cmd: &mut Command) -> Result<()> {
    run(cmd.stdout(Stdio::null()).stderr(Stdio::null()))
}

/// Copies the tree at `from` to `to` (regular files and directories).
pub fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
    for entry in fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else {
            fs::copy(entry.path(), &target)
                .with_context(|| format!("copying {}", entry.path().display()))?;
        }
    }
    Ok(())
}
