//! Transaction validity rules shared by the mempool and block connection.

use std::collections::HashSet;
use std::fmt;

use kestrel_interfaces::{rpc_code, Amount};

use crate::consensus::{coinbase_is_mature, COINBASE_MATURITY, MAX_MONEY, MAX_TX_SIZE};
use crate::hash::Txid;
use crate::keys::{pubkey_hash, verify};
use crate::primitives::{OutPoint, Transaction, TxOut};

/// bitcoind's RPC_VERIFY_ERROR (missing or spent inputs).
pub const RPC_VERIFY_ERROR: i32 = -25;
/// bitcoind's RPC_VERIFY_ALREADY_IN_CHAIN.
pub const RPC_VERIFY_ALREADY_IN_CHAIN: i32 = -27;
/// bitcoind's RPC_DESERIALIZATION_ERROR.
pub const RPC_DESERIALIZATION_ERROR: i32 = -22;

/// Where an output was already spent or a transaction already is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    Chain,
    Mempool,
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Place::Chain => "block chain",
            Place::Mempool => "mempool",
        })
    }
}

/// Why a transaction was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidationError {
    #[error("malformed transaction: {0}")]
    Malformed(String),
    #[error("transaction {txid} is already in the {place}")]
    Duplicate { txid: Txid, place: Place },
    #[error("input {input} spends {outpoint}, which does not exist (unknown transaction or output index)")]
    MissingInput { input: usize, outpoint: OutPoint },
    #[error("input {input} spends {outpoint}, which is already spent in the {place}")]
    DoubleSpend {
        input: usize,
        outpoint: OutPoint,
        place: Place,
    },
    #[error(
        "input {input} spends coinbase output {outpoint} from height {coinbase_height}, which cannot be spent before height {} (this transaction would be in block {spend_height}); mine more blocks",
        coinbase_height + COINBASE_MATURITY
    )]
    ImmatureCoinbase {
        input: usize,
        outpoint: OutPoint,
        coinbase_height: u32,
        spend_height: u32,
    },
    #[error("input {input} has a bad signature: {reason}")]
    BadSignature { input: usize, reason: String },
    #[error("outputs total {outputs} base units, more than the inputs' {inputs}")]
    OutputsExceedInputs { inputs: Amount, outputs: Amount },
}

impl ValidationError {
    /// The bitcoind JSON-RPC error code `sendrawtransaction` would report.
    pub fn rpc_code(&self) -> i32 {
        match self {
            ValidationError::MissingInput { .. } | ValidationError::DoubleSpend { .. } => {
                RPC_VERIFY_ERROR
            }
            ValidationError::Duplicate {
                place: Place::Chain,
                ..
            } => RPC_VERIFY_ALREADY_IN_CHAIN,
            _ => rpc_code::VERIFY_REJECTED,
        }
    }
}

/// An unspent output and where it was created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Coin {
    pub output: TxOut,
    /// Height of the block that created it; for a mempool output, the
    /// height of the next block.
    pub height: u32,
    pub is_coinbase: bool,
}

/// What a view of the UTXO set knows about an outpoint.
pub(crate) enum CoinLookup {
    Unspent(Coin),
    Spent(Place),
    Unknown,
}

/// Whether to check signatures (blocks replayed from our own checksummed
/// block file were verified when first accepted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Signatures {
    Verify,
    Trust,
}

/// Context-free rules for a non-coinbase transaction.
pub(crate) fn check_structure(tx: &Transaction) -> Result<(), ValidationError> {
    let malformed = |reason: &str| Err(ValidationError::Malformed(reason.to_string()));
    if tx.inputs.is_empty() {
        return malformed("no inputs");
    }
    if tx.outputs.is_empty() {
        return malformed("no outputs");
    }
    let size = Transaction::serialized_size(tx.inputs.len(), tx.outputs.len());
    if size > MAX_TX_SIZE {
        return Err(ValidationError::Malformed(format!(
            "{size} bytes, over the {MAX_TX_SIZE}-byte limit; split it into smaller transactions"
        )));
    }
    if tx.inputs.iter().any(|input| input.prevout.is_null()) {
        return malformed("a coinbase (null prevout) is only valid as a block's first transaction");
    }
    let mut seen = HashSet::new();
    if !tx.inputs.iter().all(|input| seen.insert(input.prevout)) {
        return malformed("the same output is spent twice by one transaction");
    }
    if tx.outputs.iter().any(|out| out.value > MAX_MONEY)
        || tx.output_total().is_none_or(|total| total > MAX_MONEY)
    {
        return malformed("output amounts exceed the money supply");
    }
    Ok(())
}

/// Checks every input of `tx` against a UTXO view for a block at
/// `spend_height`; returns the fee.
pub(crate) fn check_inputs(
    tx: &Transaction,
    spend_height: u32,
    mut lookup: impl FnMut(&OutPoint) -> CoinLookup,
    signatures: Signatures,
) -> Result<Amount, ValidationError> {
    check_structure(tx)?;
    let mut input_total: Amount = 0;
    for (index, input) in tx.inputs.iter().enumerate() {
        let coin = match lookup(&input.prevout) {
            CoinLookup::Unspent(coin) => coin,
            CoinLookup::Spent(place) => {
                return Err(ValidationError::DoubleSpend {
                    input: index,
                    outpoint: input.prevout,
                    place,
                })
            }
            CoinLookup::Unknown => {
                return Err(ValidationError::MissingInput {
                    input: index,
                    outpoint: input.prevout,
                })
            }
        };
        if coin.is_coinbase && !coinbase_is_mature(coin.height, spend_height) {
            return Err(ValidationError::ImmatureCoinbase {
                input: index,
                outpoint: input.prevout,
                coinbase_height: coin.height,
                spend_height,
            });
        }
        if signatures == Signatures::Verify {
            if pubkey_hash(&input.pubkey) != coin.output.pubkey_hash {
                return Err(ValidationError::BadSignature {
                    input: index,
                    reason: "the public key does not hash to the spent output's pubkey hash"
                        .to_string(),
                });
            }
            verify(&input.pubkey, &tx.sighash(index), &input.signature).map_err(|e| {
                ValidationError::BadSignature {
                    input: index,
                    reason: e.to_string(),
                }
            })?;
        }
        input_total = input_total
            .checked_add(coin.output.value)
            .filter(|total| *total <= MAX_MONEY)
            .ok_or_else(|| {
                ValidationError::Malformed("input amounts exceed the money supply".to_string())
            })?;
    }
    let output_total = tx.output_total().expect("checked by check_structure");
    input_total
        .checked_sub(output_total)
        .ok_or(ValidationError::OutputsExceedInputs {
            inputs: input_total,
            outputs: output_total,
        })
}
