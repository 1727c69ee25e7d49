//! How one call crosses a connection, for every interface module: the
//! client side ([`ProxyCore`], [`call_remote!`]) posts the call to the
//! event loop and waits for its reply; the server side ([`serve_on_pool!`])
//! runs the trait call on the blocking pool (or in place, when it never
//! waits) and writes its outcome.

use std::future::Future;
use std::sync::Arc;

use futures::future::Either;

use kestrel_interfaces::Result;

use crate::event_loop::{EventLoopHandle, LoopLocal};
use crate::log::{CallLog, Side};
use crate::peer::Peer;

/// What every proxy and server of one connection shares: the loop it runs
/// on and the liveness of the far process.
#[derive(Clone)]
pub(crate) struct Link {
    pub(crate) handle: EventLoopHandle,
    pub(crate) peer: Arc<Peer>,
    /// Chain notification batches arriving over this connection are handled
    /// one at a time in arrival order, across every subscriber on it: the
    /// sender does not wait between them.
    pub(crate) notification_turn: Arc<tokio::sync::Mutex<()>>,
}

impl Link {
    pub(crate) fn new(handle: &EventLoopHandle, peer: Arc<Peer>) -> Self {
        Self {
            handle: handle.clone(),
            peer,
            notification_turn: Arc::default(),
        }
    }

    /// The `-debug=ipc` log of `interface` on this process's `side`.
    pub(crate) fn call_log(&self, interface: &'static str, side: Side) -> CallLog {
        CallLog::new(self.handle.process_name_arc(), interface, side)
    }
}

/// One remote object: its Cap'n Proto client (kept on the loop) and how to
/// report on calls to it.
pub(crate) struct ProxyCore<C: 'static> {
    client: LoopLocal<C>,
    pub(crate) link: Link,
    pub(crate) log: CallLog,
    interface: &'static str,
}

/// A call's future on the loop: outer error = transport failure, inner
/// result = the call's own outcome (possibly `Rejected`).
pub(crate) type CallOutcome<T> = capnp::Result<Result<T>>;

impl<C: 'static> ProxyCore<C> {
    /// Must be called on the loop thread.
    pub(crate) fn new(client: C, link: &Link, interface: &'static str) -> Arc<Self> {
        Arc::new(Self {
            client: LoopLocal::new(client, &link.handle),
            log: link.call_log(interface, Side::Client),
            link: link.clone(),
            interface,
        })
    }

    /// Starts a call: `f` runs on the loop with this proxy and returns the
    /// call's future. The returned future is `Send` and may be awaited
    /// anywhere, which lets one thread keep many calls in flight. Started
    /// on the loop thread itself (the node's HTTP side runs there), the
    /// call is sent right away as by [`ProxyCore::start_on_loop`], and its
    /// future must be awaited on that thread (it is [`LoopLocal`]).
    pub(crate) fn start<T, Fut>(
        self: &Arc<Self>,
        f: impl FnOnce(Arc<Self>) -> Fut + Send + 'static,
    ) -> impl Future<Output = Result<T>> + Send + 'static
    where
        T: Send + 'static,
        Fut: Future<Output = CallOutcome<T>> + 'static,
    {
        if self.on_loop_thread() {
            let call = Box::pin(self.start_on_loop(f));
            return Either::Left(LoopLocal::new(call, &self.link.handle));
        }
        let core = self.clone();
        let peer = self.link.peer.clone();
        let interface = self.interface;
        let reply = self.link.handle.run(move || f(core));
        Either::Right(async move { settle(&peer, interface, reply.await) })
    }

    /// Starts a call from a task on the loop thread itself: the request is
    /// built and sent right here, with no hop to the loop and back (the
    /// job channel, a task spawn, a oneshot and two thread wake-ups of
    /// [`ProxyCore::start`]). The future is not `Send`: await it on the loop.
    pub(crate) fn start_on_loop<T, Fut>(
        self: &Arc<Self>,
        f: impl FnOnce(Arc<Self>) -> Fut,
    ) -> impl Future<Output = Result<T>> + 'static
    where
        T: 'static,
        Fut: Future<Output = CallOutcome<T>> + 'static,
    {
        assert!(
            self.on_loop_thread(),
            "{} proxy: start_on_loop called off the IPC event-loop thread",
            self.interface
        );
        let peer = self.link.peer.clone();
        let interface = self.interface;
        let call = f(self.clone());
        async move { settle(&peer, interface, Some(call.await)) }
    }

    /// A call from sync code: blocks until the reply (or the disconnect).
    pub(crate) fn call<T, Fut>(
        self: &Arc<Self>,
        f: impl FnOnce(Arc<Self>) -> Fut + Send + 'static,
    ) -> Result<T>
    where
        T: Send + 'static,
        Fut: Future<Output = CallOutcome<T>> + 'static,
    {
        self.wait(self.start(f))
    }

    /// Blocks sync code until `started` (a call of this proxy's) answers.
    pub(crate) fn wait<T>(&self, started: impl Future<Output = Result<T>>) -> Result<T> {
        debug_assert!(
            !self.link.handle.is_loop_thread(),
            "{} proxy called on the IPC event-loop thread",
            self.interface
        );
        futures::executor::block_on(started)
    }

    /// The Cap'n Proto client; only on the loop thread.
    pub(crate) fn client(&self) -> &C {
        self.client.get()
    }

    /// Whether this is the loop thread, where a proxy must not wait.
    pub(crate) fn on_loop_thread(&self) -> bool {
        self.link.handle.is_loop_thread()
    }
}

/// A call's result as the caller sees it: `None` (the loop stopped before
/// the call ran) and transport failures become `Disconnected` naming the
/// peer.
fn settle<T>(peer: &Peer, interface: &'static str, reply: Option<CallOutcome<T>>) -> Result<T> {
    match reply {
        Some(Ok(outcome)) => outcome,
        Some(Err(e)) => Err(peer.call_failed(interface, e)),
        None => Err(peer.disconnected(interface, None)),
    }
}

/// Sends `request` (a `mut` binding), logging it and its results under
/// `-debug=ipc`; evaluates to the response.
macro_rules! send_logged {
    ($core:expr, $method:literal, $request:ident) => {{
        $core.log.request($method, $request.get().into_reader());
        let response = $request.send().promise.await?;
        $core.log.response($method, response.get()?);
        response
    }};
}
pub(crate) use send_logged;

/// Starts one call of a proxy and evaluates to its `Send` future:
/// `$request` (the generated request method) with its params filled by
/// `$set`, then `$decode` reads the results (of type `$results`), unless
/// they carry a refusal (`rejected`), which becomes `Err`. `$core` names the
/// proxy's core inside `$decode` (to wrap capabilities on the same link).
/// Without `$set`, the call has no params.
macro_rules! start_remote {
    ($proxy:expr, $method:literal, $request:ident,
     |$core:ident, $results:ident: $results_ty:ty| $decode:expr) => {
        $crate::link::start_remote!(
            $proxy,
            $method,
            $request,
            |_params| {},
            |$core, $results: $results_ty| $decode
        )
    };
    ($proxy:expr, $method:literal, $request:ident,
     |$params:pat_param| $set:expr,
     |$core:ident, $results:ident: $results_ty:ty| $decode:expr) => {
        $proxy.core.start(move |$core| async move {
            let mut request = $core.client().$request();
            #[allow(clippy::let_unit_value)]
            let () = {
                let $params = request.get();
                $set
            };
            let response = $crate::link::send_logged!($core, $method, request);
            let $results: $results_ty = response.get()?;
            if $results.has_rejected() {
                Ok(Err($crate::error::read_rejected($results.get_rejected()?)?))
            } else {
                Ok(Ok($decode?))
            }
        })
    };
}
pub(crate) use start_remote;

/// [`start_remote!`] from sync code, waiting for the reply.
macro_rules! call_remote {
    ($proxy:expr, $($call:tt)*) => {
        $proxy.core.wait($crate::link::start_remote!($proxy, $($call)*))
    };
}
pub(crate) use call_remote;

/// Runs a trait call on the blocking pool.
pub(crate) async fn on_pool<T: Send + 'static>(
    call: impl FnOnce() -> T + Send + 'static,
) -> capnp::Result<T> {
    tokio::task::spawn_blocking(call)
        .await
        .map_err(|e| capnp::Error::failed(format!("the call failed in the callee: {e}")))
}

/// Runs a trait call on the pool, or right here on the loop when
/// `in_place` (a call that never waits on another process, see
/// `Wallet::reads_never_wait`: the pool's two thread hand-offs cost more
/// than the call).
pub(crate) async fn run_call<T: Send + 'static>(
    in_place: bool,
    call: impl FnOnce() -> T + Send + 'static,
) -> capnp::Result<T> {
    if in_place {
        Ok(call())
    } else {
        on_pool(call).await
    }
}

/// Ends a call: writes its outcome into `$results` (`Ok` through `$write`,
/// `Err` into the `rejected` field), logs them under `-debug=ipc` and
/// returns `Ok(())`.
macro_rules! respond {
    ($server:ident, $method:literal, $results:ident, $outcome:expr, |$out:ident, $value:pat_param| $write:expr) => {{
        let mut $out = $results.get();
        match $outcome {
            Ok($value) => $write,
            Err(e) => $crate::error::write_rejected($out.reborrow().init_rejected(), &e),
        }
        $server.log.response($method, $out.into_reader());
        Ok(())
    }};
}
pub(crate) use respond;

/// The body of a server method whose trait call may block: logs the
/// request, lets `$prepare` read the params (`$p`) into the closure to run
/// on the pool (or in place, after `in_place_if COND;` when COND holds: see
/// [`run_call`]), awaits it there and ends the call with [`respond!`].
macro_rules! serve_on_pool {
    (in_place_if $in_place:expr; $server:ident, $method:literal, $params:ident, $results:ident,
     |$p:ident| $prepare:expr,
     |$out:ident, $value:pat_param| $write:expr) => {{
        let $p = $params.get()?;
        $server.log.request($method, $p);
        let outcome = $crate::link::run_call($in_place, $prepare).await?;
        $crate::link::respond!($server, $method, $results, outcome, |$out, $value| $write)
    }};
    ($server:ident, $method:literal, $params:ident, $results:ident,
     |$p:ident| $prepare:expr,
     |$out:ident, $value:pat_param| $write:expr) => {
        $crate::link::serve_on_pool!(in_place_if false; $server, $method, $params, $results,
            |$p| $prepare, |$out, $value| $write)
    };
}
pub(crate) use serve_on_pool;
