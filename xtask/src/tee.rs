//! Running a command whose output is shown live and also kept, like
//! `cmd 2>&1 | tee`: `cargo test` streams its tests as they run, and the
//! copy is what the counts are read from afterwards.

use std::io::{Read, Write};
use std::process::{Command, ExitStatus, Stdio};

use anyhow::{Context, Result};
use xshell::Cmd;

/// What a teed command printed (stdout and stderr merged in the order they
/// were written) and how it ended.
pub struct Teed {
    pub status: ExitStatus,
    pub output: String,
}

/// Runs `cmd` with stdout and stderr going to one pipe whose bytes are
/// copied to `live` as they arrive and kept. The command is echoed to
/// stderr first (as `xshell`'s `run` does). A failing exit is not an
/// error here: the caller reads the output to see what failed.
pub fn run_teed(cmd: Cmd<'_>, live: &mut impl Write) -> Result<Teed> {
    eprintln!("$ {cmd}");
    let shown = cmd.to_string();
    let mut command = Command::from(cmd);
    let (mut reader, writer) = std::io::pipe().context("creating a pipe")?;
    command
        .stdin(Stdio::null())
        .stdout(writer.try_clone().context("duplicating a pipe")?)
        .stderr(writer);
    let mut child = command
        .spawn()
        .with_context(|| format!("running {shown}"))?;
    // The pipe's write ends live in `command` until it is dropped; only then
    // does the read below see the end once the child exits.
    drop(command);
    let mut kept = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e).with_context(|| format!("reading the output of {shown}")),
        };
        live.write_all(&buf[..n])?;
        live.flush()?;
        kept.extend_from_slice(&buf[..n]);
    }
    let status = child
        .wait()
        .with_context(|| format!("waiting for {shown}"))?;
    Ok(Teed {
        status,
        output: String::from_utf8_lossy(&kept).into_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use xshell::{cmd, Shell};

    #[test]
    fn both_streams_are_shown_and_kept_in_order_with_the_status() {
        let sh = Shell::new().unwrap();
        let script = "echo one; echo two >&2; printf 'no newline'; exit 3";
        let mut live = Vec::new();
        let teed = run_teed(cmd!(sh, "sh -c {script}"), &mut live).unwrap();
        assert_eq!(teed.output, "one\ntwo\nno newline");
        assert_eq!(String::from_utf8(live).unwrap(), teed.output);
        assert_eq!(teed.status.code(), Some(3));
    }

    #[test]
    fn output_arrives_while_the_command_still_runs() {
        // The child prints, then waits (up to 10 s) for a file that only the
        // live side creates when the first bytes reach it. Held-back output
        // would make the child give up and say so.
        struct Signal(std::path::PathBuf);
        impl Write for Signal {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                std::fs::write(&self.0, b"")?;
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let seen = dir.path().join("seen");
        let sh = Shell::new().unwrap();
        let script = "echo early; i=0; while [ ! -e \"$0\" ]; do \
                      i=$((i+1)); [ $i -gt 100 ] && { echo held back; exit 1; }; sleep 0.1; \
                      done; echo late";
        let teed = run_teed(cmd!(sh, "sh -c {script} {seen}"), &mut Signal(seen.clone())).unwrap();
        assert_eq!(teed.output, "early\nlate\n");
        assert!(teed.status.success());
    }

    #[test]
    fn a_missing_program_is_an_error_naming_it() {
        let sh = Shell::new().unwrap();
        let err = run_teed(cmd!(sh, "kestrel-no-such-program"), &mut Vec::new())
            .err()
            .unwrap();
        assert!(
            format!("{err:#}").contains("kestrel-no-such-program"),
            "{err:#}"
        );
    }
}
