//! Transactions and blocks, their compact binary serialization and ids.

use std::fmt;

use kestrel_interfaces::{Amount, Hash256};

use crate::encode::{count_size, write_count, DecodeError, Reader};
use crate::hash::{sha256d, BlockHash, Txid};

/// Largest serialized block accepted; also bounds decoding.
pub const MAX_BLOCK_SIZE: usize = 1_000_000;

/// A reference to one output of a transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OutPoint {
    pub txid: Txid,
    pub vout: u32,
}

impl OutPoint {
    /// The prevout of a coinbase input: it spends nothing.
    pub const NULL: OutPoint = OutPoint {
        txid: Txid([0; 32]),
        vout: u32::MAX,
    };

    pub fn is_null(&self) -> bool {
        *self == Self::NULL
    }
}

impl fmt::Display for OutPoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.txid, self.vout)
    }
}

/// An input: the output it spends and the proof that its owner agrees.
///
/// In a coinbase input (null prevout) `pubkey` is all zeros and the first
/// four bytes of `signature` hold the block height, little-endian (the
/// BIP34 idea), so that every coinbase has a distinct txid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxIn {
    pub prevout: OutPoint,
    /// Compressed SEC1 public key whose hash the spent output names.
    pub pubkey: [u8; 33],
    /// Compact (r, s) ECDSA signature over [`Transaction::sighash`].
    pub signature: [u8; 64],
}

/// An output: an amount payable to the holder of a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxOut {
    pub value: Amount,
    /// See [`crate::keys::pubkey_hash`].
    pub pubkey_hash: [u8; 20],
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transaction {
    pub version: u32,
    pub inputs: Vec<TxIn>,
    pub outputs: Vec<TxOut>,
    pub lock_time: u32,
}

const TXIN_SIZE: usize = 32 + 4 + 33 + 64;
const TXOUT_SIZE: usize = 8 + 20;
/// The smallest possible transaction: no inputs, no outputs.
const MIN_TX_SIZE: usize = 4 + 1 + 1 + 4;

impl Transaction {
    /// The coinbase of the block at `height`, paying `value` to `pubkey_hash`.
    pub fn coinbase(height: u32, value: Amount, pubkey_hash: [u8; 20]) -> Transaction {
        let mut signature = [0u8; 64];
        signature[..4].copy_from_slice(&height.to_le_bytes());
        Transaction {
            version: 1,
            inputs: vec![TxIn {
                prevout: OutPoint::NULL,
                pubkey: [0; 33],
                signature,
            }],
            outputs: vec![TxOut { value, pubkey_hash }],
            lock_time: 0,
        }
    }

    /// Exactly one input, and it spends nothing.
    pub fn is_coinbase(&self) -> bool {
        self.inputs.len() == 1 && self.inputs[0].prevout.is_null()
    }

    /// The height a coinbase commits to, `None` for other transactions.
    pub fn coinbase_height(&self) -> Option<u32> {
        self.is_coinbase().then(|| {
            let sig = &self.inputs[0].signature;
            u32::from_le_bytes([sig[0], sig[1], sig[2], sig[3]])
        })
    }

    pub fn txid(&self) -> Txid {
        Txid(sha256d(&self.serialize()))
    }

    /// Sum of the outputs, `None` on overflow.
    pub fn output_total(&self) -> Option<Amount> {
        self.outputs
            .iter()
            .try_fold(0u64, |sum, out| sum.checked_add(out.value))
    }

    /// What input `input_index` signs: double SHA-256 of the transaction
    /// serialized with every signature zeroed, followed by the index
    /// (u32, little-endian).
    pub fn sighash(&self, input_index: usize) -> Hash256 {
        let mut blank = self.clone();
        for input in &mut blank.inputs {
            input.signature = [0; 64];
        }
        let mut data = blank.serialize();
        data.extend_from_slice(&(input_index as u32).to_le_bytes());
        sha256d(&data)
    }

    /// Serialized size of any transaction with this many inputs and outputs
    /// (every field is fixed-width), for fee estimation before signing.
    pub fn serialized_size(inputs: usize, outputs: usize) -> usize {
        4 + count_size(inputs) + inputs * TXIN_SIZE + count_size(outputs) + outputs * TXOUT_SIZE + 4
    }

    pub fn serialize(&self) -> Vec<u8> {
        let mut out =
            Vec::with_capacity(Self::serialized_size(self.inputs.len(), self.outputs.len()));
        self.encode(&mut out);
        out
    }

    /// Decodes exactly one transaction; trailing bytes are an error.
    pub fn deserialize(data: &[u8]) -> Result<Transaction, DecodeError> {
        if data.len() > MAX_BLOCK_SIZE {
            return Err(DecodeError::TooLarge {
                what: "transaction",
                len: data.len(),
                max: MAX_BLOCK_SIZE,
            });
        }
        let mut reader = Reader::new(data);
        let tx = Self::decode(&mut reader)?;
        reader.finish()?;
        Ok(tx)
    }

    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.version.to_le_bytes());
        write_count(out, self.inputs.len());
        for input in &self.inputs {
            out.extend_from_slice(&input.prevout.txid.0);
            out.extend_from_slice(&input.prevout.vout.to_le_bytes());
            out.extend_from_slice(&input.pubkey);
            out.extend_from_slice(&input.signature);
        }
        write_count(out, self.outputs.len());
        for output in &self.outputs {
            out.extend_from_slice(&output.value.to_le_bytes());
            out.extend_from_slice(&output.pubkey_hash);
        }
        out.extend_from_slice(&self.lock_time.to_le_bytes());
    }

    fn decode(reader: &mut Reader<'_>) -> Result<Transaction, DecodeError> {
        let version = reader.u32()?;
        let input_count = reader.count("input", TXIN_SIZE)?;
        let mut inputs = Vec::with_capacity(input_count);
        for _ in 0..input_count {
            inputs.push(TxIn {
                prevout: OutPoint {
                    txid: Txid(reader.array()?),
                    vout: reader.u32()?,
                },
                pubkey: reader.array()?,
                signature: reader.array()?,
            });
        }
        let output_count = reader.count("output", TXOUT_SIZE)?;
        let mut outputs = Vec::with_capacity(output_count);
        for _ in 0..output_count {
            outputs.push(TxOut {
                value: reader.u64()?,
                pubkey_hash: reader.array()?,
            });
        }
        let lock_time = reader.u32()?;
        Ok(Transaction {
            version,
            inputs,
            outputs,
            lock_time,
        })
    }
}

/// 80 bytes, as in Bitcoin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockHeader {
    pub version: u32,
    pub prev_hash: BlockHash,
    pub merkle_root: Hash256,
    /// Unix time in seconds.
    pub time: u32,
    /// Proof-of-work target in Bitcoin's compact form.
    pub bits: u32,
    pub nonce: u32,
}

impl BlockHeader {
    pub const SIZE: usize = 80;

    pub fn hash(&self) -> BlockHash {
        BlockHash(sha256d(&self.serialize()))
    }

    pub fn serialize(&self) -> [u8; Self::SIZE] {
        let mut out = [0u8; Self::SIZE];
        out[0..4].copy_from_slice(&self.version.to_le_bytes());
        out[4..36].copy_from_slice(&self.prev_hash.0);
        out[36..68].copy_from_slice(&self.merkle_root);
        out[68..72].copy_from_slice(&self.time.to_le_bytes());
        out[72..76].copy_from_slice(&self.bits.to_le_bytes());
        out[76..80].copy_from_slice(&self.nonce.to_le_bytes());
        out
    }

    fn decode(reader: &mut Reader<'_>) -> Result<BlockHeader, DecodeError> {
        Ok(BlockHeader {
            version: reader.u32()?,
            prev_hash: BlockHash(reader.array()?),
            merkle_root: reader.array()?,
            time: reader.u32()?,
            bits: reader.u32()?,
            nonce: reader.u32()?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    pub header: BlockHeader,
    /// The coinbase first, then the transactions it confirms.
    pub txs: Vec<Transaction>,
}

impl Block {
    pub fn hash(&self) -> BlockHash {
        self.header.hash()
    }

    /// Bitcoin's merkle tree over txids: pairs hashed with double SHA-256,
    /// the last element of an odd level paired with itself.
    pub fn merkle_root(txs: &[Transaction]) -> Hash256 {
        let mut level: Vec<Hash256> = txs.iter().map(|tx| tx.txid().0).collect();
        if level.is_empty() {
            return [0; 32];
        }
        while level.len() > 1 {
            level = level
                .chunks(2)
                .map(|pair| {
                    let mut data = [0u8; 64];
                    data[..32].copy_from_slice(&pair[0]);
                    data[32..].copy_from_slice(pair.get(1).unwrap_or(&pair[0]));
                    sha256d(&data)
                })
                .collect();
        }
        level[0]
    }

    pub fn serialize(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&self.header.serialize());
        write_count(&mut out, self.txs.len());
        for tx in &self.txs {
            tx.encode(&mut out);
        }
        out
    }

    /// Decodes exactly one block of at most [`MAX_BLOCK_SIZE`] bytes.
    pub fn deserialize(data: &[u8]) -> Result<Block, DecodeError> {
        if data.len() > MAX_BLOCK_SIZE {
            return Err(DecodeError::TooLarge {
                what: "block",
                len: data.len(),
                max: MAX_BLOCK_SIZE,
            });
        }
        let mut reader = Reader::new(data);
        let header = BlockHeader::decode(&mut reader)?;
        let tx_count = reader.count("transaction", MIN_TX_SIZE)?;
        let mut txs = Vec::with_capacity(tx_count);
        for _ in 0..tx_count {
            txs.push(Transaction::decode(&mut reader)?);
        }
        reader.finish()?;
        Ok(Block { header, txs })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_tx() -> Transaction {
        Transaction {
            version: 1,
            inputs: vec![TxIn {
                prevout: OutPoint {
                    txid: Txid([7; 32]),
                    vout: 3,
                },
                pubkey: [2; 33],
                signature: [9; 64],
            }],
            outputs: vec![
                TxOut {
                    value: 5,
                    pubkey_hash: [1; 20],
                },
                TxOut {
                    value: 6,
                    pubkey_hash: [4; 20],
                },
            ],
            lock_time: 0,
        }
    }

    #[test]
    fn transaction_round_trips_and_has_predicted_size() {
        let tx = sample_tx();
        let bytes = tx.serialize();
        assert_eq!(bytes.len(), Transaction::serialized_size(1, 2));
        assert_eq!(Transaction::deserialize(&bytes).unwrap(), tx);
    }

    #[test]
    fn trailing_and_truncated_bytes_are_rejected() {
        let mut bytes = sample_tx().serialize();
        bytes.push(0);
        assert_eq!(
            Transaction::deserialize(&bytes),
            Err(DecodeError::TrailingBytes(1))
        );
        // Cut inside the lock time, then inside the outputs.
        bytes.truncate(bytes.len() - 3);
        assert!(matches!(
            Transaction::deserialize(&bytes),
            Err(DecodeError::UnexpectedEnd { needed: 2, .. })
        ));
        bytes.truncate(bytes.len() - 10);
        assert!(matches!(
            Transaction::deserialize(&bytes),
            Err(DecodeError::CountTooLarge { what: "output", .. })
        ));
    }

    #[test]
    fn sighash_ignores_signatures_but_commits_to_index_and_outputs() {
        let tx = sample_tx();
        let mut resigned = tx.clone();
        resigned.inputs[0].signature = [0x55; 64];
        assert_eq!(tx.sighash(0), resigned.sighash(0));
        assert_ne!(tx.sighash(0), tx.sighash(1));
        let mut changed = tx.clone();
        changed.outputs[0].value += 1;
        assert_ne!(tx.sighash(0), changed.sighash(0));
    }

    #[test]
    fn coinbase_commits_to_height() {
        let a = Transaction::coinbase(1, 50, [0; 20]);
        let b = Transaction::coinbase(2, 50, [0; 20]);
        assert!(a.is_coinbase());
        assert_eq!(b.coinbase_height(), Some(2));
        assert_ne!(a.txid(), b.txid());
        assert_eq!(sample_tx().coinbase_height(), None);
    }

    #[test]
    fn block_round_trips() {
        let txs = vec![Transaction::coinbase(1, 50, [0; 20]), sample_tx()];
        let block = Block {
            header: BlockHeader {
                version: 1,
                prev_hash: BlockHash([3; 32]),
                merkle_root: Block::merkle_root(&txs),
                time: 1,
                bits: 2,
                nonce: 3,
            },
            txs,
        };
        let bytes = block.serialize();
        assert_eq!(Block::deserialize(&bytes).unwrap(), block);
        assert_ne!(block.header.merkle_root, [0; 32]);
    }
}
