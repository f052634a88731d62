//! # lvskit
//!
//! The Linux Virtual Server (IPVS) and Keepalived stack as an embeddable Rust
//! library. Every module here is *sans-IO*: no sockets, no clock reads, no
//! threads and no global state. Inputs carry an explicit `now: Instant`,
//! randomness comes from a seeded RNG handed in at construction, and outputs
//! are values for the caller (or one of the optional backends) to carry out.
//!
//! | module | what it gives you |
//! |---|---|
//! | [`ipvs`] | the LVS model: virtual services, real servers, the fourteen kernel schedulers ([`ipvs::sched`]) choosing exactly what the kernel would, and the connection table ([`ipvs::conn`]) with the kernel's protocol states, timeouts, persistence templates and server counts |
//! | [`wire`] | zero-copy codecs: VRRPv2/v3 adverts, gratuitous ARP, unsolicited NA, checksums, pcap |
//! | [`backend`] | the kernel side: `IpvsBackend` and `AddressBackend`, in-memory backends that answer like the kernel, (feature `netlink`) the real IPVS over generic netlink and VIPs over rtnetlink, and (feature `raw-socket`) VRRP on real sockets with its event loop |
//! | [`config`] | `keepalived.conf` read as keepalived 2.2.7 reads it, with located diagnostics, into a typed configuration |
//! | [`vrrp`] | VRRP routers as sans-IO state machines behaving like keepalived's `vrrp_instance`, sync groups, tracking |
//! | [`check`] | keepalived's health checkers as a sans-IO engine: probe timing, verdicts, pool policy (quorum, sorry server, inhibit) |
//! | [`error`] | the crate's top-level error, wrapping each module's own |
//!
//! ## Quick start: schedule connections like the kernel's `wlc`
//!
//! ```
//! use std::net::{IpAddr, Ipv4Addr};
//! use std::time::Instant;
//! use lvskit::ipvs::{DestConfig, Flow, Protocol, Service, ServiceConfig, ServiceKey};
//!
//! let vip = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
//! let key = ServiceKey::addr(Protocol::Tcp, vip, 80);
//! let mut svc = Service::new(ServiceConfig::new(key, "wlc"), 0)?;
//! let big = svc.add_dest(DestConfig::route(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1)), 80).weight(3))?;
//! let small = svc.add_dest(DestConfig::route(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 2)), 80).weight(1))?;
//!
//! // wlc sends each new connection to the server with the least
//! // (256 * active + total) / weight; ties go to the server added last, which
//! // heads the kernel's list. Binding a connection updates the counters (and
//! // the scheduler's index), as the kernel's connection table does.
//! let now = Instant::now();
//! let mut picks = Vec::new();
//! for port in 40000..40008 {
//!     let flow = Flow::new(Protocol::Tcp, IpAddr::V4(Ipv4Addr::new(203, 0, 113, 7)), port, vip, 80);
//!     let dest = svc.schedule(&flow, now).expect("a server is available");
//!     dest.bind_conn(true);
//!     picks.push(dest.addr());
//! }
//! let (b, s) = (big.addr(), small.addr());
//! assert_eq!(picks, [s, b, b, b, s, b, b, b]); // the kernel's exact sequence
//! assert_eq!((big.active_conns(), small.active_conns()), (6, 2));
//! # Ok::<(), lvskit::Error>(())
//! ```
//!
//! ## Cargo features
//!
//! * `netlink`: program the kernel's IPVS over generic netlink and manage
//!   addresses over rtnetlink (Linux only).
//! * `raw-socket`: VRRP over IP protocol 112, gratuitous ARP and unsolicited
//!   neighbour advertisements, link and address monitoring, and
//!   `backend::raw_socket::Driver` running VRRP instances on a `std` event
//!   loop; implies `netlink` (Linux only).
//!
//! None is on by default; the pure core builds on any OS.
#![deny(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod backend;
pub mod check;
pub mod config;
pub mod error;
pub mod ipvs;
pub mod vrrp;
pub mod wire;

pub use error::Error;

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
