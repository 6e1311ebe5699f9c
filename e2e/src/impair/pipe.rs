//! One direction of a proxied TCP connection: a delay line that releases chunks in order at
//! the instant the decider gives them, with the bytes in flight bounded.

use super::counters::DirectionCounters;
use super::decide::Decider;
use bytes::{Bytes, BytesMut};
use std::io;
use std::sync::Arc;
use std::time::Instant;
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};

/// Largest read from a socket.
const CHUNK: usize = 16 * 1024;

/// Most chunks in one line, besides the byte bound: a stream of one-byte reads would otherwise
/// cost far more in bookkeeping than the bytes it carries.
const MAX_CHUNKS: usize = 1024;

/// Room for bytes in flight: the connection direction's own, and the proxy's in total.
pub(crate) struct Room {
    /// This direction of this connection.
    pub(crate) own: Arc<Semaphore>,
    /// All connections of the proxy, so memory stays bounded however many there are.
    pub(crate) shared: Arc<Semaphore>,
    /// The smaller of the two capacities: a read never asks for more room than can exist, or
    /// it would wait for ever.
    pub(crate) capacity: usize,
}

/// Permits for the bytes one chunk holds, returned when it has been written.
struct Held {
    own: OwnedSemaphorePermit,
    shared: OwnedSemaphorePermit,
}

impl Held {
    /// Keeps `n` bytes' worth and returns the rest.
    fn shrink_to(&mut self, n: usize) {
        for permit in [&mut self.own, &mut self.shared] {
            let excess = permit.num_permits().saturating_sub(n);
            drop(permit.split(excess));
        }
    }
}

/// A chunk on its way: when it arrives, its bytes, and the room it holds.
type InFlight = (Instant, Bytes, Held);

/// Copies `from` to `to` through the delay line until `from` ends (then passes the FIN on once
/// every byte has been delivered) or either side fails. Nothing arrives before `not_before`.
///
/// When the line is full the proxy stops reading, the socket buffers fill and the sender slows
/// down, as it would behind a slow link; nothing is ever dropped.
pub(crate) async fn pipe(
    from: OwnedReadHalf,
    to: OwnedWriteHalf,
    decider: Decider,
    room: Room,
    counters: &DirectionCounters,
    not_before: Instant,
) -> io::Result<()> {
    let (tx, rx) = mpsc::channel(MAX_CHUNKS);
    let (read, write) = tokio::join!(
        read_side(from, tx, decider, room, counters, not_before),
        write_side(rx, to, counters),
    );
    read.and(write)
}

async fn read_side(
    from: OwnedReadHalf,
    tx: mpsc::Sender<InFlight>,
    mut decider: Decider,
    room: Room,
    counters: &DirectionCounters,
    not_before: Instant,
) -> io::Result<()> {
    let chunk = CHUNK.min(room.capacity).max(1);
    let want = u32::try_from(chunk).unwrap_or(u32::MAX);
    loop {
        // Room before reading, so a full line leaves the data in the sender's socket.
        let taking = async {
            let own = room.own.clone().acquire_many_owned(want).await.ok()?;
            let shared = room.shared.clone().acquire_many_owned(want).await.ok()?;
            Some(Held { own, shared })
        };
        let mut held = tokio::select! {
            held = taking => match held {
                Some(held) => held,
                // The semaphores are never closed; if they were, there would be no room ever.
                None => return Ok(()),
            },
            // The writer failed: nobody to deliver to.
            () = tx.closed() => return Ok(()),
        };
        tokio::select! {
            ready = from.readable() => ready?,
            () = tx.closed() => return Ok(()),
        }
        // A buffer only now that data is waiting, so an idle connection holds none.
        let mut buf = BytesMut::with_capacity(chunk);
        let n = match from.try_read_buf(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            // Readiness can be spurious; the permits go back and the loop waits again.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        };
        held.shrink_to(n);
        // A small read keeps a copy of its own size, not the whole buffer, so memory stays
        // within twice the bytes counted.
        let data = if n < chunk / 2 {
            Bytes::copy_from_slice(&buf)
        } else {
            buf.freeze()
        };
        let (due, lost) = decider.chunk(Instant::now(), n);
        if lost {
            counters.lost();
        }
        if tx.send((due.max(not_before), data, held)).await.is_err() {
            return Ok(());
        }
    }
}

async fn write_side(
    mut rx: mpsc::Receiver<InFlight>,
    mut to: OwnedWriteHalf,
    counters: &DirectionCounters,
) -> io::Result<()> {
    while let Some((due, data, held)) = rx.recv().await {
        tokio::time::sleep_until(due.into()).await;
        // On failure `rx` is dropped on return, which tells the reader to stop.
        to.write_all(&data).await?;
        counters.forwarded(data.len());
        drop(held);
    }
    // The reader saw the end of the stream: pass the FIN on after the last delayed byte.
    to.shutdown().await
}
