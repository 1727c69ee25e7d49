//! kestrel-gui's command line, read with kestrel-common's parser. The gui
//! takes the node's options and hands them on to the `kestrel-node` it
//! spawns; of its own it has only `-ipcconnect`, and it reads `-datadir`
//! (where the node's debug.log and default socket are) and `-debug`
//! (whether to log its own IPC calls).

use std::path::PathBuf;

use anyhow::bail;
use kestrel_common::args::{Args, OptionSpec};
use kestrel_common::config;
use kestrel_common::datadir::DataDir;
use kestrel_common::logging::DebugLog;
use kestrel_common::options::{
    COMMON_OPTIONS, GUI_OPTIONS, LOG_OPTIONS, NODE_IPC_OPTIONS, NODE_OPTIONS,
};
use kestrel_ipc::parse_unix_address;

/// The node's options, which the gui hands on, and its own.
const OPTION_SETS: &[&[OptionSpec]] = &[
    COMMON_OPTIONS,
    LOG_OPTIONS,
    NODE_OPTIONS,
    NODE_IPC_OPTIONS,
    GUI_OPTIONS,
];

pub const USAGE: &str = "\
Usage: kestrel-gui [node options] [-ipcconnect=unix[:<path>]]

A terminal front end of the Kestrel node. By default it starts kestrel-node
(found next to kestrel-gui) with the same options and stops it on exit. With
-ipcconnect it attaches to a running `kestrel-node -ipcbind=unix` instead and
leaves it running on exit.

Options of its own:
  -ipcconnect=unix[:<path>]  Attach to the node listening there (default path:
                             <datadir>/regtest/sockets/node.sock)
  -datadir=<dir>             Data directory (default: ~/.kestrel); the console
                             pane shows <datadir>/regtest/debug.log
  -debug=ipc                 Also log the gui's own IPC calls to debug.log
Every other option goes to kestrel-node (see kestrel-node -help).

Keys: o/r/s/l switch screens (Tab cycles), g mines 1 block, G mines 101,
n on Receive makes a new address, q or Ctrl-C quits.";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuiOptions {
    pub datadir: DataDir,
    /// `-ipcconnect`: the socket of a running node to attach to.
    pub connect: Option<PathBuf>,
    /// `-debug=ipc` (or all categories): log this process's IPC calls.
    pub debug_ipc: bool,
    /// What a spawned `kestrel-node` is started with.
    pub node_args: Vec<String>,
}

impl GuiOptions {
    /// `None` when help was asked for.
    pub fn parse<I: IntoIterator<Item = String>>(argv: I) -> anyhow::Result<Option<GuiOptions>> {
        let args = Args::parse(argv, OPTION_SETS).map_err(config::ConfigError::CommandLine)?;
        if args.flag("help") {
            return Ok(None);
        }
        if let Some(arg) = args.positionals().first() {
            bail!("unexpected argument \"{arg}\": kestrel-gui takes options only (-name=value); see kestrel-gui -help");
        }
        if args.value("ipcfd").is_some() {
            bail!(
                "-ipcfd is set by a process that spawns a node; kestrel-gui is started by hand: drop it"
            );
        }
        let connect = args
            .value("ipcconnect")
            .map(|value| parse_unix_address("-ipcconnect", value))
            .transpose()?;
        let debug_ipc = match DebugLog::from_args(&args)? {
            DebugLog::None => false,
            DebugLog::All => true,
            DebugLog::Categories(categories) => categories.iter().any(|c| c == "ipc"),
        };
        // The node's default, so the gui finds the node's files.
        let datadir = config::datadir(&args)?;
        let mut node_args = args.command_line_without(&["ipcconnect"]);
        // The gui owns the terminal: the node must not write its log there.
        node_args.push("-printtoconsole=0".into());
        Ok(Some(GuiOptions {
            connect: connect.map(|address| address.resolve(&datadir.root)),
            debug_ipc,
            node_args,
            datadir,
        }))
    }

    /// `<datadir>/regtest`, where the node keeps debug.log.
    pub fn net_dir(&self) -> PathBuf {
        self.datadir.net_dir()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kestrel_ipc::default_socket_path;

    fn parse(args: &[&str]) -> anyhow::Result<Option<GuiOptions>> {
        GuiOptions::parse(args.iter().map(|a| a.to_string()))
    }

    #[test]
    fn node_options_are_handed_on_and_ipcconnect_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let datadir = format!("-datadir={}", dir.path().display());
        let options = parse(&[&datadir, "-debug=ipc", "-rpcport=1234", "-ipcconnect=unix"])
            .unwrap()
            .unwrap();
        assert_eq!(options.datadir.root, dir.path());
        assert!(options.debug_ipc);
        assert_eq!(
            options.node_args,
            [
                datadir.as_str(),
                "-debug=ipc",
                "-rpcport=1234",
                "-printtoconsole=0"
            ]
        );
        assert_eq!(options.connect, Some(default_socket_path(dir.path())));
        assert_eq!(options.net_dir(), dir.path().join("regtest"));

        let options = parse(&[&datadir, "-debug=rpc", "-ipcconnect=unix:/run/n.sock"])
            .unwrap()
            .unwrap();
        assert!(!options.debug_ipc);
        assert_eq!(options.connect, Some(PathBuf::from("/run/n.sock")));
        assert_eq!(parse(&["-help"]).unwrap(), None);
    }

    #[test]
    fn bad_input_says_what_to_do() {
        let e = parse(&["stray"]).unwrap_err().to_string();
        assert!(e.contains("\"stray\"") && e.contains("-help"), "{e}");
        let e = parse(&["-ipcconnect=tcp:1"]).unwrap_err().to_string();
        assert!(
            e.contains("-ipcconnect") && e.contains("unix:<path>"),
            "{e}"
        );
        let e = parse(&["-datadir=/nonexistent/kestrel"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("does not exist"), "{e}");
        let e = parse(&["-ipcfd=5"]).unwrap_err().to_string();
        assert!(e.contains("drop it"), "{e}");
    }
}
