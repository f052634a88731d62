//! The LVS model: what the kernel's `net/netfilter/ipvs/` keeps and decides.
//!
//! * [`service`]: virtual services (protocol/address/port or firewall mark),
//!   their flags and persistence, and the runtime [`Service`] that owns its
//!   real servers in the kernel's list order and its scheduler.
//! * [`dest`]: real servers (destinations): forwarding method, weight,
//!   thresholds, and the live counters schedulers read.
//! * [`flow`]: the packet's view a scheduler decides on.
//! * [`sched`]: the [`Scheduler`](sched::Scheduler) trait and the fourteen
//!   kernel schedulers, found by their kernel names.
//! * [`conn`]: the connection table (connections, persistence templates,
//!   protocol states, the real servers' counts) and the data-plane entry
//!   point.
//! * [`stats`] and [`snapshot`]: counters, rates, and the plain-value view of
//!   a whole table (services, servers, timeouts, sync daemons) that backends
//!   return and `ipvsadm` listings render.
//!
//! Everything here is pure and single-owner (`&mut self`); the counters inside
//! a [`Dest`] are atomics because connection tables on several threads update
//! them, exactly as the kernel does.

pub mod conn;
pub mod dest;
pub mod flow;
pub mod sched;
pub mod service;
pub mod snapshot;
pub mod stats;

pub use dest::{ConnCounters, Dest, DestConfig, ForwardMethod, TunnelCsum, TunnelKind, TunnelParams};
pub use flow::{Flow, Protocol};
pub use service::{Family, PersistMask, Persistence, Service, ServiceConfig, ServiceError, ServiceFlags, ServiceKey};
pub use snapshot::{DaemonConfig, DaemonRole, DestSnapshot, IpvsInfo, ServiceSnapshot, Timeouts};
pub use stats::{Rates, Stats};
