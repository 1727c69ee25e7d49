//! Sends a burst of messages in one `send`: the writer under a connection.
//!
//! capnp-rpc's write queue writes each message and then flushes it, one
//! `send(2)` per message even when a hundred calls are queued. Here a flush
//! only schedules the send: a task of the loop sends everything buffered
//! when it runs, which is after the tasks already woken in this turn of the
//! loop (the write queue among them, writing the rest of the queue). A
//! single call still goes out in the same turn, so its latency is one task
//! switch more; a burst costs one syscall instead of one per message.

use std::cell::RefCell;
use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::task::{ready, Context, Poll};

use futures::io::AsyncWrite;
use tokio::sync::Notify;

/// Buffered bytes beyond which a write sends before it buffers more.
const BUFFER_LIMIT: usize = 64 * 1024;

/// A writer whose flushes are deferred to the end of the loop's turn. Must
/// be created on the loop (it spawns its sending task there).
pub(crate) struct CoalescingWriter<W: AsyncWrite + Unpin + 'static> {
    outgoing: Rc<RefCell<Outgoing<W>>>,
    send_scheduled: Rc<Notify>,
}

struct Outgoing<W> {
    inner: W,
    buffer: Vec<u8>,
    scheduled: bool,
    /// A failed send, reported to every later write (io errors do not clone).
    failed: Option<(io::ErrorKind, String)>,
}

impl<W: AsyncWrite + Unpin> Outgoing<W> {
    fn check(&self) -> io::Result<()> {
        match &self.failed {
            Some((kind, message)) => Err(io::Error::new(*kind, message.clone())),
            None => Ok(()),
        }
    }

    /// Sends everything buffered.
    fn poll_send(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.check()?;
        while !self.buffer.is_empty() {
            match ready!(Pin::new(&mut self.inner).poll_write(cx, &self.buffer)) {
                Ok(0) => self.fail(io::ErrorKind::WriteZero.into())?,
                Ok(sent) => drop(self.buffer.drain(..sent)),
                Err(e) => self.fail(e)?,
            }
        }
        Poll::Ready(Ok(()))
    }

    fn fail(&mut self, e: io::Error) -> io::Result<()> {
        self.failed = Some((e.kind(), e.to_string()));
        Err(e)
    }
}

impl<W: AsyncWrite + Unpin + 'static> CoalescingWriter<W> {
    pub(crate) fn new(inner: W) -> Self {
        let outgoing = Rc::new(RefCell::new(Outgoing {
            inner,
            buffer: Vec::with_capacity(BUFFER_LIMIT),
            scheduled: false,
            failed: None,
        }));
        let send_scheduled = Rc::new(Notify::new());
        tokio::task::spawn_local(send_when_scheduled(
            Rc::downgrade(&outgoing),
            send_scheduled.clone(),
        ));
        Self {
            outgoing,
            send_scheduled,
        }
    }
}

/// The sending task: runs once per scheduled flush, ends with the writer.
async fn send_when_scheduled<W: AsyncWrite + Unpin>(
    outgoing: Weak<RefCell<Outgoing<W>>>,
    scheduled: Rc<Notify>,
) {
    loop {
        scheduled.notified().await;
        let sent = poll_fn(|cx| match outgoing.upgrade() {
            Some(outgoing) => {
                let mut outgoing = outgoing.borrow_mut();
                outgoing.scheduled = false;
                outgoing.poll_send(cx).map(|_| true)
            }
            None => Poll::Ready(false),
        })
        .await;
        // A failure is kept for the next write to report.
        if !sent {
            return;
        }
    }
}

impl<W: AsyncWrite + Unpin + 'static> Drop for CoalescingWriter<W> {
    fn drop(&mut self) {
        // Wakes the sending task so it sees the writer gone and ends.
        self.send_scheduled.notify_one();
    }
}

impl<W: AsyncWrite + Unpin + 'static> AsyncWrite for CoalescingWriter<W> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let mut outgoing = self.outgoing.borrow_mut();
        outgoing.check()?;
        if outgoing.buffer.len() + buf.len() > BUFFER_LIMIT {
            ready!(outgoing.poll_send(cx))?;
        }
        outgoing.buffer.extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut outgoing = self.outgoing.borrow_mut();
        outgoing.check()?;
        if !outgoing.buffer.is_empty() && !outgoing.scheduled {
            outgoing.scheduled = true;
            self.send_scheduled.notify_one();
        }
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut outgoing = self.outgoing.borrow_mut();
        ready!(outgoing.poll_send(cx))?;
        Pin::new(&mut outgoing.inner).poll_close(cx)
    }
}

#[cfg(test)]
mod tests {
    use futures::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;
    use crate::stream::{split, ReadHalf, WriteHalf};

    /// A coalescing writer and the reader at the other end of its socket;
    /// on the loop (a `LocalSet`).
    fn connected() -> (CoalescingWriter<WriteHalf>, ReadHalf) {
        let (a, b) = pair();
        let (_, write) = split(a).expect("split a");
        let (reader, _) = split(b).expect("split b");
        (CoalescingWriter::new(write), reader)
    }
    use crate::stream::tests::{pair, run_local};

    /// Messages written and flushed one by one in one turn arrive whole and
    /// in order, sent in one burst; the writer's task sends what a flush
    /// left and closing sends the rest.
    #[test]
    fn flushed_messages_of_one_turn_arrive_in_order() {
        run_local(async {
            let (mut writer, mut reader) = connected();
            let mut sent = Vec::new();
            for i in 0..100u8 {
                let message = [i; 100];
                writer.write_all(&message).await.expect("write");
                writer.flush().await.expect("flush");
                sent.extend_from_slice(&message);
            }
            assert_eq!(
                writer.outgoing.borrow().buffer.len(),
                sent.len(),
                "nothing is sent before the turn ends"
            );
            let mut received = vec![0u8; sent.len()];
            reader.read_exact(&mut received).await.expect("read");
            assert!(received == sent, "bytes changed on the way");
            writer.write_all(b"last").await.expect("write");
            writer.close().await.expect("close");
            let mut rest = Vec::new();
            reader.read_to_end(&mut rest).await.expect("read");
            assert_eq!(rest, b"last");
        });
    }

    /// More than the buffer limit in one turn: writes send as they go.
    #[test]
    fn a_large_burst_is_sent_while_written() {
        run_local(async {
            let (mut writer, mut reader) = connected();
            let sent: Vec<u8> = (0..1 << 20).map(|i: u32| (i % 251) as u8).collect();
            let write = async {
                for chunk in sent.chunks(1000) {
                    writer.write_all(chunk).await.expect("write");
                    writer.flush().await.expect("flush");
                }
                writer.close().await.expect("close");
            };
            let read = async {
                let mut received = Vec::new();
                reader.read_to_end(&mut received).await.expect("read");
                received
            };
            let ((), received) = futures::join!(write, read);
            assert!(received == sent, "bytes changed on the way");
        });
    }
}
