//! The option tables of every Kestrel executable: the common options, and
//! those of the node, its IPC, the wallet process, the cli and the gui.

use crate::args::{OptionKind, OptionSpec};

const fn opt(
    name: &'static str,
    kind: OptionKind,
    value_hint: &'static str,
    help: &'static str,
) -> OptionSpec {
    OptionSpec {
        name,
        kind,
        value_hint,
        help,
        command_line_only: false,
    }
}

/// An option only the command line may set (not the config file).
const fn command_line_opt(
    name: &'static str,
    kind: OptionKind,
    value_hint: &'static str,
    help: &'static str,
) -> OptionSpec {
    OptionSpec {
        command_line_only: true,
        ..opt(name, kind, value_hint, help)
    }
}

/// Options every executable accepts.
pub const COMMON_OPTIONS: &[OptionSpec] = &[
    command_line_opt(
        "help",
        OptionKind::Flag,
        "",
        "Print this help message and exit (also -h, -?)",
    ),
    command_line_opt(
        "datadir",
        OptionKind::Value,
        "<dir>",
        "Data directory (default: ~/.kestrel); must exist when given",
    ),
    command_line_opt(
        "conf",
        OptionKind::Value,
        "<file>",
        "Config file, relative paths are inside the datadir (default: kestrel.conf)",
    ),
    opt(
        "regtest",
        OptionKind::Flag,
        "",
        "Use the regression test chain (always on: data lives in <datadir>/regtest)",
    ),
    opt(
        "rpcport",
        OptionKind::Value,
        "<port>",
        "JSON-RPC port (default: 18443)",
    ),
    opt(
        "rpcuser",
        OptionKind::Value,
        "<user>",
        "Username for JSON-RPC (with -rpcpassword; default: cookie authentication)",
    ),
    opt(
        "rpcpassword",
        OptionKind::Value,
        "<pw>",
        "Password for JSON-RPC (with -rpcuser)",
    ),
];

/// Logging options of the node and wallet executables.
pub const LOG_OPTIONS: &[OptionSpec] = &[
    opt(
        "printtoconsole",
        OptionKind::Flag,
        "",
        "Send log output to the console as well as to debug.log",
    ),
    opt(
        "debug",
        OptionKind::List,
        "<category>",
        "Log debug output of a category (repeatable; 1 or no value: all). Categories: rpc, http, chain, wallet, ipc",
    ),
];

/// Options of the node executables (`kestreld`, `kestrel-node`).
pub const NODE_OPTIONS: &[OptionSpec] = &[opt(
    "rpcbind",
    OptionKind::Value,
    "<addr>",
    "Bind the JSON-RPC server to this loopback address (default: 127.0.0.1)",
)];

/// IPC options of the multiprocess node, `kestrel-node`.
pub const NODE_IPC_OPTIONS: &[OptionSpec] = &[
    opt(
        "ipcbind",
        OptionKind::Value,
        "<address>",
        "Listen for IPC connections from other processes (kestrel-wallet -ipcconnect, kestrel-gui) at unix (default: <datadir>/regtest/sockets/node.sock) or unix:<path>",
    ),
    opt(
        "ipcspin",
        OptionKind::Value,
        "<us>",
        "Microseconds the IPC event loop keeps polling its sockets before it sleeps (default: 50; 0: sleep at once; never when the process may run on one CPU only): a reply that comes meanwhile needs no CPU woken up, for a little CPU after each call",
    ),
    command_line_opt(
            "ipcfd",
            OptionKind::Value,
            "<fd>",
            "Serve the node on this inherited socket and stop when it closes (set by kestrel-gui when it spawns the node; not for use by hand)",
    ),
];

/// Options of `kestrel-wallet`, the wallet process.
pub const WALLET_PROCESS_OPTIONS: &[OptionSpec] = &[
    command_line_opt(
            "ipcfd",
            OptionKind::Value,
            "<fd>",
            "Serve IPC on this inherited socket (set by kestrel-node when it spawns its wallet; not for use by hand)",
    ),
    opt(
        "ipcconnect",
        OptionKind::Value,
        "<address>",
        "Attach to a running kestrel-node -ipcbind at unix (default: <datadir>/regtest/sockets/node.sock) or unix:<path>",
    ),
    opt(
        "wallet",
        OptionKind::Value,
        "<name>",
        "With -ipcconnect: the wallet to load, <datadir>/regtest/wallets/<name>.json (default: the datadir's own wallet, <datadir>/regtest/wallet.json)",
    ),
    opt(
        "ipcspin",
        OptionKind::Value,
        "<us>",
        "Microseconds the IPC event loop keeps polling its sockets before it sleeps (default: 50; 0: sleep at once; never when the process may run on one CPU only): a reply that comes meanwhile needs no CPU woken up, for a little CPU after each call",
    ),
];

/// Options of `kestrel-cli`.
pub const CLI_OPTIONS: &[OptionSpec] = &[
    opt(
        "rpcconnect",
        OptionKind::Value,
        "<ip>",
        "Send commands to the node at this loopback address (default: 127.0.0.1)",
    ),
    opt(
        "rpcwait",
        OptionKind::Flag,
        "",
        "Wait for the RPC server to start",
    ),
    opt(
        "rpcwaittimeout",
        OptionKind::Value,
        "<n>",
        "Give up -rpcwait after n seconds (default: 0, wait forever)",
    ),
];

/// Options of `kestrel-gui` beyond the node's, which it hands on to the
/// `kestrel-node` it spawns.
pub const GUI_OPTIONS: &[OptionSpec] = &[command_line_opt(
    "ipcconnect",
    OptionKind::Value,
    "unix[:<path>]",
    "Attach to the node listening there (default path: <datadir>/regtest/sockets/node.sock) instead of spawning one",
)];

/// Every option set of every executable: a config file is shared by all of
/// them, so a key known to any is accepted there (and ignored by the
/// executables that do not use it).
pub const ALL_OPTION_SETS: &[&[OptionSpec]] = &[
    COMMON_OPTIONS,
    LOG_OPTIONS,
    NODE_OPTIONS,
    NODE_IPC_OPTIONS,
    WALLET_PROCESS_OPTIONS,
    CLI_OPTIONS,
    GUI_OPTIONS,
];
