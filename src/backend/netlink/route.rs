//! [`NetlinkAddresses`]: interface addresses over rtnetlink, as keepalived
//! manages its VIPs (`netlink_ipaddress` in `keepalived/vrrp/vrrp_ipaddress.c`)
//! and `ip addr` does: `RTM_NEWADDR` with `NLM_F_CREATE | NLM_F_EXCL`,
//! `RTM_DELADDR` matched by address, prefix length and label, `RTM_GETADDR`
//! dumps. The message types are netlink-packet-route's.

use std::net::IpAddr;

use netlink_packet_core::{
    NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REQUEST, NetlinkBuffer, NetlinkHeader, NetlinkMessage,
    NetlinkPayload,
};
use netlink_packet_route::address::{AddressAttribute, AddressFlags, AddressHeaderFlags, AddressMessage, AddressScope};
use netlink_packet_route::link::{LinkAttribute, LinkMessage};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::protocols::NETLINK_ROUTE;

use super::socket::NlSocket;
use crate::backend::addr::{AddrFlags, AddrScope, AddressEntry, InterfaceAddress};
use crate::backend::error::{BackendError, Errno, Operation};
use crate::backend::memory::sort_addresses;
use crate::backend::{AddressBackend, check};

/// Interface addresses over rtnetlink, in the caller's network namespace.
///
/// Each call is one request and its answer on a blocking socket, a few
/// microseconds, so a `std` event loop can call it inline.
///
/// ```no_run
/// use std::net::{IpAddr, Ipv4Addr};
/// use lvskit::backend::{AddressBackend, InterfaceAddress};
/// use lvskit::backend::netlink::NetlinkAddresses;
///
/// let mut addrs = NetlinkAddresses::new()?;
/// let eth0 = addrs.link_index("eth0")?;
/// let vip = InterfaceAddress::vip(eth0, IpAddr::V4(Ipv4Addr::new(192, 0, 2, 100))).label("eth0:1");
/// addrs.add_address(&vip)?;
/// addrs.del_address(&vip)?;
/// # Ok::<(), lvskit::backend::BackendError>(())
/// ```
#[derive(Debug)]
pub struct NetlinkAddresses {
    sock: NlSocket,
    tx: Vec<u8>,
}

fn io_err(op: &Operation) -> impl FnOnce(std::io::Error) -> BackendError + '_ {
    move |source| BackendError::Io { op: op.clone(), source }
}

fn decode_err(op: &Operation, e: impl std::fmt::Display) -> BackendError {
    BackendError::Decode { op: op.clone(), reason: e.to_string() }
}

impl NetlinkAddresses {
    /// Opens an rtnetlink socket in the caller's network namespace.
    pub fn new() -> Result<Self, BackendError> {
        let sock = NlSocket::open(NETLINK_ROUTE).map_err(io_err(&Operation::ListAddresses))?;
        Ok(NetlinkAddresses { sock, tx: Vec::with_capacity(512) })
    }

    fn transact(
        &mut self,
        op: &Operation,
        msg: RouteNetlinkMessage,
        flags: u16,
    ) -> Result<Vec<RouteNetlinkMessage>, BackendError> {
        let dump = flags & NLM_F_DUMP == NLM_F_DUMP;
        let seq = self.sock.next_seq();
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | flags;
        header.sequence_number = seq;
        let mut nl = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(msg));
        nl.finalize();
        self.tx.clear();
        self.tx.resize(nl.buffer_len(), 0);
        nl.serialize(&mut self.tx);
        self.sock.send(&self.tx).map_err(io_err(op))?;
        let mut out = Vec::new();
        loop {
            let buf = self.sock.recv().map_err(io_err(op))?;
            let mut off = 0;
            while off < buf.len() {
                let len = NetlinkBuffer::new_checked(&buf[off..]).map_err(|e| decode_err(op, e))?.length() as usize;
                let msg = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&buf[off..off + len])
                    .map_err(|e| decode_err(op, e))?;
                off += (len + 3) & !3;
                if msg.header.sequence_number != seq {
                    continue;
                }
                match msg.payload {
                    NetlinkPayload::InnerMessage(m) => out.push(m),
                    NetlinkPayload::Error(e) => match e.code {
                        None if !dump => return Ok(out),
                        None => {}
                        Some(code) => return Err(BackendError::kernel(op.clone(), Errno(code.get().saturating_neg()))),
                    },
                    NetlinkPayload::Done(d) => {
                        if d.code < 0 {
                            return Err(BackendError::kernel(op.clone(), Errno(d.code.saturating_neg())));
                        }
                        return Ok(out);
                    }
                    _ => {}
                }
            }
        }
    }

    fn address_message(a: &InterfaceAddress, adding: bool) -> AddressMessage {
        let mut m = AddressMessage::default();
        m.header.family = if a.addr.is_ipv4() { AddressFamily::Inet } else { AddressFamily::Inet6 };
        m.header.prefix_len = a.prefix_len;
        m.header.scope = AddressScope::from(a.scope.number());
        m.header.index = a.ifindex;
        m.attributes.push(AddressAttribute::Local(a.addr));
        m.attributes.push(AddressAttribute::Address(a.addr));
        if let Some(label) = &a.label {
            m.attributes.push(AddressAttribute::Label(label.clone()));
        }
        if adding {
            if let Some(brd) = a.broadcast {
                m.attributes.push(AddressAttribute::Broadcast(brd));
            }
            let mut flags = 0u32;
            if a.nodad {
                flags |= AddrFlags::NODAD;
            }
            if a.noprefixroute {
                flags |= AddrFlags::NOPREFIXROUTE;
            }
            if flags != 0 {
                // The header has 8 bits; the attribute carries all 32.
                m.header.flags = AddressHeaderFlags::from_bits_retain(flags as u8);
                m.attributes.push(AddressAttribute::Flags(AddressFlags::from_bits_retain(flags)));
            }
        }
        m
    }

    fn entry(m: &AddressMessage) -> Option<AddressEntry> {
        let (mut local, mut address, mut label, mut brd, mut flags32) = (None, None, None, None, None);
        for a in &m.attributes {
            match a {
                AddressAttribute::Local(x) => local = Some(*x),
                AddressAttribute::Address(x) => address = Some(*x),
                AddressAttribute::Label(x) => label = Some(x.clone()),
                AddressAttribute::Broadcast(x) => brd = Some(*x),
                AddressAttribute::Flags(x) => flags32 = Some(x.bits()),
                _ => {}
            }
        }
        let addr: IpAddr = local.or(address)?;
        let flags = flags32.unwrap_or(u32::from(m.header.flags.bits()));
        let mut address = InterfaceAddress::new(m.header.index, addr, m.header.prefix_len)
            .scope(AddrScope::from_number(u8::from(m.header.scope)));
        address.label = label;
        address.broadcast = brd;
        address.nodad = flags & AddrFlags::NODAD != 0;
        address.noprefixroute = flags & AddrFlags::NOPREFIXROUTE != 0;
        Some(AddressEntry { address, flags: AddrFlags(flags) })
    }
}

impl AddressBackend for NetlinkAddresses {
    fn link_index(&mut self, name: &str) -> Result<u32, BackendError> {
        let op = Operation::LinkIndex(name.to_owned());
        check::ifname(&op, name)?;
        let mut m = LinkMessage::default();
        m.attributes.push(LinkAttribute::IfName(name.to_owned()));
        let replies = self.transact(&op, RouteNetlinkMessage::GetLink(m), NLM_F_ACK)?;
        replies
            .iter()
            .find_map(|r| match r {
                RouteNetlinkMessage::NewLink(l) => Some(l.header.index),
                _ => None,
            })
            .ok_or_else(|| decode_err(&op, "no link in the reply"))
    }

    fn add_address(&mut self, a: &InterfaceAddress) -> Result<(), BackendError> {
        let op = Operation::AddAddress { ifindex: a.ifindex, addr: a.addr, prefix_len: a.prefix_len };
        check::address(&op, a)?;
        let msg = RouteNetlinkMessage::NewAddress(Self::address_message(a, true));
        self.transact(&op, msg, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL).map(|_| ())
    }

    fn del_address(&mut self, a: &InterfaceAddress) -> Result<(), BackendError> {
        let op = Operation::DelAddress { ifindex: a.ifindex, addr: a.addr, prefix_len: a.prefix_len };
        check::address(&op, a)?;
        let msg = RouteNetlinkMessage::DelAddress(Self::address_message(a, false));
        self.transact(&op, msg, NLM_F_ACK).map(|_| ())
    }

    fn addresses(&mut self, ifindex: Option<u32>) -> Result<Vec<AddressEntry>, BackendError> {
        let op = Operation::ListAddresses;
        let replies = self.transact(&op, RouteNetlinkMessage::GetAddress(AddressMessage::default()), NLM_F_DUMP)?;
        let mut out: Vec<AddressEntry> = replies
            .iter()
            .filter_map(|r| match r {
                RouteNetlinkMessage::NewAddress(m) => Self::entry(m),
                _ => None,
            })
            .filter(|e| ifindex.is_none_or(|i| e.address.ifindex == i))
            .collect();
        sort_addresses(&mut out);
        Ok(out)
    }
}
