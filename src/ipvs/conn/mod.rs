//! The IPVS connection table: which real server each flow went to, the
//! protocol state that picks its timeout, persistence templates, and the
//! real servers' connection counts the schedulers read, as the kernel's
//! `ip_vs_conn` keeps them (`net/netfilter/ipvs/ip_vs_conn.c`,
//! `ip_vs_core.c`, `ip_vs_proto_{tcp,udp,sctp}.c`, Linux 6.1).
//!
//! * [`ConnTable`] is the one concurrent structure of the crate: sharded,
//!   `parking_lot` locks, look-ups without a lock, expiry driven by the
//!   caller's `now` through a lazy timer wheel, no thread of its own.
//! * [`ConnTable::process`] is the data-plane entry point: a [`Service`],
//!   a [`Packet`] (flow, TCP flags / UDP / SCTP chunks, direction) and
//!   `now` in, a [`Verdict`] out. [`ConnTable::process_batch`],
//!   [`ConnTable::lookup_batch`] and [`ConnTable::lookup_dest_batch`] take a
//!   slice of packets or flows and prefetch their table slots in groups of
//!   16, so that the cache misses of a
//!   large table overlap (VPP-style vector processing); on x86_64 this is
//!   one of the crate's uses of `unsafe` outside the OS backends (`sys.rs`:
//!   the `_mm_prefetch` instruction). The others, in the same file, are a
//!   slot segment's memory (heap or huge pages), read as one pointer and
//!   one length, and the mapping of large slot segments on transparent
//!   huge pages (see [`ConnTableConfig::huge_pages`]).
//! * [`tcp`] and [`sctp`] hold the kernel's state tables; [`state`] the
//!   timeouts `ipvsadm --set` changes.
//! * [`listing`] renders `ipvsadm -Lnc` and reads and writes the kernel's
//!   `/proc/net/ip_vs_conn`.
//!
//! # Example
//!
//! ```
//! use std::net::IpAddr;
//! use std::time::{Duration, Instant};
//! use lvskit::ipvs::conn::{ConnTable, ConnTableConfig, Packet, Segment, TcpFlags, Verdict};
//! use lvskit::ipvs::{DestConfig, Flow, Protocol, Service, ServiceConfig, ServiceKey};
//!
//! let vip: IpAddr = "192.0.2.1".parse().unwrap();
//! let mut svc = Service::new(ServiceConfig::new(ServiceKey::addr(Protocol::Tcp, vip, 80), "rr"), 0)?;
//! let server = svc.add_dest(DestConfig::masq("198.51.100.10".parse().unwrap(), 8080))?;
//!
//! let t0 = Instant::now();
//! let table = ConnTable::new(ConnTableConfig::default(), t0)?;
//! let flow = Flow::new(Protocol::Tcp, "203.0.113.7".parse().unwrap(), 40000, vip, 80);
//! let Verdict::Forward(f) = table.process(&mut svc, &Packet::input(flow, Segment::Tcp(TcpFlags::SYN)), t0)? else {
//!     panic!("scheduled");
//! };
//! assert_eq!(f.dest.to_string(), "198.51.100.10:8080");
//! assert_eq!(f.state.name(), "SYN_RECV");
//! assert_eq!(server.active_conns(), 1); // SYN_RECV counts as active, as in the kernel
//!
//! // Nothing more: the connection expires after SYN_RECV's 60 s.
//! table.expire(t0 + Duration::from_secs(60));
//! assert!(table.is_empty());
//! assert_eq!(server.active_conns(), 0);
//! # Ok::<(), lvskit::Error>(())
//! ```
//!
//! # Differences from the kernel
//!
//! * A client port of 0 for a connection that would be kept is dropped
//!   ([`DropReason::ClientPortZero`]); the kernel creates an entry no later
//!   packet can match (its look-up never matches port 0), one per packet.
//! * Connections and templates expire when the owner calls
//!   [`ConnTable::expire`]; the kernel's timer wheel fires long timers up
//!   to an eighth of their length late (the listing shows `00:00` meanwhile).
//! * A connection replaced by `conn_reuse_mode` or `expire_nodest_conn`
//!   goes at once; the kernel's `ip_vs_conn_expire_now` lets its timer do it
//!   at the next tick.
//! * Not modelled: netfilter conntrack (as with the default
//!   `net.ipv4.vs.conntrack = 0`), application helpers (FTP), persistence
//!   engines (`--pe`, see [`DropReason::PersistenceEngine`]), connection
//!   synchronisation, the memory-pressure defences (`drop_entry`,
//!   `drop_packet`, automatic `secure_tcp`), and the replies of a local
//!   real server.
//!
//! [`Service`]: crate::ipvs::Service

mod config;
mod dests;
mod error;
mod hash;
pub mod listing;
mod process;
pub mod sctp;
pub mod state;
mod store;
mod sys;
mod table;
pub mod tcp;
mod template;
mod time;
mod wheel;

pub use config::{ConnTableConfig, Sysctls};
pub use error::ConnError;
pub use listing::{ConnEntry, ProcParseError, parse_proc, render_ipvsadm, render_proc};
pub use process::{DropReason, Forward, Packet, PassReason, ServiceAccess, Verdict};
pub use sctp::{SctpChunks, SctpState};
pub use state::{ConnState, Direction, MAX_TIMEOUT_SECS, Segment};
pub use table::{ConnTable, Entries, Expired};
pub use tcp::{TcpFlags, TcpState};
pub use time::{HZ, Now, Tick};

#[cfg(test)]
mod tests;
