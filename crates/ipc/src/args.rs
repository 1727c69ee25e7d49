//! The `-ipcfd=N`, `-ipcbind=...`, `-ipcconnect=...` and `-ipcspin=...`
//! options.

use std::os::fd::RawFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::IpcError;

/// Where a Unix socket is: `unix` (the default path in the datadir) or
/// `unix:<path>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UnixAddress {
    Default,
    Path(PathBuf),
}

impl UnixAddress {
    /// The socket path; `datadir` resolves the default and relative paths.
    pub fn resolve(&self, datadir: &Path) -> PathBuf {
        match self {
            Self::Default => default_socket_path(datadir),
            Self::Path(path) => datadir.join(path),
        }
    }
}

/// `<datadir>/regtest/sockets/node.sock` (the layout is kestrel-common's).
pub fn default_socket_path(datadir: &Path) -> PathBuf {
    kestrel_common::datadir::DataDir::new(datadir).default_socket_path()
}

/// One IPC option of a process's command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IpcOption {
    /// `-ipcfd=N`: serve `Init` on the inherited socket N.
    Fd(RawFd),
    /// `-ipcbind=unix[:path]`: listen there.
    Bind(UnixAddress),
    /// `-ipcconnect=unix[:path]`: attach to a process listening there.
    Connect(UnixAddress),
}

impl IpcOption {
    /// Parses one command-line argument; `Ok(None)` if it is not an IPC
    /// option. Accepts `-name=value` and `--name=value`.
    pub fn parse(arg: &str) -> Result<Option<Self>, IpcError> {
        let Some((name, value)) = arg.trim_start_matches('-').split_once('=') else {
            return Ok(None);
        };
        if !arg.starts_with('-') {
            return Ok(None);
        }
        match name {
            "ipcfd" => parse_ipcfd(value).map(|fd| Some(Self::Fd(fd))),
            "ipcbind" => parse_unix_address("-ipcbind", value).map(|a| Some(Self::Bind(a))),
            "ipcconnect" => {
                parse_unix_address("-ipcconnect", value).map(|a| Some(Self::Connect(a)))
            }
            _ => Ok(None),
        }
    }
}

/// The value of `-ipcfd`: a file descriptor number (at least 3: 0-2 are
/// stdio).
pub fn parse_ipcfd(value: &str) -> Result<RawFd, IpcError> {
    let bad = |reason: &str| IpcError::BadArgument {
        option: "-ipcfd",
        value: value.to_string(),
        reason: reason.to_string(),
    };
    let fd: RawFd = value.parse().map_err(|_| {
        bad("expected a file descriptor number; -ipcfd is set by the process that spawns this one")
    })?;
    if fd < 3 {
        return Err(bad(
            "0, 1 and 2 are stdin, stdout and stderr, not an IPC socket",
        ));
    }
    Ok(fd)
}

/// How long an event loop polls its sockets before it sleeps, unless
/// `-ipcspin` says otherwise. `cargo xtask bench ipc` (rows 3s): between
/// free processes a round trip took 16 us with it against 89 us without,
/// and less CPU (no vCPU wake-ups); with 200 us between calls about 40 us
/// more CPU per call; idle, no more than without.
pub const DEFAULT_IPC_SPIN: Duration = Duration::from_micros(50);

/// The value of `-ipcspin` (microseconds, at most a second; 0: sleep at
/// once), or [`DEFAULT_IPC_SPIN`] when it is not given.
pub fn parse_ipcspin(value: Option<&str>) -> Result<Duration, IpcError> {
    let Some(value) = value else {
        return Ok(DEFAULT_IPC_SPIN);
    };
    match value.parse::<u64>() {
        Ok(us) if us <= 1_000_000 => Ok(Duration::from_micros(us)),
        _ => Err(IpcError::BadArgument {
            option: "-ipcspin",
            value: value.to_string(),
            reason: "expected microseconds from 0 (sleep at once) to 1000000".to_string(),
        }),
    }
}

/// The value of `-ipcbind` or `-ipcconnect` (named by `option`).
pub fn parse_unix_address(option: &'static str, value: &str) -> Result<UnixAddress, IpcError> {
    let bad = |reason: &str| IpcError::BadArgument {
        option,
        value: value.to_string(),
        reason: reason.to_string(),
    };
    match value.split_once(':') {
        None if value == "unix" => Ok(UnixAddress::Default),
        Some(("unix", "")) => Err(bad(
            "the path after 'unix:' is empty; use unix or unix:<path>",
        )),
        Some(("unix", path)) => Ok(UnixAddress::Path(PathBuf::from(path))),
        _ => Err(bad(
            "only Unix sockets are supported: use unix or unix:<path>",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_option() {
        assert_eq!(
            IpcOption::parse("-ipcfd=7").unwrap(),
            Some(IpcOption::Fd(7))
        );
        assert_eq!(
            IpcOption::parse("-ipcbind=unix").unwrap(),
            Some(IpcOption::Bind(UnixAddress::Default))
        );
        assert_eq!(
            IpcOption::parse("--ipcconnect=unix:/run/k.sock").unwrap(),
            Some(IpcOption::Connect(UnixAddress::Path("/run/k.sock".into())))
        );
        assert_eq!(IpcOption::parse("-datadir=/x").unwrap(), None);
        assert_eq!(IpcOption::parse("ipcfd=3").unwrap(), None);
    }

    #[test]
    fn bad_values_name_the_option_and_the_fix() {
        let e = IpcOption::parse("-ipcfd=abc").unwrap_err().to_string();
        assert!(
            e.contains("-ipcfd=abc") && e.contains("file descriptor"),
            "{e}"
        );
        let e = IpcOption::parse("-ipcfd=1").unwrap_err().to_string();
        assert!(e.contains("stdout"), "{e}");
        let e = IpcOption::parse("-ipcbind=tcp:127.0.0.1:1")
            .unwrap_err()
            .to_string();
        assert!(e.contains("-ipcbind") && e.contains("unix:<path>"), "{e}");
        let e = IpcOption::parse("-ipcconnect=unix:")
            .unwrap_err()
            .to_string();
        assert!(e.contains("empty"), "{e}");
    }

    #[test]
    fn ipcspin_takes_microseconds_and_defaults() {
        assert_eq!(parse_ipcspin(None).unwrap(), DEFAULT_IPC_SPIN);
        assert_eq!(parse_ipcspin(Some("0")).unwrap(), Duration::ZERO);
        assert_eq!(
            parse_ipcspin(Some("120")).unwrap(),
            Duration::from_micros(120)
        );
        for bad in ["-1", "1ms", "", "1000001"] {
            let e = parse_ipcspin(Some(bad)).unwrap_err().to_string();
            assert!(e.contains("-ipcspin") && e.contains("microseconds"), "{e}");
        }
    }

    #[test]
    fn default_address_lives_in_the_datadir() {
        let datadir = Path::new("/data");
        assert_eq!(
            UnixAddress::Default.resolve(datadir),
            Path::new("/data/regtest/sockets/node.sock")
        );
        assert_eq!(
            UnixAddress::Path("/abs.sock".into()).resolve(datadir),
            Path::new("/abs.sock")
        );
        assert_eq!(
            UnixAddress::Path("rel.sock".into()).resolve(datadir),
            Path::new("/data/rel.sock")
        );
    }
}
