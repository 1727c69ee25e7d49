//! The wallet's view of the chain: its transactions, which of their outputs
//! are its coins, and which of those are spent. Fed only by blocks and
//! mempool transactions as the `Chain` interface delivers them.

use std::collections::{BTreeMap, HashMap, HashSet};

use kestrel_chain::consensus::COINBASE_MATURITY;
use kestrel_chain::{Amount, Block, BlockHash, OutPoint, Transaction, TxOut, Txid};

/// A transaction that pays or spends the wallet.
pub(crate) struct LedgerTx {
    pub tx: Transaction,
    /// Height and hash of the confirming block; `None` while in the mempool.
    pub block: Option<(u32, BlockHash)>,
    /// Arrival order, for "most recent first".
    pub sequence: u64,
}

/// An unspent output of the wallet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OwnedCoin {
    pub outpoint: OutPoint,
    pub output: TxOut,
    pub confirmations: u32,
    /// Spendable now: not an immature coinbase (bitcoind's wallet waits for
    /// COINBASE_MATURITY + 1 confirmations).
    pub mature: bool,
    /// Confirmed, or unconfirmed but created by the wallet itself from its
    /// own coins (bitcoind's "trusted" change).
    pub trusted: bool,
    pub sequence: u64,
}

#[derive(Default)]
pub(crate) struct Ledger {
    txs: HashMap<Txid, LedgerTx>,
    /// Which wallet transaction spends each of the wallet's outputs.
    spends: HashMap<OutPoint, Txid>,
    /// Height of the last connected block; `None` before genesis.
    tip: Option<u32>,
    /// Blocks that arrived ahead of their predecessor (a notification racing
    /// the load-time rescan), connected once the gap is filled.
    pending: BTreeMap<u32, Block>,
    next_sequence: u64,
}

impl Ledger {
    pub(crate) fn tip(&self) -> Option<u32> {
        self.tip
    }

    /// The height the ledger needs next.
    pub(crate) fn next_height(&self) -> u32 {
        self.tip.map_or(0, |tip| tip + 1)
    }

    /// Connects the block at `height` in order: an already connected height
    /// is ignored, a later one waits for the gap to fill.
    pub(crate) fn block_connected(
        &mut self,
        height: u32,
        block: Block,
        is_mine: &impl Fn(&[u8; 20]) -> bool,
    ) {
        if height < self.next_height() {
            return;
        }
        self.pending.insert(height, block);
        while let Some(block) = self.pending.remove(&self.next_height()) {
            let height = self.next_height();
            let hash = block.hash();
            for tx in block.txs {
                self.add(tx, Some((height, hash)), is_mine);
            }
            self.tip = Some(height);
        }
    }

    /// Records `tx` if it pays or spends the wallet; a known transaction
    /// only gains its block.
    pub(crate) fn add(
        &mut self,
        tx: Transaction,
        block: Option<(u32, BlockHash)>,
        is_mine: &impl Fn(&[u8; 20]) -> bool,
    ) {
        let txid = tx.txid();
        if let Some(known) = self.txs.get_mut(&txid) {
            if block.is_some() {
                known.block = block;
            }
            return;
        }
        let spends_ours: Vec<OutPoint> = tx
            .inputs
            .iter()
            .map(|input| input.prevout)
            .filter(|prevout| {
                self.output(prevout)
                    .is_some_and(|out| is_mine(&out.pubkey_hash))
            })
            .collect();
        let pays_us = tx.outputs.iter().any(|out| is_mine(&out.pubkey_hash));
        if spends_ours.is_empty() && !pays_us {
            return;
        }
        for prevout in spends_ours {
            self.spends.insert(prevout, txid);
        }
        self.next_sequence += 1;
        self.txs.insert(
            txid,
            LedgerTx {
                tx,
                block,
                sequence: self.next_sequence,
            },
        );
    }

    pub(crate) fn get(&self, txid: &Txid) -> Option<&LedgerTx> {
        self.txs.get(txid)
    }

    /// Wallet transactions, most recent first.
    pub(crate) fn newest_first(&self) -> Vec<(&Txid, &LedgerTx)> {
        let mut all: Vec<_> = self.txs.iter().collect();
        all.sort_by_key(|(_, tx)| std::cmp::Reverse(tx.sequence));
        all
    }

    pub(crate) fn confirmations(&self, tx: &LedgerTx) -> u32 {
        match (tx.block, self.tip) {
            (Some((height, _)), Some(tip)) if tip >= height => tip - height + 1,
            _ => 0,
        }
    }

    /// The output `outpoint` names, if the ledger has its transaction.
    fn output(&self, outpoint: &OutPoint) -> Option<&TxOut> {
        self.txs
            .get(&outpoint.txid)?
            .tx
            .outputs
            .get(outpoint.vout as usize)
    }

    /// Sum of the wallet's outputs that `tx` spends (`spends` only ever
    /// holds the wallet's outputs).
    pub(crate) fn debit(&self, tx: &Transaction) -> Amount {
        tx.inputs
            .iter()
            .filter(|input| self.spends.contains_key(&input.prevout))
            .filter_map(|input| self.output(&input.prevout))
            .map(|out| out.value)
            .sum()
    }

    /// Whether every input of `tx` spends a wallet output.
    pub(crate) fn is_from_me(&self, tx: &Transaction) -> bool {
        !tx.is_coinbase()
            && tx
                .inputs
                .iter()
                .all(|input| self.spends.get(&input.prevout) == Some(&tx.txid()))
    }

    /// Every unspent output paying the wallet.
    pub(crate) fn unspent(&self, is_mine: &impl Fn(&[u8; 20]) -> bool) -> Vec<OwnedCoin> {
        let mut coins = Vec::new();
        for (txid, ledger_tx) in &self.txs {
            let confirmations = self.confirmations(ledger_tx);
            let mature = !ledger_tx.tx.is_coinbase() || confirmations > COINBASE_MATURITY;
            let trusted = confirmations > 0 || self.is_from_me(&ledger_tx.tx);
            for (vout, output) in ledger_tx.tx.outputs.iter().enumerate() {
                let outpoint = OutPoint {
                    txid: *txid,
                    vout: vout as u32,
                };
                if is_mine(&output.pubkey_hash) && !self.spends.contains_key(&outpoint) {
                    coins.push(OwnedCoin {
                        outpoint,
                        output: *output,
                        confirmations,
                        mature,
                        trusted,
                        sequence: ledger_tx.sequence,
                    });
                }
            }
        }
        coins.sort_by_key(|coin| (coin.sequence, coin.outpoint.vout));
        coins
    }

    /// Trusted, mature, unspent value (bitcoind's `getbalance`).
    pub(crate) fn balance(&self, is_mine: &impl Fn(&[u8; 20]) -> bool) -> Amount {
        self.unspent(is_mine)
            .iter()
            .filter(|coin| coin.trusted && coin.mature)
            .map(|coin| coin.output.value)
            .sum()
    }
}

/// Coins chosen for a payment and what they leave over.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Selection {
    pub inputs: Vec<OwnedCoin>,
    pub fee: Amount,
    /// Zero when the remainder is below [`DUST_THRESHOLD`] and goes to the fee.
    pub change: Amount,
}

/// Change smaller than this is left to the fee rather than creating an
/// output not worth spending (bitcoind's dust limit for P2PKH).
pub(crate) const DUST_THRESHOLD: Amount = 546;

/// Largest coins first until they cover `amount` plus the fee for a
/// transaction with a payment and a change output at `fee_per_kb`.
/// Returns the total available when they never do.
pub(crate) fn select_coins(
    mut candidates: Vec<OwnedCoin>,
    amount: Amount,
    fee_per_kb: Amount,
    excluded: &HashSet<OutPoint>,
) -> Result<Selection, Amount> {
    candidates.retain(|coin| coin.trusted && coin.mature && !excluded.contains(&coin.outpoint));
    candidates.sort_by(|a, b| {
        b.output
            .value
            .cmp(&a.output.value)
            .then(a.outpoint.cmp(&b.outpoint))
    });
    let mut total: Amount = 0;
    let mut inputs = Vec::new();
    for coin in candidates {
        total += coin.output.value;
        inputs.push(coin);
        let size = Transaction::serialized_size(inputs.len(), 2) as u64;
        let fee = (size * fee_per_kb).div_ceil(1000);
        if let Some(remainder) = total.checked_sub(amount + fee) {
            let change = if remainder < DUST_THRESHOLD {
                0
            } else {
                remainder
            };
            return Ok(Selection {
                inputs,
                fee: fee + remainder - change,
                change,
            });
        }
    }
    Err(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kestrel_chain::BlockHeader;

    const MINE: [u8; 20] = [1; 20];

    fn block_paying_me(height: u32) -> Block {
        Block {
            header: BlockHeader {
                version: 1,
                prev_hash: BlockHash([0; 32]),
                merkle_root: [0; 32],
                time: height,
                bits: 0,
                nonce: 0,
            },
            txs: vec![Transaction::coinbase(height, 50, MINE)],
        }
    }

    #[test]
    fn blocks_connect_in_height_order_whatever_order_they_arrive_in() {
        let is_mine = |hash: &[u8; 20]| *hash == MINE;
        let mut ledger = Ledger::default();
        ledger.block_connected(0, block_paying_me(0), &is_mine);
        ledger.block_connected(2, block_paying_me(2), &is_mine);
        assert_eq!(ledger.tip(), Some(0));
        ledger.block_connected(1, block_paying_me(1), &is_mine);
        assert_eq!(ledger.tip(), Some(2));
        // A repeat (the rescan catching up with notifications) changes nothing.
        ledger.block_connected(1, block_paying_me(1), &is_mine);
        let coins = ledger.unspent(&is_mine);
        let confirmations: Vec<u32> = coins.iter().map(|c| c.confirmations).collect();
        assert_eq!(confirmations, vec![3, 2, 1]);
        assert!(coins.iter().all(|c| !c.mature && c.trusted));
    }

    fn coin(value: Amount, id: u8) -> OwnedCoin {
        OwnedCoin {
            outpoint: OutPoint {
                txid: Txid([id; 32]),
                vout: 0,
            },
            output: TxOut {
                value,
                pubkey_hash: [0; 20],
            },
            confirmations: 200,
            mature: true,
            trusted: true,
            sequence: u64::from(id),
        }
    }

    #[test]
    fn selection_takes_largest_first_and_makes_change() {
        let coins = vec![coin(10_000, 1), coin(50_000, 2), coin(20_000, 3)];
        let selection = select_coins(coins, 60_000, 1000, &HashSet::new()).unwrap();
        let chosen: Vec<_> = selection.inputs.iter().map(|c| c.output.value).collect();
        assert_eq!(chosen, vec![50_000, 20_000]);
        let size = Transaction::serialized_size(2, 2) as u64;
        assert_eq!(selection.fee, size);
        assert_eq!(selection.change, 70_000 - 60_000 - size);
    }

    #[test]
    fn dust_change_goes_to_fee() {
        let fee = Transaction::serialized_size(1, 2) as u64;
        let selection = select_coins(
            vec![coin(10_000, 1)],
            10_000 - fee - 100,
            1000,
            &HashSet::new(),
        )
        .unwrap();
        assert_eq!(selection.change, 0);
        assert_eq!(selection.fee, fee + 100);
    }

    #[test]
    fn insufficient_excluded_and_immature_coins() {
        let mut immature = coin(1_000_000, 9);
        immature.mature = false;
        let reserved = coin(500_000, 8);
        let excluded = HashSet::from([reserved.outpoint]);
        assert_eq!(
            select_coins(
                vec![immature, reserved, coin(10_000, 1)],
                20_000,
                1000,
                &excluded
            ),
            Err(10_000)
        );
    }
}
