//! The wallet's lock and its chain handle, kept where the types decide who
//! may touch them: the wallet lock is never held while calling the chain.
//!
//! Why it matters: in the multiprocess build a chain call waits for a reply
//! that only the IPC event loop can read, and that loop answers the
//! wallet's reads itself (taking this lock). A chain call made under the
//! lock would leave the loop waiting for the lock and the lock holder
//! waiting for the loop.
//!
//! How the types enforce it: both [`Guarded::lock`] and [`Guarded::chain`]
//! borrow the caller's [`Unlocked`] token mutably for as long as what they
//! return lives, so code holding the lock cannot reach the chain (the
//! borrow checker refuses a second `&mut` of the token), and the fields are
//! private to this module. A second token made while the lock is held
//! would get around that; [`Unlocked::new`] panics on this thread then.

use std::cell::Cell;
use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Mutex, MutexGuard};

use kestrel_interfaces::Chain;

thread_local! {
    /// Whether this thread holds a wallet lock (of any wallet).
    static HOLDS_WALLET_LOCK: Cell<bool> = const { Cell::new(false) };
}

/// A call's permission to take the wallet lock or call the chain, one at a
/// time. Made once where a call enters the wallet.
pub(crate) struct Unlocked(());

impl Unlocked {
    /// Panics if this thread holds a wallet lock: a token made there could
    /// reach the chain under the lock.
    pub(crate) fn new() -> Self {
        assert!(
            !HOLDS_WALLET_LOCK.get(),
            "a wallet call entered with the wallet lock held (the lock must never be held while calling the chain)"
        );
        Unlocked(())
    }
}

/// The wallet's state `T` behind its lock, and the chain it must not call
/// while locked.
pub(crate) struct Guarded<T, C: ?Sized = dyn Chain> {
    chain: Arc<C>,
    state: Mutex<T>,
}

/// The locked state; the lock is released when this is dropped.
pub(crate) struct Locked<'a, T> {
    guard: MutexGuard<'a, T>,
}

impl<T, C: ?Sized> Guarded<T, C> {
    pub(crate) fn new(chain: Arc<C>, state: T) -> Self {
        Self {
            chain,
            state: Mutex::new(state),
        }
    }

    pub(crate) fn lock<'a>(&'a self, _token: &'a mut Unlocked) -> Locked<'a, T> {
        let guard = self.state.lock().expect("wallet lock poisoned");
        HOLDS_WALLET_LOCK.set(true);
        Locked { guard }
    }

    pub(crate) fn chain<'a>(&'a self, _token: &'a mut Unlocked) -> &'a C {
        &self.chain
    }
}

impl<T> Drop for Locked<'_, T> {
    fn drop(&mut self) {
        HOLDS_WALLET_LOCK.set(false);
    }
}

impl<T> Deref for Locked<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.guard
    }
}

impl<T> DerefMut for Locked<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.guard
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_made_under_the_lock_is_refused() {
        let guarded: Guarded<u32, ()> = Guarded::new(Arc::new(()), 7);
        let mut token = Unlocked::new();
        {
            let mut locked = guarded.lock(&mut token);
            *locked += 1;
            let nested = std::panic::catch_unwind(Unlocked::new);
            assert!(nested.is_err(), "a token was made under the lock");
        }
        // Released: a new call may enter, and sees the change.
        let mut again = Unlocked::new();
        assert_eq!(*guarded.lock(&mut again), 8);
    }
}
