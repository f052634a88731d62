//! The VRRP data plane on Linux (feature `raw-socket`): sockets, link and
//! address monitoring, and everything a driver of
//! [`VrrpInstance`](crate::vrrp::VrrpInstance)s needs to talk to real
//! routers.
//!
//! | piece | what it is |
//! |---|---|
//! | [`VrrpSocket`] | a raw IP protocol-112 socket on one interface, IPv4 or IPv6, multicast or unicast, with receive metadata (source, destination, TTL, interface) |
//! | [`FrameSender`] | an `AF_PACKET` socket sending gratuitous ARPs and unsolicited NAs from the interface's MAC address |
//! | [`NetlinkMonitor`], [`dump_links`], [`dump_addresses`] | link up/down and address changes over rtnetlink |
//! | [`SignalPipe`] | SIGTERM/SIGINT as a readable descriptor |
//! | [`Driver`] | runs [`VrrpInstance`](crate::vrrp::VrrpInstance)s and sync groups on all of the above, on a `std` event loop |
//! | [`enter_netns`] | moves a thread into a named network namespace (keepalived's `net_namespace`) |
//!
//! VIPs are added and removed through the rtnetlink
//! [`NetlinkAddresses`](crate::backend::netlink::NetlinkAddresses) backend,
//! never by running `ip`. Every socket works in the network namespace of
//! the thread that opens it and needs `CAP_NET_RAW` (`CAP_NET_ADMIN` for
//! addresses).
//!
//! The system calls socket2, polling and signal-hook do not wrap live in
//! one small private `sys` module, the feature's only `unsafe` (the crate's
//! other is the connection table's prefetch, slot memory and huge-page
//! arena).

mod driver;
mod error;
mod frame;
mod monitor;
mod netns;
mod signals;
mod sys;
mod vrrp_socket;

pub use driver::{Driver, DriverEvent, DriverStats, Stopper};
pub use error::{RawSocketError, SocketOp};
pub use frame::{FrameSender, ipv6_forwarding};
pub use monitor::{AddrInfo, LinkInfo, NetEvent, NetlinkMonitor, dump_addresses, dump_links};
pub use netns::enter_netns;
pub use signals::SignalPipe;
pub use vrrp_socket::{MAX_PACKET_LEN, Membership, Received, RxInfo, VrrpSocket};
