//! Wallet RPCs (bitcoind's wallet/rpc/): each reaches the wallet only
//! through the [`crate::wallet_slot::WalletSlot`]'s `Arc<dyn Wallet>`,
//! after the chain's queued notifications reached it. Each is a future over
//! a [`WalletAccess`], which calls an in-process wallet directly and
//! awaits a remote one's answer (`Wallet::as_async`).

use std::future::Future;
use std::sync::Arc;

use kestrel_common::amount::{amount_to_json, parse_amount, AmountError};
use kestrel_common::hash::hash_to_hex;
use kestrel_interfaces::{Pending, Wallet, WalletAsync};
use serde_json::{json, Value};

use crate::methods::params::{missing, parse_hash, type_error, Params};
use crate::methods::{opt, req, Method, Param, RpcContext, Run, WalletFuture};
use crate::wallet_slot::WalletSlot;
use crate::*;

#[rustfmt::skip]
pub(crate) const METHODS: &[Method] = &[
    wallet_method("getbalance", &[], "Returns the wallet's confirmed, mature balance.", get_balance),
    wallet_method("getnewaddress", &[], "Returns a new address of the wallet.", get_new_address),
    wallet_method("gettransaction", &[req("txid")], "Returns a wallet transaction.", get_transaction),
    wallet_method("listunspent", &[opt("minconf"), opt("maxconf")],
        "Returns the wallet's unspent outputs with minconf (default 1) to maxconf (default 9999999) confirmations.", list_unspent),
    wallet_method("sendtoaddress", &[req("address"), req("amount")], "Sends amount (in coins) to address; returns the txid.", send_to_address),
];

const fn wallet_method(
    name: &'static str,
    params: &'static [Param],
    help: &'static str,
    call: fn(WalletAccess, Params) -> WalletFuture,
) -> Method {
    Method {
        name,
        category: "Wallet",
        params,
        variadic: false,
        help,
        run: Run::Wallet(call),
    }
}

/// The wallet, once the chain's queued notifications reached it. A wallet
/// found gone leaves the slot, so later calls fail fast with -18.
pub(crate) struct WalletAccess {
    wallet: Arc<dyn Wallet>,
    slot: WalletSlot,
}

impl WalletAccess {
    /// Waits for the chain's queued notifications (this thread may block).
    pub(crate) fn synced(ctx: &RpcContext) -> Result<WalletAccess, RpcError> {
        let wallet = ctx.wallet.get()?;
        ctx.chain.sync_notifications();
        Ok(WalletAccess {
            wallet,
            slot: ctx.wallet.clone(),
        })
    }

    /// The wallet if it is remote, once the chain's queued notifications
    /// reached it: the wait and the call are awaited, so neither needs a
    /// thread to block on.
    pub(crate) async fn remote_synced(ctx: &RpcContext) -> Option<WalletAccess> {
        let wallet = ctx.wallet.get().ok()?;
        wallet.as_async()?;
        ctx.chain.notifications_synced().await;
        Some(WalletAccess {
            wallet,
            slot: ctx.wallet.clone(),
        })
    }

    /// Calls the wallet: `in_process` on an in-process wallet, `remote`'s
    /// future on a remote one.
    fn call<T: Send + 'static>(
        self,
        in_process: impl FnOnce(&dyn Wallet) -> kestrel_interfaces::Result<T>,
        remote: impl FnOnce(&dyn WalletAsync) -> Pending<T>,
    ) -> impl Future<Output = Result<T, RpcError>> + Send {
        let outcome = match self.wallet.as_async() {
            Some(remote_wallet) => remote(remote_wallet),
            None => Box::pin(std::future::ready(in_process(self.wallet.as_ref()))),
        };
        async move { outcome.await.map_err(|error| self.failed(error)) }
    }

    fn failed(&self, error: kestrel_interfaces::Error) -> RpcError {
        match error {
            kestrel_interfaces::Error::Rejected { code, message } => RpcError::new(code, message),
            kestrel_interfaces::Error::Disconnected(what, detail) => {
                tracing::warn!(target: "wallet", "{what} is gone ({detail}); wallet RPCs disabled");
                self.slot
                    .unload_lost(&self.wallet, format!("{what} is not available ({detail})"))
            }
        }
    }
}

fn get_new_address(wallet: WalletAccess, _: Params) -> WalletFuture {
    Box::pin(async move {
        let address = wallet
            .call(|w| w.get_new_address(), |w| w.get_new_address())
            .await?;
        Ok(Value::from(address))
    })
}

fn get_balance(wallet: WalletAccess, _: Params) -> WalletFuture {
    Box::pin(async move {
        let balance = wallet
            .call(|w| w.get_balance(), |w| w.get_balance())
            .await?;
        Ok(amount_to_json(balance as i64))
    })
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

fn send_to_address(wallet: WalletAccess, params: Params) -> WalletFuture {
    Box::pin(async move {
        let address = params.required_str(0, "address")?;
        let amount = amount_param(&params, 1, "amount")?;
        if amount == 0 {
            return Err(RpcError::new(TYPE_ERROR, "Invalid amount for send"));
        }
        let txid = wallet
            .call(
                |w| w.send_to_address(address, amount),
                |w| w.send_to_address(address, amount),
            )
            .await?;
        Ok(hash_to_hex(&txid).into())
    })
}

fn list_unspent(wallet: WalletAccess, params: Params) -> WalletFuture {
    Box::pin(async move {
        let min_conf = params.u32(0, "minconf")?.unwrap_or(1);
        let max_conf = params.u32(1, "maxconf")?.unwrap_or(9_999_999);
        let unspent = wallet
            .call(|w| w.list_unspent(min_conf), |w| w.list_unspent(min_conf))
            .await?;
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
    })
}

fn get_transaction(wallet: WalletAccess, params: Params) -> WalletFuture {
    Box::pin(async move {
        let txid = parse_hash(params.required_str(0, "txid")?, "txid")?;
        let tx = wallet
            .call(|w| w.get_transaction(&txid), |w| w.get_transaction(&txid))
            .await?;
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
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use kestrel_common::json::to_compact;

    use crate::test_support::FakeWallet;
    use serde_json::{json, Value};

    use std::sync::atomic::Ordering;

    use crate::methods::dispatch_async;
    use crate::test_support::{call, code, context, FakeChain};
    use crate::*;

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
            to_compact(&call(&ctx, "getbalance", json!([])).unwrap()),
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
            to_compact(&tx),
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
        assert_eq!(to_compact(&first["amount"]), "25.00000000");
    }

    /// A remote wallet's RPC is awaited on the server's task, and so is its
    /// wait for chain notifications still on their way: both are answered
    /// while the only blocking-pool thread is busy.
    #[test]
    fn a_remote_wallet_is_awaited_without_a_pool_thread() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .max_blocking_threads(1)
            .enable_time()
            .build()
            .unwrap();
        let (release, released) = std::sync::mpsc::channel::<()>();
        let busy = runtime.spawn_blocking(move || released.recv());
        let chain = Arc::new(FakeChain::new());
        let mut wallet = FakeWallet::new(3 * kestrel_interfaces::COIN);
        wallet.remote = true;
        let ctx = Arc::new(context(chain.clone(), Some(Arc::new(wallet))));
        let call = |method: &'static str| {
            let ctx = ctx.clone();
            async move { dispatch_async(&ctx, method, &json!([])).await }
        };
        fn within<F: std::future::Future>(
            runtime: &tokio::runtime::Runtime,
            ms: u64,
            f: F,
        ) -> Option<F::Output> {
            let wait = std::time::Duration::from_millis(ms);
            runtime.block_on(async move { tokio::time::timeout(wait, f).await.ok() })
        }

        let balance =
            within(&runtime, 5_000, call("getbalance")).expect("getbalance waited for the pool");
        assert_eq!(to_compact(&balance.unwrap()), "3.00000000");
        assert!(
            within(&runtime, 200, call("getblockcount")).is_none(),
            "a chain call was answered: the pool was not busy"
        );

        chain.pending.store(true, Ordering::SeqCst);
        let mut waiting = runtime.spawn(call("getbalance"));
        assert!(
            within(&runtime, 200, &mut waiting).is_none(),
            "answered before the pending notifications arrived"
        );
        chain.deliver_notifications();
        let balance = within(&runtime, 5_000, waiting)
            .expect("getbalance did not follow the notifications while the pool was busy");
        assert_eq!(to_compact(&balance.unwrap().unwrap()), "3.00000000");
        assert_eq!(
            *chain.syncs.lock().unwrap(),
            0,
            "a thread blocked on the sync"
        );

        release.send(()).unwrap();
        runtime.block_on(busy).unwrap().unwrap();
    }

    /// A panicking wallet call is answered with an error, in-process (on
    /// the pool) and remote (on the server's task) alike, and the server
    /// goes on serving.
    #[test]
    fn a_panicking_wallet_call_answers_an_internal_error() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        for remote in [false, true] {
            let mut wallet = FakeWallet::new(1);
            wallet.panics = true;
            wallet.remote = remote;
            let ctx = Arc::new(context(Arc::new(FakeChain::new()), Some(Arc::new(wallet))));
            let answer =
                |method: &'static str| runtime.block_on(dispatch_async(&ctx, method, &json!([])));
            let err = answer("getbalance").unwrap_err();
            assert_eq!(err.code, INTERNAL_ERROR, "remote {remote}: {err:?}");
            assert_eq!(err.message, "RPC handler failed");
            assert_eq!(answer("getblockcount"), Ok(json!(0)), "remote {remote}");
        }
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
            to_compact(&call(&ctx, "getbalance", json!([])).unwrap()),
            "0.00000007"
        );
    }
}
