//! Functional tests of the built node, in the spirit of Bitcoin Core's
//! `test/functional`: a [`TestFramework`] per test (temp datadirs, nodes on
//! free loopback ports, RPC with typed helpers, waits with timeouts, a
//! teardown that stops everything, checks for orphan processes and keeps
//! the logs of a failed test), run against the executable `KESTRELD` names
//! (`kestreld` or `kestrel-node`; default the `kestreld` just built).
//!
//! Test targets: `functional` (every scenario, both builds) and
//! `multiprocess` (scenarios only `kestrel-node` can pass).

pub mod amount;
pub mod binaries;
pub mod framework;
pub mod node;
pub mod process;
pub mod rpc;
pub mod wait;

pub use amount::{Amount, COIN};
pub use binaries::{node_binary, Build};
pub use framework::{sync_blocks, TestFramework};
pub use node::{TestNode, Unspent, WalletTransaction};
pub use rpc::{CallError, Credentials, RpcClient, RpcError};
pub use wait::{wait_until, DEFAULT_TIMEOUT};
