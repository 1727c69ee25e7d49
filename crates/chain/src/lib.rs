//! Kestrel's regtest chain.
//!
//! - Primitives ([`Transaction`], [`Block`], [`OutPoint`], ...) with a
//!   compact binary serialization; ids are double SHA-256 of it.
//! - [`PrivateKey`] and [`Address`] (`kcrt1...`, checksummed).
//! - Consensus rules in [`consensus`]: trivial proof of work, 50-coin
//!   subsidy halving every 150 blocks, coinbase maturity 100.
//! - [`ChainState`]: the active chain, UTXO set and mempool, persisted in an
//!   append-only block file, implementing [`kestrel_interfaces::Chain`] with
//!   notifications delivered on a dedicated thread.

pub mod consensus;
mod encode;
mod interface;
pub mod keys;
mod notify;
pub mod primitives;
mod state;
mod store;
pub mod validation;

// Addresses and hashes as text are shared with the gui and the RPC.
pub use kestrel_common::{address, hash};

pub use address::{Address, AddressError};
pub use encode::DecodeError;
pub use hash::{sha256d, BlockHash, HashParseError, Txid};
pub use kestrel_interfaces::{Amount, COIN};
pub use keys::{pubkey_hash, KeyError, PrivateKey};
pub use notify::NotificationSubscription;
pub use primitives::{Block, BlockHeader, OutPoint, Transaction, TxIn, TxOut};
pub use state::{ChainError, ChainState};
pub use store::StoreError;
pub use validation::{Coin, Place, ValidationError};
