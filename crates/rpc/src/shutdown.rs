//! The node's one shutdown request, set by the `stop` RPC or a signal and
//! awaited by the server.

use tokio::sync::watch;

#[derive(Clone)]
pub struct Shutdown(watch::Sender<bool>);

impl Default for Shutdown {
    fn default() -> Shutdown {
        Shutdown(watch::Sender::new(false))
    }
}

impl Shutdown {
    pub fn request(&self) {
        self.0.send_replace(true);
    }

    pub fn is_requested(&self) -> bool {
        *self.0.borrow()
    }

    /// Resolves once shutdown is requested (at once if it already was).
    pub async fn requested(&self) {
        let mut receiver = self.0.subscribe();
        // The sender lives in `self`, so the channel cannot close here.
        let _ = receiver.wait_for(|requested| *requested).await;
    }
}
