//! `Echo`: returns what it is given. Every process offers it (through
//! `Init.makeEcho`), for liveness checks and for measuring a round trip.

use std::future::Future;
use std::sync::Arc;

use capnp::capability::Rc;
use kestrel_interfaces::Result;

use crate::link::{send_logged, CallOutcome, Link, ProxyCore};
use crate::log::{CallLog, Side};
use crate::schema::echo_capnp::echo;

/// `Echo` of the far process. Clones call the same object.
#[derive(Clone)]
pub struct EchoProxy {
    core: Arc<ProxyCore<echo::Client>>,
}

impl EchoProxy {
    pub(crate) fn new(core: Arc<ProxyCore<echo::Client>>) -> Self {
        Self { core }
    }

    pub fn echo(&self, data: &[u8]) -> Result<Vec<u8>> {
        debug_assert!(!self.core.on_loop_thread());
        futures::executor::block_on(self.echo_async(data))
    }

    /// The same call as a `Send` future, so one thread can keep many in
    /// flight (pipelining).
    pub fn echo_async(&self, data: &[u8]) -> impl Future<Output = Result<Vec<u8>>> + Send {
        let data = data.to_vec();
        self.core.start(move |core| echo_call(core, data))
    }

    /// The call from a task on the IPC event loop (see
    /// [`EventLoopHandle::run`](crate::EventLoopHandle::run)): no thread
    /// hop. Panics off the loop thread.
    pub fn echo_on_loop(&self, data: &[u8]) -> impl Future<Output = Result<Vec<u8>>> {
        let data = data.to_vec();
        self.core.start_on_loop(move |core| echo_call(core, data))
    }
}

/// The `echo` request and its reply, on the loop.
async fn echo_call(core: Arc<ProxyCore<echo::Client>>, data: Vec<u8>) -> CallOutcome<Vec<u8>> {
    let mut request = core.client().echo_request();
    request.get().set_data(&data);
    let response = send_logged!(core, "echo", request);
    let results = response.get()?;
    Ok(Ok(results.get_data()?.to_vec()))
}

/// Returns what it is given, on the loop itself: it cannot block.
pub(crate) struct EchoServer {
    log: CallLog,
}

impl EchoServer {
    pub(crate) fn new(link: &Link) -> Self {
        Self {
            log: link.call_log("Echo", Side::Server),
        }
    }
}

impl echo::Server for EchoServer {
    async fn echo(
        self: Rc<Self>,
        params: echo::EchoParams,
        mut results: echo::EchoResults,
    ) -> capnp::Result<()> {
        let params = params.get()?;
        self.log.request("echo", params);
        let mut out = results.get();
        out.set_data(params.get_data()?);
        self.log.response("echo", out.into_reader());
        Ok(())
    }
}
