//! [`NetlinkMonitor`]: link and address changes from rtnetlink, and the
//! dumps ([`dump_links`], [`dump_addresses`]) that give the state they
//! change, as keepalived follows them (`keepalived/core/keepalived_netlink.c`:
//! the `RTMGRP_LINK`, `RTMGRP_IPV4_IFADDR` and `RTMGRP_IPV6_IFADDR` groups,
//! `netlink_link_filter`, `netlink_if_address_filter`).
//!
//! An interface is *up* for VRRP when it is both administratively up and
//! running (`IFF_UP | IFF_RUNNING`, keepalived's `FLAGS_UP`): a cable pull
//! (no carrier) is down. When the kernel drops notifications because the
//! socket's queue overflowed (`ENOBUFS`), the monitor reports
//! [`NetEvent::Overrun`] and the caller dumps everything again.
//! Messages are decoded with netlink-packet-route.

use std::io;
use std::net::IpAddr;
use std::os::fd::{AsFd, BorrowedFd};

use netlink_packet_core::{NLM_F_DUMP, NetlinkPayload};
use netlink_packet_route::address::AddressMessage;
use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkMessage};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::protocols::NETLINK_ROUTE;
use netlink_sys::{Socket, SocketAddr};

use super::error::{RawSocketError, SocketOp};
use crate::backend::addr::{AddrFlags, AddrScope};
use crate::backend::error::{BackendError, Operation};
use crate::backend::netlink::{NlSocket, address_entry, for_each_message, route_transact};
use crate::wire::EthernetAddress;

/// `RTMGRP_LINK`.
const GRP_LINK: u32 = 1;
/// `RTMGRP_IPV4_IFADDR`.
const GRP_IPV4_IFADDR: u32 = 0x10;
/// `RTMGRP_IPV6_IFADDR`.
const GRP_IPV6_IFADDR: u32 = 0x100;
/// Receive buffer for notifications.
const RX_BUF: usize = 64 * 1024;
/// The receive queue asked for, like keepalived's `IF_DEFAULT_BUFSIZE` x 16.
const WANT_RCVBUF: usize = 1024 * 1024;

/// An interface as rtnetlink describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkInfo {
    /// Interface index.
    pub index: u32,
    /// Name.
    pub name: String,
    /// `IFF_*` flags.
    pub flags: u32,
    /// Hardware address, when it is a 6-byte one.
    pub mac: Option<EthernetAddress>,
}

impl LinkInfo {
    /// Up for VRRP: `IFF_UP` and `IFF_RUNNING` (keepalived's `FLAGS_UP`).
    pub fn is_up(&self) -> bool {
        let both = (LinkFlags::Up | LinkFlags::Running).bits();
        self.flags & both == both
    }
}

/// An address as rtnetlink describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddrInfo {
    /// Interface index.
    pub ifindex: u32,
    /// The address (`IFA_LOCAL`, else `IFA_ADDRESS`).
    pub addr: IpAddr,
    /// Prefix length.
    pub prefix_len: u8,
    /// Scope.
    pub scope: AddrScope,
    /// Flags (`IFA_F_*`).
    pub flags: AddrFlags,
}

/// One change the kernel reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetEvent {
    /// An interface appeared or changed (`RTM_NEWLINK`).
    NewLink(LinkInfo),
    /// An interface went away (`RTM_DELLINK`).
    DelLink(LinkInfo),
    /// An address was added (`RTM_NEWADDR`).
    NewAddr(AddrInfo),
    /// An address was removed (`RTM_DELADDR`).
    DelAddr(AddrInfo),
    /// Notifications were lost (the socket's queue overflowed): dump again.
    Overrun,
}

fn link_info(m: &LinkMessage) -> LinkInfo {
    let mut name = String::new();
    let mut mac = None;
    for a in &m.attributes {
        match a {
            LinkAttribute::IfName(n) => name.clone_from(n),
            LinkAttribute::Address(b) if b.len() == 6 => {
                let mut x = [0u8; 6];
                x.copy_from_slice(b);
                mac = Some(EthernetAddress(x));
            }
            _ => {}
        }
    }
    LinkInfo { index: m.header.index, name, flags: m.header.flags.bits(), mac }
}

fn addr_info(m: &AddressMessage) -> Option<AddrInfo> {
    if !matches!(m.header.family, AddressFamily::Inet | AddressFamily::Inet6) {
        return None;
    }
    let e = address_entry(m)?;
    Some(AddrInfo {
        ifindex: e.address.ifindex,
        addr: e.address.addr,
        prefix_len: e.address.prefix_len,
        scope: e.address.scope,
        flags: e.flags,
    })
}

fn event(msg: RouteNetlinkMessage) -> Option<NetEvent> {
    Some(match msg {
        RouteNetlinkMessage::NewLink(m) => NetEvent::NewLink(link_info(&m)),
        RouteNetlinkMessage::DelLink(m) => NetEvent::DelLink(link_info(&m)),
        RouteNetlinkMessage::NewAddress(m) => NetEvent::NewAddr(addr_info(&m)?),
        RouteNetlinkMessage::DelAddress(m) => NetEvent::DelAddr(addr_info(&m)?),
        _ => return None,
    })
}

/// Subscribes to link and IPv4/IPv6 address changes, in the caller's
/// network namespace. Non-blocking: poll its descriptor, then
/// [`recv`](Self::recv).
#[derive(Debug)]
pub struct NetlinkMonitor {
    sock: Socket,
    buf: Vec<u8>,
}

impl NetlinkMonitor {
    /// Opens the socket and joins the groups.
    pub fn open() -> Result<Self, RawSocketError> {
        let io = RawSocketError::io;
        let mut sock = Socket::new(NETLINK_ROUTE).map_err(io(SocketOp::Monitor))?;
        sock.bind(&SocketAddr::new(0, GRP_LINK | GRP_IPV4_IFADDR | GRP_IPV6_IFADDR)).map_err(io(SocketOp::Monitor))?;
        // Best effort: a bigger queue loses fewer bursts of changes.
        let _ = sock.set_rx_buf_sz(WANT_RCVBUF);
        sock.set_non_blocking(true).map_err(io(SocketOp::Monitor))?;
        Ok(NetlinkMonitor { sock, buf: vec![0; RX_BUF] })
    }

    /// Decodes one datagram of rtnetlink notifications (one or more
    /// netlink messages) into `out`: links and IPv4/IPv6 addresses added,
    /// changed or removed. Other messages, and messages netlink-packet-route
    /// cannot decode, are skipped; an error only when the datagram's framing
    /// is broken (a header that does not fit), with what came before it
    /// kept in `out`. Pure: [`recv`](Self::recv) uses it on what the kernel
    /// sends, and the fuzz target `raw_socket_netlink` on anything.
    pub fn decode(datagram: &[u8], out: &mut Vec<NetEvent>) -> Result<(), RawSocketError> {
        let bad = |reason| RawSocketError::Decode { op: SocketOp::Monitor, reason };
        for_each_message(datagram, true, bad, |msg| {
            if let NetlinkPayload::InnerMessage(m) = msg.payload {
                if let Some(e) = event(m) {
                    out.push(e);
                }
            }
            Ok(())
        })
    }

    /// Appends every change waiting on the socket to `out`; returns how many.
    pub fn recv(&mut self, out: &mut Vec<NetEvent>) -> Result<usize, RawSocketError> {
        let start = out.len();
        loop {
            let mut slice: &mut [u8] = &mut self.buf[..];
            match self.sock.recv(&mut slice, 0) {
                Ok(n) => {
                    let n = n.min(self.buf.len());
                    Self::decode(&self.buf[..n], out)?;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => out.push(NetEvent::Overrun),
                Err(e) => return Err(RawSocketError::io(SocketOp::Monitor)(e)),
            }
        }
        Ok(out.len() - start)
    }
}

impl AsFd for NetlinkMonitor {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.sock.as_fd()
    }
}

/// Runs one dump request through the netlink backend's request step (the
/// one `NetlinkAddresses` uses): the replies collected, the dump run again
/// when the kernel says a change interrupted it (`NLM_F_DUMP_INTR`), a
/// kernel error (also one carried by `NLMSG_DONE`) returned.
fn dump(
    what: &'static str,
    list: Operation,
    msg: RouteNetlinkMessage,
) -> Result<Vec<RouteNetlinkMessage>, RawSocketError> {
    let op = SocketOp::Dump(what);
    let mut sock = NlSocket::open(NETLINK_ROUTE).map_err(RawSocketError::io(op.clone()))?;
    route_transact(&mut sock, &mut Vec::new(), &list, msg, NLM_F_DUMP, true).map_err(|e| dump_error(op, e))
}

/// A dump's failure as the monitor reports it: on its own operation, with
/// the kernel's errno as an I/O error, and a dump interrupted on every
/// attempt (the request step's `EINTR`) as a decoding failure, not as an
/// `Interrupted` I/O error that callers would retry at once.
fn dump_error(op: SocketOp, e: BackendError) -> RawSocketError {
    match e {
        BackendError::Kernel { errno, .. } if errno.0 == libc::EINTR => {
            RawSocketError::Decode { op, reason: "dump interrupted by changes on every attempt".into() }
        }
        BackendError::Io { source, .. } => RawSocketError::Io { op, source },
        BackendError::Kernel { errno, .. } => RawSocketError::Io { op, source: io::Error::from_raw_os_error(errno.0) },
        BackendError::Decode { reason, .. } => RawSocketError::Decode { op, reason },
        other => RawSocketError::Backend(other),
    }
}

/// Every interface of the caller's network namespace, in the kernel's
/// order (by index).
pub fn dump_links() -> Result<Vec<LinkInfo>, RawSocketError> {
    Ok(dump("links", Operation::ListLinks, RouteNetlinkMessage::GetLink(LinkMessage::default()))?
        .iter()
        .filter_map(|m| match m {
            RouteNetlinkMessage::NewLink(l) => Some(link_info(l)),
            _ => None,
        })
        .collect())
}

/// Every IPv4 and IPv6 address of the caller's network namespace, in the
/// kernel's order (per interface, IPv4 primaries before their
/// secondaries).
pub fn dump_addresses() -> Result<Vec<AddrInfo>, RawSocketError> {
    Ok(dump("addresses", Operation::ListAddresses, RouteNetlinkMessage::GetAddress(AddressMessage::default()))?
        .iter()
        .filter_map(|m| match m {
            RouteNetlinkMessage::NewAddress(a) => addr_info(a),
            _ => None,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dump_errors_name_the_dump() {
        let op = SocketOp::Dump("links");
        let kernel = BackendError::kernel(Operation::ListLinks, crate::backend::error::Errno(libc::EPERM));
        match dump_error(op.clone(), kernel) {
            RawSocketError::Io { op: o, source } => {
                assert_eq!((o, source.raw_os_error()), (op.clone(), Some(libc::EPERM)));
            }
            e => panic!("{e:?}"),
        }
        let intr = BackendError::kernel(Operation::ListLinks, crate::backend::error::Errno(libc::EINTR));
        assert!(matches!(dump_error(op.clone(), intr), RawSocketError::Decode { .. }));
        let bad = BackendError::Decode { op: Operation::ListLinks, reason: "short".into() };
        assert!(matches!(dump_error(op, bad), RawSocketError::Decode { reason, .. } if reason == "short"));
    }

    #[test]
    fn dumps_list_the_loopback() {
        // Reading the caller's own links and addresses needs no privilege
        // and sends nothing.
        let links = dump_links().expect("RTM_GETLINK dump");
        let lo = links.iter().find(|l| l.name == "lo").expect("every namespace has lo");
        assert!(lo.index > 0);
        assert!(dump_addresses().is_ok());
    }

    #[test]
    fn up_means_admin_up_and_running() {
        let mut l = LinkInfo { index: 2, name: "eth0".into(), flags: 0, mac: None };
        assert!(!l.is_up());
        l.flags = LinkFlags::Up.bits();
        assert!(!l.is_up(), "no carrier is down (keepalived's FLAGS_UP)");
        l.flags = (LinkFlags::Up | LinkFlags::Running | LinkFlags::LowerUp).bits();
        assert!(l.is_up());
    }
}
