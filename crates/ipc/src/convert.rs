//! kestrel-interfaces DTOs to and from their Cap'n Proto structs.

use kestrel_interfaces::{ChainNotifications, Hash256, NodeInfo, Tip, Unspent, WalletTx};

use crate::schema::chain_capnp::chain_event;
use crate::schema::common_capnp::tip;
use crate::schema::node_capnp::node_info;
use crate::schema::wallet_capnp::{unspent, wallet_tx};

/// A 32-byte hash from `Data`; anything else is a malformed message.
pub(crate) fn read_hash(field: &str, data: &[u8]) -> capnp::Result<Hash256> {
    data.try_into().map_err(|_| {
        capnp::Error::failed(format!(
            "{field} must be 32 bytes, the peer sent {}",
            data.len()
        ))
    })
}

/// A `List(Data)` of blobs (blocks, transactions) as owned bytes.
pub(crate) fn read_data_list(list: capnp::data_list::Reader<'_>) -> capnp::Result<Vec<Vec<u8>>> {
    list.iter().map(|item| item.map(<[u8]>::to_vec)).collect()
}

pub(crate) fn write_data_list(mut list: capnp::data_list::Builder<'_>, items: &[Vec<u8>]) {
    for (i, item) in items.iter().enumerate() {
        list.set(i as u32, item);
    }
}

pub(crate) fn write_tip(mut out: tip::Builder<'_>, value: &Tip) {
    out.set_height(value.height);
    out.set_hash(&value.hash);
}

pub(crate) fn read_tip(r: tip::Reader<'_>) -> capnp::Result<Tip> {
    Ok(Tip {
        height: r.get_height(),
        hash: read_hash("tip.hash", r.get_hash()?)?,
    })
}

pub(crate) fn write_node_info(mut out: node_info::Builder<'_>, value: &NodeInfo) {
    write_tip(out.reborrow().init_tip(), &value.tip);
    out.set_mempool_size(value.mempool_size);
    out.set_mempool_bytes(value.mempool_bytes);
}

pub(crate) fn read_node_info(r: node_info::Reader<'_>) -> capnp::Result<NodeInfo> {
    Ok(NodeInfo {
        tip: read_tip(r.get_tip()?)?,
        mempool_size: r.get_mempool_size(),
        mempool_bytes: r.get_mempool_bytes(),
    })
}

/// A list of 32-byte hashes (block hashes of `Node.generate`).
pub(crate) fn write_hashes(mut out: capnp::data_list::Builder<'_>, hashes: &[Hash256]) {
    for (i, hash) in hashes.iter().enumerate() {
        out.set(i as u32, hash);
    }
}

pub(crate) fn read_hashes(
    field: &str,
    r: capnp::data_list::Reader<'_>,
) -> capnp::Result<Vec<Hash256>> {
    r.iter().map(|hash| read_hash(field, hash?)).collect()
}

pub(crate) fn write_unspent(mut out: unspent::Builder<'_>, value: &Unspent) {
    out.set_txid(&value.txid);
    out.set_vout(value.vout);
    out.set_address(value.address.as_str());
    out.set_amount(value.amount);
    out.set_confirmations(value.confirmations);
    out.set_spendable(value.spendable);
}

pub(crate) fn read_unspent(r: unspent::Reader<'_>) -> capnp::Result<Unspent> {
    Ok(Unspent {
        txid: read_hash("unspent.txid", r.get_txid()?)?,
        vout: r.get_vout(),
        address: r.get_address()?.to_string()?,
        amount: r.get_amount(),
        confirmations: r.get_confirmations(),
        spendable: r.get_spendable(),
    })
}

pub(crate) fn write_wallet_tx(mut out: wallet_tx::Builder<'_>, value: &WalletTx) {
    out.set_txid(&value.txid);
    out.set_amount(value.amount);
    match value.fee {
        Some(fee) => out.reborrow().init_fee().set_paid(fee),
        None => out.reborrow().init_fee().set_unknown(()),
    }
    out.set_confirmations(value.confirmations);
    if let Some(hash) = &value.block_hash {
        out.set_block_hash(hash);
    }
    out.set_raw(&value.raw);
}

pub(crate) fn read_wallet_tx(r: wallet_tx::Reader<'_>) -> capnp::Result<WalletTx> {
    let fee = match r.get_fee().which()? {
        wallet_tx::fee::Unknown(()) => None,
        wallet_tx::fee::Paid(fee) => Some(fee),
    };
    let block_hash = if r.has_block_hash() {
        Some(read_hash("walletTx.blockHash", r.get_block_hash()?)?)
    } else {
        None
    };
    Ok(WalletTx {
        txid: read_hash("walletTx.txid", r.get_txid()?)?,
        amount: r.get_amount(),
        fee,
        confirmations: r.get_confirmations(),
        block_hash,
        raw: r.get_raw()?.to_vec(),
    })
}

/// One `ChainNotifications` call, held in a batch.
pub(crate) enum ChainEvent {
    BlockConnected { height: u32, block: Vec<u8> },
    TransactionAdded(Vec<u8>),
}

impl ChainEvent {
    /// Bytes it adds to a batch.
    pub(crate) fn size(&self) -> usize {
        match self {
            ChainEvent::BlockConnected { block, .. } => block.len(),
            ChainEvent::TransactionAdded(tx) => tx.len(),
        }
    }

    pub(crate) fn deliver(&self, to: &dyn ChainNotifications) {
        match self {
            ChainEvent::BlockConnected { height, block } => to.block_connected(*height, block),
            ChainEvent::TransactionAdded(tx) => to.transaction_added_to_mempool(tx),
        }
    }
}

pub(crate) fn write_chain_events(
    mut out: capnp::struct_list::Builder<'_, chain_event::Owned>,
    events: &[ChainEvent],
) {
    for (i, event) in events.iter().enumerate() {
        let mut entry = out.reborrow().get(i as u32);
        match event {
            ChainEvent::BlockConnected { height, block } => {
                let mut connected = entry.init_block_connected();
                connected.set_height(*height);
                connected.set_block(block);
            }
            ChainEvent::TransactionAdded(tx) => entry.set_transaction_added_to_mempool(tx),
        }
    }
}

pub(crate) fn read_chain_events(
    events: capnp::struct_list::Reader<'_, chain_event::Owned>,
) -> capnp::Result<Vec<ChainEvent>> {
    events
        .iter()
        .map(|event| {
            Ok(match event.which()? {
                chain_event::BlockConnected(connected) => ChainEvent::BlockConnected {
                    height: connected.get_height(),
                    block: connected.get_block()?.to_vec(),
                },
                chain_event::TransactionAddedToMempool(tx) => {
                    ChainEvent::TransactionAdded(tx?.to_vec())
                }
            })
        })
        .collect()
}
