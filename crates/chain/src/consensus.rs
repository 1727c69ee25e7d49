//! Regtest consensus parameters: proof of work, subsidy, maturity, genesis.

use std::sync::OnceLock;

use kestrel_interfaces::{Amount, COIN};

use crate::hash::BlockHash;
use crate::primitives::{Block, BlockHeader, Transaction};

/// Bitcoin's regtest target: about every second hash meets it.
pub const REGTEST_BITS: u32 = 0x207f_ffff;
/// Blocks between subsidy halvings (Bitcoin's regtest value).
pub const SUBSIDY_HALVING_INTERVAL: u32 = 150;
pub const INITIAL_SUBSIDY: Amount = 50 * COIN;
/// A coinbase output created at height `h` may be spent by a transaction in
/// a block at height `h + COINBASE_MATURITY` or later. A mempool
/// transaction is judged as if it went into the next block (tip + 1), so it
/// may spend once the coinbase has 100 confirmations. (bitcoind's wallet,
/// and so Kestrel's, waits for 101 before it counts the coin as mature.)
pub const COINBASE_MATURITY: u32 = 100;
/// No amount, and no sum of amounts in a transaction, may exceed this.
pub const MAX_MONEY: Amount = 21_000_000 * COIN;
/// Largest transaction accepted, so that any one always fits in a block
/// (bitcoind's standardness limit).
pub const MAX_TX_SIZE: usize = 100_000;
/// The fee rate the node suggests, base units per 1000 bytes.
pub const FEE_PER_KB: Amount = 1000;

/// New coins in the coinbase at `height`.
pub fn block_subsidy(height: u32) -> Amount {
    let halvings = height / SUBSIDY_HALVING_INTERVAL;
    if halvings >= 64 {
        0
    } else {
        INITIAL_SUBSIDY >> halvings
    }
}

/// Whether a coinbase output from `coinbase_height` may be spent in a block
/// at `spend_height`.
pub fn coinbase_is_mature(coinbase_height: u32, spend_height: u32) -> bool {
    spend_height.saturating_sub(coinbase_height) >= COINBASE_MATURITY
}

/// The 256-bit target encoded by compact `bits`, big-endian.
pub fn target_from_bits(bits: u32) -> [u8; 32] {
    let exponent = (bits >> 24) as usize;
    let mantissa = (bits & 0x007f_ffff).to_be_bytes();
    let mut target = [0u8; 32];
    // The mantissa's three bytes sit so that the last one is at byte
    // `exponent - 1` counted from the least significant end.
    for (i, byte) in mantissa[1..].iter().enumerate() {
        let position_from_end = exponent as isize - 1 - i as isize;
        if (0..32).contains(&position_from_end) {
            target[31 - position_from_end as usize] = *byte;
        }
    }
    target
}

/// A block hash read as a little-endian 256-bit number must not exceed the
/// target.
pub fn meets_target(hash: &BlockHash, bits: u32) -> bool {
    let mut big_endian = hash.0;
    big_endian.reverse();
    big_endian <= target_from_bits(bits)
}

/// Searches nonces (bumping the time when they run out) until the header
/// meets its target.
pub fn mine(header: &mut BlockHeader) {
    while !meets_target(&header.hash(), header.bits) {
        header.nonce = header.nonce.wrapping_add(1);
        if header.nonce == 0 {
            header.time = header.time.wrapping_add(1);
        }
    }
}

/// The fixed genesis block: its coinbase pays 50 coins to an all-zero pubkey
/// hash that no key can spend, and it is the same on every run.
pub fn genesis_block() -> &'static Block {
    static GENESIS: OnceLock<Block> = OnceLock::new();
    GENESIS.get_or_init(|| {
        let txs = vec![Transaction::coinbase(0, block_subsidy(0), [0; 20])];
        let mut header = BlockHeader {
            version: 1,
            prev_hash: BlockHash([0; 32]),
            merkle_root: Block::merkle_root(&txs),
            time: 1_296_688_602,
            bits: REGTEST_BITS,
            nonce: 0,
        };
        mine(&mut header);
        Block { header, txs }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subsidy_halves_every_interval() {
        assert_eq!(block_subsidy(1), 50 * COIN);
        assert_eq!(block_subsidy(149), 50 * COIN);
        assert_eq!(block_subsidy(150), 25 * COIN);
        assert_eq!(block_subsidy(300), 25 * COIN / 2);
        assert_eq!(block_subsidy(150 * 64), 0);
    }

    #[test]
    fn regtest_target_is_half_the_hash_space() {
        let target = target_from_bits(REGTEST_BITS);
        assert_eq!(target[0], 0x7f);
        assert_eq!(target[1], 0xff);
        assert_eq!(target[2], 0xff);
        assert!(target[3..].iter().all(|b| *b == 0));
        // Bitcoin mainnet's genesis bits put the mantissa 4 bytes lower.
        let mainnet = target_from_bits(0x1d00_ffff);
        assert_eq!(&mainnet[..6], &[0, 0, 0, 0, 0xff, 0xff]);
    }

    #[test]
    fn genesis_is_deterministic_and_valid() {
        let genesis = genesis_block();
        assert!(meets_target(&genesis.hash(), genesis.header.bits));
        assert_eq!(genesis.txs[0].coinbase_height(), Some(0));
        assert_eq!(genesis.header.merkle_root, Block::merkle_root(&genesis.txs));
    }

    #[test]
    fn maturity_boundary() {
        assert!(!coinbase_is_mature(1, 100));
        assert!(coinbase_is_mature(1, 101));
    }
}
