//! A network impairment proxy: delay, jitter (which reorders), loss, duplication and a rate
//! limit on one path, for benchmarks and chaos drills on machines whose kernel has no `netem`.
//!
//! The core performs no I/O: an [`Impairment`] (parsed from `delay=25ms,loss=1%,...`) drives a
//! seeded [`Decider`] that says, for each datagram or stream chunk, whether it is lost and when
//! it arrives, and a [`DelayQueue`] holds what is in flight, bounded in packets and in bytes.
//! Both are tested with made-up instants.
//!
//! Two thin tokio layers put that core on a real path:
//!
//! - [`UdpProxy`] (for QUIC): one upstream socket per client address, each direction of each
//!   flow through its own decider and queue; datagrams are dropped when lost or when a queue is
//!   full, and both are counted.
//! - [`TcpProxy`] (for TCP tunnels): a delay line per direction that releases chunks in order
//!   at arrival + delay. TCP never loses bytes, so a loss is modelled the way an application
//!   sees one: the chunk (and everything behind it) arrives one retransmission timeout later.
//!
//! A [`Partition`] switch cuts a [`UdpProxy`]'s path completely while it is set.
//!
//! Both count what they forward and drop in [`Counters`]; `fdt-impair` (`src/bin/`) is the
//! command-line front end used by `e2e/bench/peer_wan.sh`.

mod budget;
mod counters;
mod decide;
mod flow;
mod line;
mod partition;
mod pipe;
mod queue;
mod spec;
mod tcp;
mod udp;

pub use counters::{Counters, DirectionStats, Stats};
pub use decide::{Decider, TCP_MSS, TCP_RTO, Verdict};
pub use line::MAX_DATAGRAM;
pub use partition::Partition;
pub use queue::{DelayQueue, QueueLimits};
pub use spec::{Impairment, MAX_DELAY, SpecError};
pub use tcp::{TcpConfig, TcpProxy};
pub use udp::{UdpConfig, UdpProxy};
