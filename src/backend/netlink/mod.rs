//! The kernel backends (feature `netlink`, Linux only).
//!
//! * [`NetlinkIpvs`]: the IPVS table over the generic netlink family `IPVS`
//!   (what `ipvsadm` and keepalived use), with batched
//!   [`apply`](crate::backend::IpvsBackend::apply).
//! * [`NetlinkAddresses`]: interface addresses over rtnetlink.
//! * [`family`]: the `IPVS` family itself, message by message and attribute
//!   by attribute, for callers that need what the typed calls do not cover
//!   ([`NetlinkIpvs::request`], [`NetlinkIpvs::dump`]) and for decoding
//!   captured replies.
//!
//! Sockets, messages and the controller (`nlctrl`) and route families come
//! from the rust-netlink crates (`netlink-sys`, `netlink-packet-core`,
//! `netlink-packet-generic`, `netlink-packet-route`); only the `IPVS` family
//! is written here. Both backends work in the network namespace of the
//! thread that creates them, and need `CAP_NET_ADMIN` for changes.

pub mod family;
mod ipvs;
mod route;
mod socket;

#[cfg(feature = "raw-socket")]
pub(crate) use route::{address_entry, for_each_message, transact as route_transact};
#[cfg(feature = "raw-socket")]
pub(crate) use socket::NlSocket;

pub use ipvs::NetlinkIpvs;
pub use route::{AddressDumpPart, NetlinkAddresses};
