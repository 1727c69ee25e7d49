//! The RPC methods: a table of names, parameters and help, and handlers that
//! reach the chain through [`NodeChain`] and the wallet only through the
//! [`WalletSlot`]'s `Arc<dyn Wallet>`.

use std::sync::Arc;
use std::time::Instant;

use kestrel_interfaces::{Hash256, Wallet};
use serde_json::{json, Value};

use super::*;
use crate::amount::{amount_to_json, parse_amount, AmountError};
use crate::node_chain::NodeChain;
use crate::shutdown::Shutdown;
use crate::wallet_slot::WalletSlot;

/// `echoipc`'s round trip: in-process in `kestreld`, through an IPC Echo
/// object in the multiprocess build.
pub type EchoIpc = Arc<dyn Fn(&str) -> kestrel_interfaces::Result<String> + Send + Sync>;

/// What the handlers work with.
pub struct RpcContext {
    pub chain: Arc<dyn NodeChain>,
    pub wallet: WalletSlot,
    pub echo_ipc: EchoIpc,
    pub shutdown: Shutdown,
    pub started: Instant,
}

struct Param {
    name: &'static str,
    required: bool,
}

const fn req(name: &'static str) -> Param {
    Param {
        name,
        required: true,
    }
}

const fn opt(name: &'static str) -> Param {
    Param {
        name,
        required: false,
    }
}

type Handler = fn(&RpcContext, &Params) -> Result<Value, RpcError>;

struct Method {
    name: &'static str,
    category: &'static str,
    params: &'static [Param],
    /// `echo` takes any parameters.
    variadic: bool,
    help: &'static str,
    handler: Handler,
}

const fn method(
    name: &'static str,
    category: &'static str,
    params: &'static [Param],
    help: &'static str,
    handler: Handler,
) -> Method {
    Method {
        name,
        category,
        params,
        variadic: false,
        help,
        handler,
    }
}

const METHODS: &[Method] = &[
    method("getbestblockhash", "Blockchain", &[], "Returns the hash of the best (tip) block.", get_best_block_hash),
    method("getblock", "Blockchain", &[req("blockhash"), opt("verbosity")],
        "Returns the block: verbosity 0 its serialized hex, 1 (default) an object with its transaction ids.", get_block),
    method("getblockcount", "Blockchain", &[], "Returns the height of the most-work chain.", get_block_count),
    method("getblockhash", "Blockchain", &[req("height")], "Returns the hash of the block at height on the active chain.", get_block_hash),
    method("getmempoolinfo", "Blockchain", &[], "Returns the number and total size of mempool transactions.", get_mempool_info),
    method("getrawmempool", "Blockchain", &[], "Returns the txids in the mempool.", get_raw_mempool),
    method("help", "Control", &[opt("command")], "Lists the commands, or explains one.", help),
    method("stop", "Control", &[], "Requests a clean shutdown of the node.", stop),
    method("uptime", "Control", &[], "Returns the seconds the node has been running.", uptime),
    method("generatetoaddress", "Generating", &[req("nblocks"), req("address"), opt("maxtries")],
        "Mines nblocks blocks at once, paying the coinbase to address; returns their hashes.", generate_to_address),
    Method {
        variadic: true,
        ..method("echo", "Hidden", &[], "Returns its parameters, for testing.", echo)
    },
    method("echoipc", "Hidden", &[req("arg")], "Echoes arg through an IPC round trip, for testing.", echo_ipc),
    method("getbalance", "Wallet", &[], "Returns the wallet's confirmed, mature balance.", get_balance),
    method("getnewaddress", "Wallet", &[], "Returns a new address of the wallet.", get_new_address),
    method("gettransaction", "Wallet", &[req("txid")], "Returns a wallet transaction.", get_transaction),
    method("listunspent", "Wallet", &[opt("minconf"), opt("maxconf")],
        "Returns the wallet's unspent outputs with minconf (default 1) to maxconf (default 9999999) confirmations.", list_unspent),
    method("sendtoaddress", "Wallet", &[req("address"), req("amount")], "Sends amount (in coins) to address; returns the txid.", send_to_address),
];

fn usage(method: &Method) -> String {
    let mut line = method.name.to_string();
    for param in method.params {
        if param.required {
            line.push_str(&format!(" {}", param.name));
        } else {
            line.push_str(&format!(" ( {} )", param.name));
        }
    }
    if method.variadic {
        line.push_str(" ( arg ... )");
    }
    line
}

/// A call's parameters, by position, after named ones were placed.
pub struct Params {
    values: Vec<Value>,
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn type_error(name: &str, expected: &str, got: &Value) -> RpcError {
    RpcError::new(
        TYPE_ERROR,
        format!(
            "JSON value of type {} is not of expected type {expected} (parameter {name})",
            type_name(got)
        ),
    )
}

impl Params {
    /// The value at `index`, `None` when absent or null.
    fn get(&self, index: usize) -> Option<&Value> {
        self.values.get(index).filter(|v| !v.is_null())
    }

    fn str(&self, index: usize, name: &str) -> Result<Option<&str>, RpcError> {
        self.get(index)
            .map(|v| v.as_str().ok_or_else(|| type_error(name, "string", v)))
            .transpose()
    }

    fn u32(&self, index: usize, name: &str) -> Result<Option<u32>, RpcError> {
        self.get(index)
            .map(|v| {
                let n = v.as_i64().ok_or_else(|| type_error(name, "number", v))?;
                u32::try_from(n).map_err(|_| {
                    RpcError::new(INVALID_PARAMETER, format!("{name} out of range: {n}"))
                })
            })
            .transpose()
    }

    fn required_str(&self, index: usize, name: &str) -> Result<&str, RpcError> {
        self.str(index, name)?.ok_or_else(|| missing(name))
    }

    fn required_u32(&self, index: usize, name: &str) -> Result<u32, RpcError> {
        self.u32(index, name)?.ok_or_else(|| missing(name))
    }
}

fn missing(name: &str) -> RpcError {
    RpcError::new(MISC_ERROR, format!("Missing required parameter {name}"))
}

/// Places `params` (an array, an object of named parameters, or absent)
/// against the method's parameter list.
fn bind_params(method: &Method, params: &Value) -> Result<Params, RpcError> {
    let wrong_count = || {
        RpcError::new(
            MISC_ERROR,
            format!(
                "Wrong number of parameters for {}; usage: {}",
                method.name,
                usage(method)
            ),
        )
    };
    let values = match params {
        Value::Null => Vec::new(),
        Value::Array(values) => {
            if !method.variadic && values.len() > method.params.len() {
                return Err(wrong_count());
            }
            values.clone()
        }
        Value::Object(named) => {
            if let Some(unknown) = named
                .keys()
                .find(|key| !method.params.iter().any(|p| p.name == key.as_str()))
            {
                return Err(RpcError::new(
                    INVALID_PARAMETER,
                    format!(
                        "Unknown named parameter {unknown}; usage: {}",
                        usage(method)
                    ),
                ));
            }
            method
                .params
                .iter()
                .map(|p| named.get(p.name).cloned().unwrap_or(Value::Null))
                .collect()
        }
        other => {
            return Err(RpcError::new(
                INVALID_REQUEST,
                format!(
                    "Params must be an array or object, not {}",
                    type_name(other)
                ),
            ))
        }
    };
    let missing_required = method
        .params
        .iter()
        .enumerate()
        .any(|(i, p)| p.required && values.get(i).is_none_or(Value::is_null));
    if missing_required {
        return Err(wrong_count());
    }
    Ok(Params { values })
}

/// Runs one call.
pub fn dispatch(ctx: &RpcContext, name: &str, params: &Value) -> Result<Value, RpcError> {
    let method = METHODS
        .iter()
        .find(|m| m.name == name)
        .ok_or_else(|| RpcError::new(METHOD_NOT_FOUND, "Method not found"))?;
    let params = bind_params(method, params)?;
    tracing::debug!(target: "rpc", method = name, params = %serde_json::Value::from(params.values.clone()), "call");
    (method.handler)(ctx, &params)
}

/// bitcoind shows hashes byte-reversed.
pub fn hash_to_hex(hash: &Hash256) -> String {
    let mut reversed = *hash;
    reversed.reverse();
    hex::encode(reversed)
}

fn parse_hash(text: &str, name: &str) -> Result<Hash256, RpcError> {
    if text.len() != 64 {
        return Err(RpcError::new(
            INVALID_PARAMETER,
            format!(
                "{name} must be of length 64 (not {}, for '{text}')",
                text.len()
            ),
        ));
    }
    let mut hash = [0u8; 32];
    hex::decode_to_slice(text, &mut hash).map_err(|_| {
        RpcError::new(
            INVALID_PARAMETER,
            format!("{name} must be hexadecimal string (not '{text}')"),
        )
    })?;
    hash.reverse();
    Ok(hash)
}

fn get_block_count(ctx: &RpcContext, _: &Params) -> Result<Value, RpcError> {
    Ok(ctx.chain.tip().height.into())
}

fn get_best_block_hash(ctx: &RpcContext, _: &Params) -> Result<Value, RpcError> {
    Ok(hash_to_hex(&ctx.chain.tip().hash).into())
}

fn get_block_hash(ctx: &RpcContext, params: &Params) -> Result<Value, RpcError> {
    let height = match params.get(0) {
        Some(value) => value
            .as_i64()
            .ok_or_else(|| type_error("height", "number", value))?,
        None => return Err(missing("height")),
    };
    let hash = u32::try_from(height)
        .ok()
        .and_then(|h| ctx.chain.block_hash(h))
        .ok_or_else(|| RpcError::new(INVALID_PARAMETER, "Block height out of range"))?;
    Ok(hash_to_hex(&hash).into())
}

fn get_block(ctx: &RpcContext, params: &Params) -> Result<Value, RpcError> {
    let hash = parse_hash(params.required_str(0, "blockhash")?, "blockhash")?;
    // bitcoind also takes true/false for 1/0.
    let verbosity = match params.get(1) {
        None => 1,
        Some(Value::Bool(verbose)) => u32::from(*verbose),
        Some(_) => params.required_u32(1, "verbosity")?,
    };
    let block = ctx
        .chain
        .block(&hash)
        .ok_or_else(|| RpcError::new(INVALID_ADDRESS_OR_KEY, "Block not found"))?;
    match verbosity {
        0 => Ok(hex::encode(&block.raw).into()),
        1 => {
            let tip = ctx.chain.tip();
            let mut info = json!({
                "hash": hash_to_hex(&block.hash),
                "confirmations": tip.height - block.height + 1,
                "size": block.raw.len(),
                "height": block.height,
                "version": block.version,
                "versionHex": format!("{:08x}", block.version),
                "merkleroot": hash_to_hex(&block.merkle_root),
                "tx": block.txids.iter().map(hash_to_hex).collect::<Vec<_>>(),
                "time": block.time,
                "nonce": block.nonce,
                "bits": format!("{:08x}", block.bits),
                "nTx": block.txids.len(),
            });
            if block.height > 0 {
                info["previousblockhash"] = hash_to_hex(&block.prev_hash).into();
            }
            if let Some(next) = ctx.chain.block_hash(block.height + 1) {
                info["nextblockhash"] = hash_to_hex(&next).into();
            }
            Ok(info)
        }
        other => Err(RpcError::new(
            INVALID_PARAMETER,
            format!("Verbosity {other} is not supported; use 0 (hex) or 1 (object)"),
        )),
    }
}

fn get_raw_mempool(ctx: &RpcContext, _: &Params) -> Result<Value, RpcError> {
    Ok(ctx
        .chain
        .mempool()
        .iter()
        .map(|entry| Value::from(hash_to_hex(&entry.txid)))
        .collect())
}

fn get_mempool_info(ctx: &RpcContext, _: &Params) -> Result<Value, RpcError> {
    let mempool = ctx.chain.mempool();
    Ok(json!({
        "loaded": true,
        "size": mempool.len(),
        "bytes": mempool.iter().map(|e| e.size).sum::<usize>(),
    }))
}

fn generate_to_address(ctx: &RpcContext, params: &Params) -> Result<Value, RpcError> {
    let count = params.required_u32(0, "nblocks")?;
    let address = params.required_str(1, "address")?;
    // maxtries bounds bitcoind's nonce search; regtest mining always
    // succeeds at once here, so it is only type-checked.
    params.u32(2, "maxtries")?;
    let hashes = ctx.chain.generate_to_address(address, count)?;
    Ok(hashes.iter().map(|h| Value::from(hash_to_hex(h))).collect())
}

fn help(_: &RpcContext, params: &Params) -> Result<Value, RpcError> {
    if let Some(name) = params.str(0, "command")? {
        return Ok(match METHODS.iter().find(|m| m.name == name) {
            Some(method) => format!("{}\n\n{}", usage(method), method.help),
            None => format!("help: unknown command: {name}"),
        }
        .into());
    }
    let mut text = String::new();
    let mut category = "";
    for method in METHODS.iter().filter(|m| m.category != "Hidden") {
        if method.category != category {
            if !category.is_empty() {
                text.push('\n');
            }
            category = method.category;
            text.push_str(&format!("== {category} ==\n"));
        }
        text.push_str(&usage(method));
        text.push('\n');
    }
    Ok(text.trim_end().to_string().into())
}

fn stop(ctx: &RpcContext, _: &Params) -> Result<Value, RpcError> {
    ctx.shutdown.request();
    Ok("Kestrel server stopping".into())
}

fn uptime(ctx: &RpcContext, _: &Params) -> Result<Value, RpcError> {
    Ok(ctx.started.elapsed().as_secs().into())
}

fn echo(_: &RpcContext, params: &Params) -> Result<Value, RpcError> {
    Ok(Value::Array(params.values.clone()))
}

fn echo_ipc(ctx: &RpcContext, params: &Params) -> Result<Value, RpcError> {
    let arg = params.required_str(0, "arg")?;
    (ctx.echo_ipc)(arg)
        .map(Value::from)
        .map_err(|e| RpcError::new(MISC_ERROR, e.to_string()))
}

/// Calls the wallet after the chain's queued notifications reached it. A
/// wallet found gone leaves the slot, so later calls fail fast with -18.
fn with_wallet<T>(
    ctx: &RpcContext,
    call: impl FnOnce(&dyn Wallet) -> kestrel_interfaces::Result<T>,
) -> Result<T, RpcError> {
    let wallet = ctx.wallet.get()?;
    ctx.chain.sync_notifications();
    call(wallet.as_ref()).map_err(|error| match error {
        kestrel_interfaces::Error::Rejected { code, message } => RpcError::new(code, message),
        kestrel_interfaces::Error::Disconnected(what, detail) => {
            tracing::warn!(target: "wallet", "{what} is gone ({detail}); wallet RPCs disabled");
            ctx.wallet
                .unload_lost(&wallet, format!("{what} is not available ({detail})"))
        }
    })
}

fn get_new_address(ctx: &RpcContext, _: &Params) -> Result<Value, RpcError> {
    with_wallet(ctx, |w| w.get_new_address()).map(Value::from)
}

fn get_balance(ctx: &RpcContext, _: &Params) -> Result<Value, RpcError> {
    let balance = with_wallet(ctx, |w| w.get_balance())?;
    Ok(amount_to_json(balance as i64))
}

/// An amount parameter: a JSON number or a decimal string of coins.
fn amount_param(params: &Params, index: usize, name: &str) -> Result<u64, RpcError> {
    let value = params.get(index).ok_or_else(|| missing(name))?;
    let text = match value {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        other => return Err(type_error(name, "number", other)),
    };
    parse_amount(&text).map_err(|e| match e {
        AmountError::OutOfRange => RpcError::new(TYPE_ERROR, "Amount out of range"),
        AmountError::Malformed | AmountError::TooPrecise => {
            RpcError::new(TYPE_ERROR, format!("Invalid amount {text}: {e}"))
        }
    })
}

fn send_to_address(ctx: &RpcContext, params: &Params) -> Result<Value, RpcError> {
    let address = params.required_str(0, "address")?;
    let amount = amount_param(params, 1, "amount")?;
    if amount == 0 {
        return Err(RpcError::new(TYPE_ERROR, "Invalid amount for send"));
    }
    let txid = with_wallet(ctx, |w| w.send_to_address(address, amount))?;
    Ok(hash_to_hex(&txid).into())
}

fn list_unspent(ctx: &RpcContext, params: &Params) -> Result<Value, RpcError> {
    let min_conf = params.u32(0, "minconf")?.unwrap_or(1);
    let max_conf = params.u32(1, "maxconf")?.unwrap_or(9_999_999);
    let unspent = with_wallet(ctx, |w| w.list_unspent(min_conf))?;
    Ok(unspent
        .iter()
        .filter(|u| u.confirmations <= max_conf)
        .map(|u| {
            json!({
                "txid": hash_to_hex(&u.txid),
                "vout": u.vout,
                "address": u.address,
                "amount": amount_to_json(u.amount as i64),
                "confirmations": u.confirmations,
                "spendable": u.spendable,
            })
        })
        .collect())
}

fn get_transaction(ctx: &RpcContext, params: &Params) -> Result<Value, RpcError> {
    let txid = parse_hash(params.required_str(0, "txid")?, "txid")?;
    let tx = with_wallet(ctx, |w| w.get_transaction(&txid))?;
    let mut info = json!({
        "amount": amount_to_json(tx.amount),
        "confirmations": tx.confirmations,
        "txid": hash_to_hex(&tx.txid),
        "hex": hex::encode(&tx.raw),
    });
    if let Some(fee) = tx.fee {
        // bitcoind shows the fee paid as a negative amount.
        info["fee"] = amount_to_json(-(fee as i64));
    }
    if let Some(block_hash) = tx.block_hash {
        info["blockhash"] = hash_to_hex(&block_hash).into();
    }
    Ok(info)
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::Mutex;

    use kestrel_interfaces::{Amount, Tip, Unspent, WalletTx};

    use super::*;
    use crate::node_chain::{BlockInfo, MempoolEntry};

    /// A chain of `blocks` fake blocks whose hash is `[height+1; 32]`.
    pub(crate) struct FakeChain {
        pub blocks: Mutex<Vec<BlockInfo>>,
        pub syncs: Mutex<u32>,
    }

    fn fake_block(height: u32) -> BlockInfo {
        BlockInfo {
            hash: [height as u8 + 1; 32],
            height,
            version: 1,
            prev_hash: if height == 0 {
                [0; 32]
            } else {
                [height as u8; 32]
            },
            merkle_root: [0xaa; 32],
            time: 1_700_000_000 + height,
            bits: 0x207fffff,
            nonce: 7,
            txids: vec![[0xbb; 32]],
            raw: vec![1, 2, 3],
        }
    }

    impl FakeChain {
        pub(crate) fn new() -> FakeChain {
            FakeChain {
                blocks: Mutex::new(vec![fake_block(0)]),
                syncs: Mutex::new(0),
            }
        }
    }

    impl NodeChain for FakeChain {
        fn tip(&self) -> Tip {
            let blocks = self.blocks.lock().unwrap();
            let last = blocks.last().unwrap();
            Tip {
                height: last.height,
                hash: last.hash,
            }
        }
        fn block_hash(&self, height: u32) -> Option<Hash256> {
            self.blocks
                .lock()
                .unwrap()
                .get(height as usize)
                .map(|b| b.hash)
        }
        fn block(&self, hash: &Hash256) -> Option<BlockInfo> {
            self.blocks
                .lock()
                .unwrap()
                .iter()
                .find(|b| &b.hash == hash)
                .cloned()
        }
        fn generate_to_address(&self, address: &str, count: u32) -> Result<Vec<Hash256>, RpcError> {
            if !address.starts_with("kcrt1") {
                return Err(RpcError::new(
                    INVALID_ADDRESS_OR_KEY,
                    "Error: Invalid address",
                ));
            }
            let mut blocks = self.blocks.lock().unwrap();
            Ok((0..count)
                .map(|_| {
                    let block = fake_block(blocks.len() as u32);
                    blocks.push(block.clone());
                    block.hash
                })
                .collect())
        }
        fn mempool(&self) -> Vec<MempoolEntry> {
            vec![
                MempoolEntry {
                    txid: [0xcc; 32],
                    size: 100,
                },
                MempoolEntry {
                    txid: [0xdd; 32],
                    size: 150,
                },
            ]
        }
        fn sync_notifications(&self) {
            *self.syncs.lock().unwrap() += 1;
        }
    }

    /// A wallet with a fixed balance that records what it was sent.
    pub(crate) struct FakeWallet {
        pub balance: Amount,
        pub sent: Mutex<Vec<(String, Amount)>>,
        pub disconnected: bool,
    }

    impl FakeWallet {
        pub(crate) fn new(balance: Amount) -> FakeWallet {
            FakeWallet {
                balance,
                sent: Mutex::new(Vec::new()),
                disconnected: false,
            }
        }

        fn check(&self) -> kestrel_interfaces::Result<()> {
            if self.disconnected {
                return Err(kestrel_interfaces::Error::Disconnected(
                    "wallet",
                    "socket closed".into(),
                ));
            }
            Ok(())
        }
    }

    impl Wallet for FakeWallet {
        fn get_new_address(&self) -> kestrel_interfaces::Result<String> {
            self.check()?;
            Ok("kcrt1new".into())
        }
        fn get_balance(&self) -> kestrel_interfaces::Result<Amount> {
            self.check()?;
            Ok(self.balance)
        }
        fn send_to_address(
            &self,
            address: &str,
            amount: Amount,
        ) -> kestrel_interfaces::Result<Hash256> {
            self.check()?;
            if amount > self.balance {
                return Err(kestrel_interfaces::Error::Rejected {
                    code: WALLET_INSUFFICIENT_FUNDS,
                    message: "Insufficient funds".into(),
                });
            }
            self.sent.lock().unwrap().push((address.into(), amount));
            Ok([0x11; 32])
        }
        fn list_unspent(&self, min_confirmations: u32) -> kestrel_interfaces::Result<Vec<Unspent>> {
            self.check()?;
            Ok([1u32, 50, 150]
                .into_iter()
                .filter(|c| *c >= min_confirmations)
                .map(|confirmations| Unspent {
                    txid: [0x22; 32],
                    vout: confirmations,
                    address: "kcrt1a".into(),
                    amount: 25 * kestrel_interfaces::COIN,
                    confirmations,
                    spendable: confirmations >= 100,
                })
                .collect())
        }
        fn get_transaction(&self, txid: &Hash256) -> kestrel_interfaces::Result<WalletTx> {
            self.check()?;
            if *txid != [0x11; 32] {
                return Err(kestrel_interfaces::Error::Rejected {
                    code: INVALID_ADDRESS_OR_KEY,
                    message: "Invalid or non-wallet transaction id".into(),
                });
            }
            Ok(WalletTx {
                txid: *txid,
                amount: -150_000_000,
                fee: Some(1000),
                confirmations: 0,
                block_hash: None,
                raw: vec![0xde, 0xad],
            })
        }
        fn list_transactions(&self, _count: u32) -> kestrel_interfaces::Result<Vec<WalletTx>> {
            self.check()?;
            Ok(Vec::new())
        }
    }

    pub(crate) fn context(chain: Arc<FakeChain>, wallet: Option<Arc<dyn Wallet>>) -> RpcContext {
        let slot = WalletSlot::default();
        if let Some(wallet) = wallet {
            slot.set(wallet);
        }
        RpcContext {
            chain,
            wallet: slot,
            echo_ipc: Arc::new(|s: &str| Ok(s.to_string())),
            shutdown: Shutdown::default(),
            started: Instant::now(),
        }
    }

    fn call(ctx: &RpcContext, name: &str, params: Value) -> Result<Value, RpcError> {
        dispatch(ctx, name, &params)
    }

    fn code(result: Result<Value, RpcError>) -> i32 {
        result.expect_err("expected an error").code
    }

    #[test]
    fn chain_methods() {
        let chain = Arc::new(FakeChain::new());
        let ctx = context(chain.clone(), None);
        assert_eq!(call(&ctx, "getblockcount", json!([])), Ok(json!(0)));
        let hashes = call(&ctx, "generatetoaddress", json!([2, "kcrt1x"])).unwrap();
        assert_eq!(hashes.as_array().unwrap().len(), 2);
        assert_eq!(call(&ctx, "getblockcount", json!([])), Ok(json!(2)));
        let best = call(&ctx, "getbestblockhash", json!([])).unwrap();
        assert_eq!(best, hashes[1]);
        assert_eq!(call(&ctx, "getblockhash", json!([2])).unwrap(), best);
        assert_eq!(
            code(call(&ctx, "getblockhash", json!([3]))),
            INVALID_PARAMETER
        );
        assert_eq!(
            code(call(&ctx, "getblockhash", json!([-1]))),
            INVALID_PARAMETER
        );
        assert_eq!(code(call(&ctx, "getblockhash", json!(["1"]))), TYPE_ERROR);
        assert_eq!(
            code(call(&ctx, "generatetoaddress", json!([1, "bogus"]))),
            INVALID_ADDRESS_OR_KEY
        );
    }

    #[test]
    fn getblock_verbosity_and_errors() {
        let chain = Arc::new(FakeChain::new());
        let ctx = context(chain.clone(), None);
        call(&ctx, "generatetoaddress", json!([2, "kcrt1x"])).unwrap();
        let hash = call(&ctx, "getblockhash", json!([1])).unwrap();
        let block = call(&ctx, "getblock", json!([hash])).unwrap();
        assert_eq!(block["height"], json!(1));
        assert_eq!(block["confirmations"], json!(2));
        assert_eq!(
            block["previousblockhash"],
            call(&ctx, "getblockhash", json!([0])).unwrap()
        );
        assert_eq!(
            block["nextblockhash"],
            call(&ctx, "getblockhash", json!([2])).unwrap()
        );
        assert_eq!(block["tx"], json!(["bb".repeat(32)]));
        assert_eq!(block["bits"], json!("207fffff"));
        assert_eq!(
            call(&ctx, "getblock", json!([hash, 0])),
            Ok(json!("010203"))
        );
        assert_eq!(
            call(
                &ctx,
                "getblock",
                json!({"blockhash": hash, "verbosity": false})
            ),
            Ok(json!("010203"))
        );
        let genesis = call(
            &ctx,
            "getblock",
            json!([call(&ctx, "getblockhash", json!([0])).unwrap()]),
        )
        .unwrap();
        assert!(genesis.get("previousblockhash").is_none());
        assert_eq!(
            code(call(&ctx, "getblock", json!([hash, 2]))),
            INVALID_PARAMETER
        );
        assert_eq!(
            code(call(&ctx, "getblock", json!(["00".repeat(32)]))),
            INVALID_ADDRESS_OR_KEY
        );
        let err = call(&ctx, "getblock", json!(["abc"])).unwrap_err();
        assert_eq!(
            err.message,
            "blockhash must be of length 64 (not 3, for 'abc')"
        );
        assert_eq!(
            code(call(&ctx, "getblock", json!(["zz".repeat(32)]))),
            INVALID_PARAMETER
        );
    }

    #[test]
    fn mempool_methods() {
        let ctx = context(Arc::new(FakeChain::new()), None);
        assert_eq!(
            call(&ctx, "getrawmempool", json!([])),
            Ok(json!(["cc".repeat(32), "dd".repeat(32)]))
        );
        assert_eq!(
            call(&ctx, "getmempoolinfo", json!([])),
            Ok(json!({"loaded": true, "size": 2, "bytes": 250}))
        );
    }

    #[test]
    fn parameter_checking() {
        let ctx = context(Arc::new(FakeChain::new()), None);
        assert_eq!(
            code(call(&ctx, "nosuchmethod", json!([]))),
            METHOD_NOT_FOUND
        );
        let err = call(&ctx, "getblockhash", json!([])).unwrap_err();
        assert_eq!(err.code, MISC_ERROR);
        assert!(
            err.message.contains("usage: getblockhash height"),
            "{}",
            err.message
        );
        assert_eq!(code(call(&ctx, "getblockcount", json!([1]))), MISC_ERROR);
        assert_eq!(
            code(call(&ctx, "getblockhash", json!({"hieght": 1}))),
            INVALID_PARAMETER
        );
        assert_eq!(
            code(call(&ctx, "getblockcount", json!("x"))),
            INVALID_REQUEST
        );
        assert_eq!(call(&ctx, "getblockcount", Value::Null), Ok(json!(0)));
    }

    #[test]
    fn control_methods() {
        let ctx = context(Arc::new(FakeChain::new()), None);
        assert_eq!(
            call(&ctx, "echo", json!(["a", 1, null])),
            Ok(json!(["a", 1, null]))
        );
        assert_eq!(call(&ctx, "echoipc", json!(["hi"])), Ok(json!("hi")));
        assert!(call(&ctx, "uptime", json!([])).unwrap().is_u64());
        let help = call(&ctx, "help", json!([])).unwrap();
        let help = help.as_str().unwrap();
        assert!(
            help.contains("== Wallet ==") && help.contains("sendtoaddress address amount"),
            "{help}"
        );
        assert!(!help.contains("echoipc"));
        let one = call(&ctx, "help", json!(["getblock"])).unwrap();
        assert!(one
            .as_str()
            .unwrap()
            .starts_with("getblock blockhash ( verbosity )"));
        assert!(!ctx.shutdown.is_requested());
        assert_eq!(
            call(&ctx, "stop", json!([])),
            Ok(json!("Kestrel server stopping"))
        );
        assert!(ctx.shutdown.is_requested());
    }

    #[test]
    fn empty_wallet_slot_fails_wallet_calls_with_minus_18_only() {
        let ctx = context(Arc::new(FakeChain::new()), None);
        for (method, params) in [
            ("getbalance", json!([])),
            ("getnewaddress", json!([])),
            ("sendtoaddress", json!(["kcrt1x", 1])),
            ("listunspent", json!([])),
            ("gettransaction", json!(["11".repeat(32)])),
        ] {
            assert_eq!(
                code(call(&ctx, method, params)),
                WALLET_NOT_FOUND,
                "{method}"
            );
        }
        assert_eq!(call(&ctx, "getblockcount", json!([])), Ok(json!(0)));
    }

    #[test]
    fn wallet_methods_sync_notifications_first_and_format_amounts() {
        let chain = Arc::new(FakeChain::new());
        let wallet = Arc::new(FakeWallet::new(50 * kestrel_interfaces::COIN));
        let ctx = context(chain.clone(), Some(wallet.clone()));
        assert_eq!(
            crate::json::to_compact(&call(&ctx, "getbalance", json!([])).unwrap()),
            "50.00000000"
        );
        assert_eq!(*chain.syncs.lock().unwrap(), 1);
        assert_eq!(
            call(&ctx, "getnewaddress", json!([])),
            Ok(json!("kcrt1new"))
        );
        let txid = call(&ctx, "sendtoaddress", json!(["kcrt1dest", "1.5"])).unwrap();
        assert_eq!(txid, json!("11".repeat(32)));
        call(&ctx, "sendtoaddress", json!(["kcrt1dest", 0.1])).unwrap();
        assert_eq!(
            *wallet.sent.lock().unwrap(),
            [
                ("kcrt1dest".to_string(), 150_000_000),
                ("kcrt1dest".to_string(), 10_000_000)
            ]
        );
        assert_eq!(
            code(call(&ctx, "sendtoaddress", json!(["kcrt1dest", 51]))),
            WALLET_INSUFFICIENT_FUNDS
        );
        assert_eq!(
            code(call(&ctx, "sendtoaddress", json!(["kcrt1dest", 0]))),
            TYPE_ERROR
        );
        assert_eq!(
            code(call(&ctx, "sendtoaddress", json!(["kcrt1dest", "x"]))),
            TYPE_ERROR
        );
        assert_eq!(
            code(call(&ctx, "sendtoaddress", json!(["kcrt1dest", 1e-9]))),
            TYPE_ERROR
        );
        let tx = call(&ctx, "gettransaction", json!(["11".repeat(32)])).unwrap();
        assert_eq!(
            crate::json::to_compact(&tx),
            format!(
                r#"{{"amount":-1.50000000,"confirmations":0,"fee":-0.00001000,"hex":"dead","txid":"{}"}}"#,
                "11".repeat(32)
            )
        );
        assert_eq!(
            code(call(&ctx, "gettransaction", json!(["22".repeat(32)]))),
            INVALID_ADDRESS_OR_KEY
        );
    }

    #[test]
    fn listunspent_filters_by_confirmations() {
        let wallet = Arc::new(FakeWallet::new(0));
        let ctx = context(Arc::new(FakeChain::new()), Some(wallet));
        let confirmations = |params: Value| -> Vec<u64> {
            call(&ctx, "listunspent", params)
                .unwrap()
                .as_array()
                .unwrap()
                .iter()
                .map(|u| u["confirmations"].as_u64().unwrap())
                .collect()
        };
        assert_eq!(confirmations(json!([])), [1, 50, 150]);
        assert_eq!(confirmations(json!([50])), [50, 150]);
        assert_eq!(confirmations(json!([1, 100])), [1, 50]);
        let first = &call(&ctx, "listunspent", json!([150])).unwrap()[0];
        assert_eq!(first["spendable"], json!(true));
        assert_eq!(crate::json::to_compact(&first["amount"]), "25.00000000");
    }

    #[test]
    fn disconnected_wallet_empties_the_slot() {
        let mut wallet = FakeWallet::new(1);
        wallet.disconnected = true;
        let ctx = context(Arc::new(FakeChain::new()), Some(Arc::new(wallet)));
        let err = call(&ctx, "getbalance", json!([])).unwrap_err();
        assert_eq!(err.code, WALLET_NOT_FOUND);
        assert!(err.message.contains("socket closed"), "{}", err.message);
        assert!(ctx.wallet.get().is_err());
        // A wallet loaded again serves calls.
        ctx.wallet.set(Arc::new(FakeWallet::new(7)));
        assert_eq!(
            crate::json::to_compact(&call(&ctx, "getbalance", json!([])).unwrap()),
            "0.00000007"
        );
    }
}
