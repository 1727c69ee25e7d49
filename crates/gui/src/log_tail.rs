//! The console pane's source: the newest lines of a log file, read
//! incrementally (only what was appended since the last look).

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// How much of an existing log is read at first: its tail, not all of it.
const INITIAL_BYTES: u64 = 64 * 1024;

pub struct LogTail {
    path: PathBuf,
    /// Bytes of the file consumed so far.
    offset: Option<u64>,
    /// The last line, while it has no newline yet.
    partial: Vec<u8>,
    lines: VecDeque<String>,
    keep: usize,
}

impl LogTail {
    /// Follows `path` (which may not exist yet), keeping `keep` lines.
    pub fn new(path: &Path, keep: usize) -> Self {
        Self {
            path: path.to_path_buf(),
            offset: None,
            partial: Vec::new(),
            lines: VecDeque::new(),
            keep,
        }
    }

    /// Reads what was appended; true if there are new lines. A file that
    /// shrank (rotated, truncated) is read again from its start.
    pub fn poll(&mut self) -> io::Result<bool> {
        let mut file = match File::open(&self.path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(e),
        };
        let len = file.metadata()?.len();
        let start = match self.offset {
            Some(offset) if offset <= len => offset,
            Some(_) => {
                self.partial.clear();
                0
            }
            None => len.saturating_sub(INITIAL_BYTES),
        };
        file.seek(SeekFrom::Start(start))?;
        let mut appended = Vec::new();
        file.take(len - start).read_to_end(&mut appended)?;
        self.offset = Some(start + appended.len() as u64);
        self.partial.extend_from_slice(&appended);
        let Some(last_newline) = self.partial.iter().rposition(|b| *b == b'\n') else {
            return Ok(false);
        };
        let complete: Vec<u8> = self.partial.drain(..=last_newline).collect();
        for line in String::from_utf8_lossy(&complete).lines() {
            self.lines.push_back(line.to_string());
        }
        while self.lines.len() > self.keep {
            self.lines.pop_front();
        }
        Ok(true)
    }

    pub fn lines(&self) -> Vec<String> {
        self.lines.iter().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn follows_appends_keeps_the_newest_and_rereads_a_truncated_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("debug.log");
        let mut tail = LogTail::new(&path, 3);
        assert!(!tail.poll().unwrap(), "no file yet");

        let mut file = File::create(&path).unwrap();
        write!(file, "one\ntwo\nthr").unwrap();
        assert!(tail.poll().unwrap());
        assert_eq!(tail.lines(), ["one", "two"]);
        assert!(!tail.poll().unwrap(), "nothing new");

        write!(file, "ee\nfour\nfive\n").unwrap();
        assert!(tail.poll().unwrap());
        assert_eq!(tail.lines(), ["three", "four", "five"]);

        let mut file = File::create(&path).unwrap();
        writeln!(file, "fresh").unwrap();
        assert!(tail.poll().unwrap());
        assert_eq!(tail.lines(), ["four", "five", "fresh"]);
    }
}
