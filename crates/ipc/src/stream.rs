//! The byte stream under a connection: a Unix stream socket registered with
//! the event loop for readability only.
//!
//! Why not `tokio::net::UnixStream`: it registers for reads and writes at
//! once, so every time the peer reads a message (freeing room in our send
//! buffer) the kernel wakes this process's event loop for a writability it
//! does not need. On a request/response connection that doubles the wakeups
//! per call. Here writes go straight to the socket and only a write that
//! would block registers (a duplicate of the fd) for writability, until it
//! goes through.

use std::io;
use std::os::fd::OwnedFd;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use futures::io::{AsyncRead, AsyncWrite};
use rustix::net::{RecvFlags, SendFlags, Shutdown};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

/// Splits a connected, non-blocking stream socket into halves for the loop
/// this runs on (it must run inside the loop's runtime).
pub(crate) fn split(socket: OwnedFd) -> io::Result<(ReadHalf, WriteHalf)> {
    crate::spin::watch(&socket)?;
    let socket = Arc::new(register(socket, Interest::READABLE)?);
    Ok((
        ReadHalf {
            socket: socket.clone(),
        },
        WriteHalf {
            socket,
            waiting_to_write: None,
        },
    ))
}

fn register(fd: OwnedFd, interest: Interest) -> io::Result<AsyncFd<OwnedFd>> {
    // SAFETY: an `OwnedFd` keeps its descriptor open, and the same, until
    // it is dropped, which happens only when the `AsyncFd` is.
    unsafe { AsyncFd::register_with_interest(fd, interest) }.map_err(io::Error::from)
}

/// `recv` and `send` calls made on connection sockets by this process,
/// for the benchmark's syscall counts (feature `test-peer` only).
#[cfg(feature = "test-peer")]
pub(crate) mod syscalls {
    use std::sync::atomic::AtomicU64;

    pub(crate) static RECVS: AtomicU64 = AtomicU64::new(0);
    pub(crate) static SENDS: AtomicU64 = AtomicU64::new(0);
}

macro_rules! count_syscall {
    ($counter:ident) => {
        #[cfg(feature = "test-peer")]
        syscalls::$counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    };
}

pub(crate) struct ReadHalf {
    socket: Arc<AsyncFd<OwnedFd>>,
}

pub(crate) struct WriteHalf {
    socket: Arc<AsyncFd<OwnedFd>>,
    /// Registered for writability while a write is blocked, `None` otherwise.
    waiting_to_write: Option<AsyncFd<OwnedFd>>,
}

impl AsyncRead for ReadHalf {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        loop {
            let mut guard = ready!(self.socket.poll_read_ready(cx))?;
            match guard.try_io(|socket| {
                count_syscall!(RECVS);
                rustix::net::recv(socket.get_ref(), &mut *buf, RecvFlags::DONTWAIT)
                    .map(|(read, _)| read)
                    .map_err(io::Error::from)
            }) {
                Ok(Ok(read)) => {
                    // A short read drained the socket (stream sockets under
                    // edge-triggered epoll): the next read would only return
                    // WouldBlock, so wait for the next edge instead of
                    // paying that syscall.
                    if read > 0 && read < buf.len() {
                        guard.clear_ready();
                    }
                    return Poll::Ready(Ok(read));
                }
                Ok(Err(e)) => return Poll::Ready(Err(e)),
                Err(_would_block) => continue,
            }
        }
    }
}

impl AsyncWrite for WriteHalf {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        loop {
            count_syscall!(SENDS);
            // NOSIGNAL: a peer gone mid-write is an error, not a SIGPIPE.
            match rustix::net::send(
                self.socket.get_ref(),
                buf,
                SendFlags::DONTWAIT | SendFlags::NOSIGNAL,
            ) {
                Ok(written) => {
                    self.waiting_to_write = None;
                    return Poll::Ready(Ok(written));
                }
                Err(rustix::io::Errno::INTR) => continue,
                Err(rustix::io::Errno::WOULDBLOCK) => {}
                Err(e) => return Poll::Ready(Err(e.into())),
            }
            if self.waiting_to_write.is_none() {
                // Registering reports the current state, so room freed since
                // the send above is not missed.
                let duplicate = self.socket.get_ref().try_clone()?;
                self.waiting_to_write = Some(register(duplicate, Interest::WRITABLE)?);
            }
            let waiting = self.waiting_to_write.as_ref().expect("registered above");
            ready!(waiting.poll_write_ready(cx))?.clear_ready();
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Nothing is buffered here; the `CoalescingWriter` above sends into
        // `poll_write`.
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(
            match rustix::net::shutdown(self.socket.get_ref(), Shutdown::Write) {
                Ok(()) | Err(rustix::io::Errno::NOTCONN) => Ok(()),
                Err(e) => Err(e.into()),
            },
        )
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use futures::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    pub(crate) fn pair() -> (OwnedFd, OwnedFd) {
        let (a, b) = std::os::unix::net::UnixStream::pair().expect("socketpair");
        a.set_nonblocking(true).expect("non-blocking");
        b.set_nonblocking(true).expect("non-blocking");
        (a.into(), b.into())
    }

    /// Runs `test` as the event loop runs connections: a current-thread
    /// runtime with a `LocalSet`.
    pub(crate) fn run_local<F: std::future::Future>(test: F) -> F::Output {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        tokio::task::LocalSet::new().block_on(&runtime, test)
    }

    /// A write far larger than the socket buffer blocks, waits for
    /// writability and completes as the peer reads; the bytes arrive whole
    /// and in order, and closing the writer is seen as end of stream.
    #[test]
    fn blocked_write_completes_as_the_peer_reads() {
        run_local(async {
            let (a, b) = pair();
            let (_, mut writer) = split(a).expect("split a");
            let (mut reader, _) = split(b).expect("split b");
            let sent: Vec<u8> = (0..2 << 20).map(|i: u32| (i % 251) as u8).collect();
            let write = async {
                writer.write_all(&sent).await.expect("write");
                writer.close().await.expect("close");
                assert!(writer.waiting_to_write.is_none(), "registration kept");
            };
            let read = async {
                let mut received = Vec::new();
                reader.read_to_end(&mut received).await.expect("read");
                received
            };
            let ((), received) = futures::join!(write, read);
            assert_eq!(received.len(), sent.len());
            assert!(received == sent, "bytes changed on the way");
        });
    }

    #[test]
    fn writing_to_a_closed_peer_is_broken_pipe() {
        run_local(async {
            let (a, b) = pair();
            drop(b);
            let (_, mut writer) = split(a).expect("split");
            let error = writer.write_all(b"hello").await.expect_err("peer is gone");
            assert_eq!(error.kind(), io::ErrorKind::BrokenPipe);
        });
    }
}
