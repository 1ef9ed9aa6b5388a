//! A connection's write side over any non-blocking writer.

use std::collections::VecDeque;
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use bytes::{Buf, Bytes};

/// See [`kafka_state::WRITE_BACKLOG_LIMIT`].
pub const BACKLOG_LIMIT: usize = kafka_state::WRITE_BACKLOG_LIMIT;

/// A socket's write half that can be tried without blocking.
pub trait TryWrite: Send + Sync + 'static {
    /// Writes what the socket takes now; `WouldBlock` (or `Ok(0)`) when
    /// it takes nothing.
    fn try_write(&self, buf: &[u8]) -> io::Result<usize>;

    /// Frames were queued, or the outbox closed: an async writer task
    /// waiting for that is woken here. Writer threads wait in
    /// [`Outbox::next_blocking`] instead and need nothing.
    fn wake_writer(&self) {}
}

/// What a writer does next.
#[derive(Debug)]
pub enum Next {
    /// Write this frame. `drained` is set once when the client's backlog
    /// went back under [`BACKLOG_LIMIT`]: the driver should drain the
    /// core again.
    Frame {
        /// The frame.
        frame: Bytes,
        /// The backlog just fell under the limit.
        drained: bool,
    },
    /// Nothing queued: wait to be woken.
    Idle,
    /// The outbox is closed (or finished and empty): the writer ends.
    Done,
}

/// A connection's write side, shared by whoever holds the core's lock
/// and the socket's writer (a task or a thread). A frame is written at
/// once, without blocking, when nothing is queued and the socket takes it
/// whole (the usual case: a request costs no hop); what the socket cannot
/// take yet is queued, and the writer finishes it in order.
#[derive(Debug)]
pub struct Outbox<W> {
    write: W,
    /// Bytes queued in every outbox of the client.
    backlog: Arc<AtomicUsize>,
    queue: Mutex<OutQueue>,
    /// Wakes a writer thread.
    ready: Condvar,
}

#[derive(Debug, Default)]
struct OutQueue {
    frames: VecDeque<Bytes>,
    /// The writer owns the writing until the queue is empty.
    busy: bool,
    /// Dropped: nothing more is written.
    closed: bool,
    /// The writer ends once the queue is empty.
    finishing: bool,
}

impl<W: TryWrite> Outbox<W> {
    /// An outbox over `write`, counting what it queues in `backlog`.
    pub fn new(write: W, backlog: Arc<AtomicUsize>) -> Self {
        Self {
            write,
            backlog,
            queue: Mutex::new(OutQueue::default()),
            ready: Condvar::new(),
        }
    }

    /// The writer it wraps.
    pub fn writer(&self) -> &W {
        &self.write
    }

    fn queue(&self) -> MutexGuard<'_, OutQueue> {
        // Nothing panics while holding it; a poisoned queue is still sound.
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Writes `frame` at once if the writer is idle and the socket takes
    /// it; queues the rest for the writer.
    pub fn send(&self, mut frame: Bytes) {
        let mut q = self.queue();
        if q.closed || q.finishing {
            return;
        }
        if !q.busy {
            while !frame.is_empty() {
                match self.write.try_write(&frame) {
                    Ok(n) if n > 0 => frame.advance(n),
                    // Full, or failed: the writer waits, or meets the
                    // error and reports the close.
                    _ => break,
                }
            }
            if frame.is_empty() {
                return;
            }
            q.busy = true;
            self.wake();
        }
        self.backlog.fetch_add(frame.len(), Ordering::Relaxed);
        q.frames.push_back(frame);
    }

    fn wake(&self) {
        self.ready.notify_one();
        self.write.wake_writer();
    }

    /// The next frame for the writer, without waiting.
    pub fn next(&self) -> Next {
        let mut q = self.queue();
        self.take(&mut q)
    }

    fn take(&self, q: &mut OutQueue) -> Next {
        match q.frames.pop_front() {
            Some(frame) => {
                // Counted out before the write: a writer aborted mid-write
                // (its socket closed) must not leave its frame counted.
                let len = frame.len();
                let before = self.backlog.fetch_sub(len, Ordering::Relaxed);
                let drained = before >= BACKLOG_LIMIT && before - len < BACKLOG_LIMIT;
                Next::Frame { frame, drained }
            }
            None => {
                q.busy = false;
                if q.closed || q.finishing {
                    Next::Done
                } else {
                    Next::Idle
                }
            }
        }
    }

    /// The next frame for a writer thread, waiting until there is one;
    /// `None` once the outbox is done.
    pub fn next_blocking(&self) -> Option<(Bytes, bool)> {
        let mut q = self.queue();
        loop {
            match self.take(&mut q) {
                Next::Frame { frame, drained } => return Some((frame, drained)),
                Next::Done => return None,
                Next::Idle => q = self.ready.wait(q).unwrap_or_else(PoisonError::into_inner),
            }
        }
    }

    /// The writer still has frames to write.
    pub fn busy(&self) -> bool {
        self.queue().busy
    }

    /// Drops what is queued (the core gave up on the connection) and ends
    /// the writer.
    pub fn close(&self) {
        let dropped: usize = {
            let mut q = self.queue();
            q.closed = true;
            q.frames.drain(..).map(|f| f.len()).sum()
        };
        self.backlog.fetch_sub(dropped, Ordering::Relaxed);
        self.wake();
    }

    /// Takes nothing more; the writer writes out what is queued and ends.
    pub fn finish(&self) {
        self.queue().finishing = true;
        self.wake();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A socket that takes `room` bytes, then would block.
    #[derive(Default)]
    struct Pipe {
        room: Mutex<usize>,
        got: Mutex<Vec<u8>>,
    }

    impl TryWrite for Pipe {
        fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
            let mut room = self.room.lock().unwrap();
            let n = buf.len().min(*room);
            if n == 0 {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            *room -= n;
            self.got.lock().unwrap().extend_from_slice(&buf[..n]);
            Ok(n)
        }
    }

    #[test]
    fn frames_go_direct_until_the_socket_fills_then_queue_in_order() {
        let backlog = Arc::new(AtomicUsize::new(0));
        let pipe = Pipe {
            room: Mutex::new(6),
            ..Pipe::default()
        };
        let out = Outbox::new(pipe, Arc::clone(&backlog));
        out.send(Bytes::from_static(b"abcd"));
        assert!(!out.busy());
        // Two bytes fit; the rest of the frame and the next one queue.
        out.send(Bytes::from_static(b"efgh"));
        out.send(Bytes::from_static(b"ij"));
        assert!(out.busy());
        assert_eq!(backlog.load(Ordering::Relaxed), 4);
        let mut written = Vec::new();
        while let Next::Frame { frame, .. } = out.next() {
            written.extend_from_slice(&frame);
        }
        assert_eq!(written, b"ghij");
        assert!(!out.busy(), "an empty queue gives the socket back");
        assert_eq!(backlog.load(Ordering::Relaxed), 0);
        assert_eq!(&*out.writer().got.lock().unwrap(), b"abcdef");
    }

    #[test]
    fn close_drops_the_queue_and_finish_writes_it_out() {
        let backlog = Arc::new(AtomicUsize::new(0));
        let out = Outbox::new(Pipe::default(), Arc::clone(&backlog));
        out.send(Bytes::from(vec![1; BACKLOG_LIMIT]));
        out.send(Bytes::from_static(b"x"));
        // The first frame takes the backlog over the limit; writing it
        // brings it back under, which is said once.
        match out.next() {
            Next::Frame { drained, .. } => assert!(drained),
            other => panic!("{other:?}"),
        }
        out.finish();
        out.send(Bytes::from_static(b"late"));
        assert!(matches!(out.next(), Next::Frame { drained: false, .. }));
        assert!(matches!(out.next(), Next::Done));
        assert!(out.next_blocking().is_none());

        let out = Outbox::new(Pipe::default(), Arc::clone(&backlog));
        out.send(Bytes::from_static(b"queued"));
        out.close();
        assert_eq!(backlog.load(Ordering::Relaxed), 0);
        assert!(matches!(out.next(), Next::Done));
    }

    #[test]
    fn a_writer_thread_waits_for_frames() {
        let out = Arc::new(Outbox::new(Pipe::default(), Arc::default()));
        let writer = {
            let out = Arc::clone(&out);
            std::thread::spawn(move || {
                let mut n = 0;
                while let Some((frame, _)) = out.next_blocking() {
                    n += frame.len();
                }
                n
            })
        };
        for _ in 0..100 {
            out.send(Bytes::from_static(b"0123456789"));
        }
        out.finish();
        assert_eq!(writer.join().unwrap(), 1000);
    }
}
