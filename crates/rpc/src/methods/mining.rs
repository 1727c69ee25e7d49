//! Mining RPCs (bitcoind's rpc/mining.cpp): regtest block generation.

use serde_json::Value;

use crate::methods::params::Params;
use crate::methods::{method, opt, req, Method, RpcContext};
use crate::RpcError;
use kestrel_common::hash::hash_to_hex;

#[rustfmt::skip]
pub(crate) const METHODS: &[Method] = &[
    method("generatetoaddress", "Generating", &[req("nblocks"), req("address"), opt("maxtries")],
        "Mines nblocks blocks at once, paying the coinbase to address; returns their hashes.", generate_to_address),
];

fn generate_to_address(ctx: &RpcContext, params: &Params) -> Result<Value, RpcError> {
    let count = params.required_u32(0, "nblocks")?;
    let address = params.required_str(1, "address")?;
    // maxtries bounds bitcoind's nonce search; regtest mining always
    // succeeds at once here, so it is only type-checked.
    params.u32(2, "maxtries")?;
    let hashes = ctx.chain.generate_to_address(address, count)?;
    Ok(hashes.iter().map(|h| Value::from(hash_to_hex(h))).collect())
}
