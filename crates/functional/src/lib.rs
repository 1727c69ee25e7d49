//! Functional tests of the built node, in the spirit of Bitcoin Core's
//! `test/functional`: a [`TestFramework`] per test (temp datadirs, nodes on
//! free loopback ports, RPC with typed helpers, waits with timeouts, a
//! teardown that stops everything, checks for orphan processes and keeps
//! the logs of a failed test), run against the executable `KESTRELD` names
//! (`kestreld` or `kestrel-node`; default the `kestreld` just built).
//!
//! Test targets:
//! - `functional`: every scenario, passing against both builds;
//! - `multiprocess`: scenarios only `kestrel-node` can pass; against
//!   `kestreld` each fails, saying so (a skip would count as a pass).
//!
//! Running them:
//!
//! ```text
//! cargo build -p kestrel-node -p kestrel-cli          # kestreld, kestrel-cli
//! cargo test -p kestrel-functional --lib --test functional
//! KESTRELD=<dir>/kestrel-node cargo test -p kestrel-functional --test functional --test multiprocess
//! ```
//!
//! `KESTREL_CLI` overrides the `kestrel-cli` used (default: the one next to
//! the test executable). A failed test prints where its datadirs and logs
//! were kept, with the tail of each node's `debug.log` and stderr.

pub mod amount;
pub mod binaries;
pub mod framework;
pub mod node;
pub mod node_process;
pub mod process;
pub mod wait;

pub use amount::{Amount, COIN};
pub use binaries::{node_binary, Build};
pub use framework::{sync_blocks, TestFramework};
pub use kestrel_rpc::auth::RpcAuth;
pub use kestrel_rpc::client::{CallError, HttpReply, RpcClient};
pub use kestrel_rpc::RpcError;
pub use node::{TestNode, Unspent, WalletTransaction};
pub use wait::{wait_until, DEFAULT_TIMEOUT};
