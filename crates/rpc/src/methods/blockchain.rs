//! Blockchain RPCs (bitcoind's rpc/blockchain.cpp): the tip, blocks by
//! height and hash, and the mempool.

use serde_json::{json, Value};

use crate::methods::params::{missing, parse_hash, type_error, Params};
use crate::methods::{method, opt, req, Method, RpcContext};
use crate::*;
use kestrel_common::hash::hash_to_hex;

#[rustfmt::skip]
pub(crate) const METHODS: &[Method] = &[
    method("getbestblockhash", "Blockchain", &[], "Returns the hash of the best (tip) block.", get_best_block_hash),
    method("getblock", "Blockchain", &[req("blockhash"), opt("verbosity")],
        "Returns the block: verbosity 0 its serialized hex, 1 (default) an object with its transaction ids.", get_block),
    method("getblockcount", "Blockchain", &[], "Returns the height of the most-work chain.", get_block_count),
    method("getblockhash", "Blockchain", &[req("height")], "Returns the hash of the block at height on the active chain.", get_block_hash),
    method("getmempoolinfo", "Blockchain", &[], "Returns the number and total size of mempool transactions.", get_mempool_info),
    method("getrawmempool", "Blockchain", &[], "Returns the txids in the mempool.", get_raw_mempool),
];

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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;

    use crate::test_support::{call, code, context, FakeChain};
    use crate::*;

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
}
