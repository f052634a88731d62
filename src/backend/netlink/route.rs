//! [`NetlinkAddresses`]: interface addresses over rtnetlink, as keepalived
//! manages its VIPs (`netlink_ipaddress` in `keepalived/vrrp/vrrp_ipaddress.c`)
//! and `ip addr` does: `RTM_NEWADDR` with `NLM_F_CREATE | NLM_F_EXCL`,
//! `RTM_DELADDR` matched by address, prefix length and label, `RTM_GETADDR`
//! dumps. The message types are netlink-packet-route's.

use std::net::IpAddr;

use netlink_packet_core::{
    NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_DUMP_INTR, NLM_F_EXCL, NLM_F_REQUEST, NetlinkBuffer, NetlinkHeader,
    NetlinkMessage, NetlinkPayload,
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

    /// Sends `msg` and collects the replies to it. A dump the kernel marks
    /// as interrupted by a change made while it ran (`NLM_F_DUMP_INTR`, set
    /// by `inet_dump_ifaddr` through `nl_dump_check_consistent` when the
    /// address list changed under it) is run again, up to
    /// [`DUMP_ATTEMPTS`] times, so that a caller never gets a list that
    /// misses or repeats an address; after that the call fails with
    /// `EINTR`, as libnl's `NLE_DUMP_INTR` does.
    fn transact(
        &mut self,
        op: &Operation,
        msg: RouteNetlinkMessage,
        flags: u16,
    ) -> Result<Vec<RouteNetlinkMessage>, BackendError> {
        transact(&mut self.sock, &mut self.tx, op, msg, flags, false)
    }

    /// Decodes one datagram of the kernel's replies to an `RTM_GETADDR`
    /// dump whose request had sequence number `seq`, as
    /// [`addresses`](AddressBackend::addresses) reads them: messages of
    /// other requests are skipped, a kernel error (also one carried by
    /// `NLMSG_DONE`) is returned as [`BackendError::Kernel`], anything
    /// malformed as [`BackendError::Decode`]. For capture tools and tests,
    /// and what the `netlink_route_reply` fuzz target drives: any input
    /// gives a value or an error, never a panic.
    pub fn decode_dump(buf: &[u8], seq: u32) -> Result<AddressDumpPart, BackendError> {
        let mut r = Replies::default();
        r.read(&Operation::ListAddresses, buf, seq, true)?;
        let addresses = address_entries(&r.out).collect();
        Ok(AddressDumpPart { addresses, done: r.done, interrupted: r.interrupted })
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
}

/// An address as an `RTM_NEWADDR`/`RTM_DELADDR` message describes it
/// (`IFA_LOCAL`, else `IFA_ADDRESS`; the 32-bit `IFA_FLAGS` when present,
/// else the header's 8 bits). `None` when it names no address. Shared by
/// [`NetlinkAddresses::addresses`] and the raw-socket link monitor.
pub(crate) fn address_entry(m: &AddressMessage) -> Option<AddressEntry> {
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

/// How many times a dump interrupted by concurrent changes is run before
/// [`NetlinkAddresses`] gives up with `EINTR`.
const DUMP_ATTEMPTS: usize = 8;

/// Sends `msg` (with `flags` besides `NLM_F_REQUEST`) on `sock` and
/// collects the replies to it, serializing into `tx`: the request step of
/// [`NetlinkAddresses`] and of the raw-socket monitor's link and address
/// dumps. An interrupted dump is run again (see
/// [`NetlinkAddresses::transact`]). With `lenient`, a well-framed message
/// whose payload netlink-packet-route cannot decode (an attribute it
/// rejects) is skipped instead of failing the call, as the monitor treats
/// its events; a datagram that is not well framed fails either way.
pub(crate) fn transact(
    sock: &mut NlSocket,
    tx: &mut Vec<u8>,
    op: &Operation,
    msg: RouteNetlinkMessage,
    flags: u16,
    lenient: bool,
) -> Result<Vec<RouteNetlinkMessage>, BackendError> {
    let dump = flags & NLM_F_DUMP == NLM_F_DUMP;
    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_REQUEST | flags;
    let mut nl = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(msg));
    for _ in 0..DUMP_ATTEMPTS {
        let seq = sock.next_seq();
        nl.header.sequence_number = seq;
        nl.finalize();
        tx.clear();
        tx.resize(nl.buffer_len(), 0);
        nl.serialize(tx);
        sock.send(tx).map_err(io_err(op))?;
        let mut replies = Replies { lenient, ..Replies::default() };
        while !replies.done {
            let buf = sock.recv().map_err(io_err(op))?;
            replies.read(op, buf, seq, dump)?;
        }
        if !replies.interrupted {
            return Ok(replies.out);
        }
    }
    Err(BackendError::kernel(op.clone(), Errno(libc::EINTR)))
}

/// What one datagram of replies to an address dump carries
/// ([`NetlinkAddresses::decode_dump`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct AddressDumpPart {
    /// The addresses, in the kernel's order.
    pub addresses: Vec<AddressEntry>,
    /// The dump's final message (`NLMSG_DONE`) was in this datagram.
    pub done: bool,
    /// The kernel marked a reply as interrupted by a change
    /// (`NLM_F_DUMP_INTR`): the whole dump must be run again.
    pub interrupted: bool,
}

/// The replies to one request, collected datagram by datagram.
#[derive(Debug, Default)]
struct Replies {
    out: Vec<RouteNetlinkMessage>,
    /// The final message (`NLMSG_DONE`, or the acknowledgement of a
    /// request that is not a dump) has been read.
    done: bool,
    /// A reply carried `NLM_F_DUMP_INTR`.
    interrupted: bool,
    /// Skip a well-framed message whose payload does not decode.
    lenient: bool,
}

impl Replies {
    /// Reads one datagram of netlink messages, keeping those that answer
    /// request `seq` (others, e.g. late answers to an abandoned request,
    /// are skipped). An error the kernel returns ends the call.
    fn read(&mut self, op: &Operation, buf: &[u8], seq: u32, dump: bool) -> Result<(), BackendError> {
        for_each_message(
            buf,
            self.lenient,
            |reason| decode_err(op, reason),
            |msg| {
                if msg.header.sequence_number != seq {
                    return Ok(());
                }
                if msg.header.flags & NLM_F_DUMP_INTR != 0 {
                    self.interrupted = true;
                }
                match msg.payload {
                    NetlinkPayload::InnerMessage(m) => self.out.push(m),
                    NetlinkPayload::Error(e) => match e.code {
                        None if !dump => self.done = true,
                        None => {}
                        Some(code) => return Err(BackendError::kernel(op.clone(), Errno(code.get().saturating_neg()))),
                    },
                    NetlinkPayload::Done(d) => {
                        if d.code < 0 {
                            return Err(BackendError::kernel(op.clone(), Errno(d.code.saturating_neg())));
                        }
                        self.done = true;
                    }
                    _ => {}
                }
                Ok(())
            },
        )
    }
}

/// Walks the netlink messages of one datagram of rtnetlink, calling `f`
/// with each that netlink-packet-route decodes, until `f` fails. A message
/// whose framing is broken (a header that does not fit;
/// `NetlinkBuffer::new_checked` also refuses a length below the header's or
/// past the datagram's end) ends the walk with `bad(reason)`; a well-framed
/// message whose payload does not decode (an attribute the crate rejects)
/// is skipped when `lenient`, and ends the walk with `bad(reason)`
/// otherwise. Shared by the request step's [`Replies`] and the raw-socket
/// monitor's notifications.
pub(crate) fn for_each_message<E>(
    buf: &[u8],
    lenient: bool,
    bad: impl Fn(String) -> E,
    mut f: impl FnMut(NetlinkMessage<RouteNetlinkMessage>) -> Result<(), E>,
) -> Result<(), E> {
    let mut off = 0;
    while off < buf.len() {
        let len = NetlinkBuffer::new_checked(&buf[off..]).map_err(|e| bad(e.to_string()))?.length() as usize;
        let decoded = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&buf[off..off + len]);
        off += (len + 3) & !3;
        match decoded {
            Ok(m) => f(m)?,
            Err(_) if lenient => {}
            Err(e) => return Err(bad(e.to_string())),
        }
    }
    Ok(())
}

/// The addresses among `msgs` (their `RTM_NEWADDR` messages, decoded by
/// [`address_entry`]), in order.
fn address_entries(msgs: &[RouteNetlinkMessage]) -> impl Iterator<Item = AddressEntry> + '_ {
    msgs.iter().filter_map(|m| match m {
        RouteNetlinkMessage::NewAddress(a) => address_entry(a),
        _ => None,
    })
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
        let mut out: Vec<AddressEntry> =
            address_entries(&replies).filter(|e| ifindex.is_none_or(|i| e.address.ifindex == i)).collect();
        sort_addresses(&mut out);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_core::{DoneMessage, ErrorMessage, NLM_F_MULTIPART};
    use std::num::NonZeroI32;

    /// One netlink message as the kernel would send it, appended to `buf`.
    fn push(buf: &mut Vec<u8>, seq: u32, flags: u16, payload: NetlinkPayload<RouteNetlinkMessage>) {
        let mut header = NetlinkHeader::default();
        header.sequence_number = seq;
        header.flags = flags;
        let mut m = NetlinkMessage::new(header, payload);
        m.finalize();
        let at = buf.len();
        buf.resize(at + m.buffer_len(), 0);
        m.serialize(&mut buf[at..]);
        buf.resize(buf.len().next_multiple_of(4), 0);
    }

    fn addr(index: u32) -> NetlinkPayload<RouteNetlinkMessage> {
        let mut m = AddressMessage::default();
        m.header.index = index;
        NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewAddress(m))
    }

    #[test]
    fn a_dump_ends_at_done_and_skips_other_requests() {
        let op = Operation::ListAddresses;
        let mut r = Replies::default();
        let mut first = Vec::new();
        push(&mut first, 7, NLM_F_MULTIPART, addr(1));
        push(&mut first, 6, NLM_F_MULTIPART, addr(99)); // a late answer to an earlier request
        r.read(&op, &first, 7, true).unwrap();
        assert!(!r.done);
        let mut second = Vec::new();
        push(&mut second, 7, NLM_F_MULTIPART, addr(2));
        push(&mut second, 7, NLM_F_MULTIPART, NetlinkPayload::Done(DoneMessage::default()));
        r.read(&op, &second, 7, true).unwrap();
        assert!(r.done && !r.interrupted);
        let idx: Vec<u32> = r
            .out
            .iter()
            .map(|m| match m {
                RouteNetlinkMessage::NewAddress(a) => a.header.index,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(idx, [1, 2]);
    }

    #[test]
    fn an_interrupted_dump_is_flagged() {
        // The kernel sets NLM_F_DUMP_INTR on the part of the dump sent after
        // the list changed, here only on the final NLMSG_DONE.
        let op = Operation::ListAddresses;
        let mut r = Replies::default();
        let mut buf = Vec::new();
        push(&mut buf, 3, NLM_F_MULTIPART, addr(1));
        push(&mut buf, 3, NLM_F_MULTIPART | NLM_F_DUMP_INTR, NetlinkPayload::Done(DoneMessage::default()));
        r.read(&op, &buf, 3, true).unwrap();
        assert!(r.done && r.interrupted);
    }

    #[test]
    fn acknowledgements_and_errors() {
        let op = Operation::ListAddresses;
        // A request that is not a dump ends at its acknowledgement (an error
        // message with code 0).
        let mut r = Replies::default();
        let mut buf = Vec::new();
        push(&mut buf, 4, 0, NetlinkPayload::Error(ErrorMessage::default()));
        r.read(&op, &buf, 4, false).unwrap();
        assert!(r.done);
        // A kernel error names its errno.
        let mut e = ErrorMessage::default();
        e.code = NonZeroI32::new(-libc::EEXIST);
        let mut buf = Vec::new();
        push(&mut buf, 5, 0, NetlinkPayload::Error(e));
        let err = Replies::default().read(&op, &buf, 5, false).unwrap_err();
        assert!(matches!(err, BackendError::Kernel { errno: Errno(libc::EEXIST), .. }), "{err:?}");
        // A truncated datagram is a decode error, not a panic.
        let mut buf = Vec::new();
        push(&mut buf, 6, NLM_F_MULTIPART, addr(1));
        let err = Replies::default().read(&op, &buf[..buf.len() - 6], 6, true).unwrap_err();
        assert!(matches!(err, BackendError::Decode { .. }), "{err:?}");
    }

    /// A well-framed RTM_NEWLINK whose body is too short for its
    /// `ifinfomsg`: framing fine, payload undecodable.
    fn undecodable_link(buf: &mut Vec<u8>, seq: u32) {
        let len: u32 = 16 + 4;
        buf.extend_from_slice(&len.to_ne_bytes());
        buf.extend_from_slice(&16u16.to_ne_bytes()); // RTM_NEWLINK
        buf.extend_from_slice(&NLM_F_MULTIPART.to_ne_bytes());
        buf.extend_from_slice(&seq.to_ne_bytes());
        buf.extend_from_slice(&0u32.to_ne_bytes());
        buf.extend_from_slice(&[0; 4]);
    }

    #[test]
    fn lenient_reading_skips_an_undecodable_message_only() {
        let op = Operation::ListLinks;
        let mut buf = Vec::new();
        push(&mut buf, 8, NLM_F_MULTIPART, addr(1));
        undecodable_link(&mut buf, 8);
        push(&mut buf, 8, NLM_F_MULTIPART, addr(2));
        push(&mut buf, 8, NLM_F_MULTIPART, NetlinkPayload::Done(DoneMessage::default()));
        // Strict (NetlinkAddresses): the call fails, naming the operation.
        let err = Replies::default().read(&op, &buf, 8, true).unwrap_err();
        assert!(matches!(err, BackendError::Decode { op: Operation::ListLinks, .. }), "{err:?}");
        // Lenient (the monitor's dumps): the others are kept.
        let mut r = Replies { lenient: true, ..Replies::default() };
        r.read(&op, &buf, 8, true).unwrap();
        assert!(r.done);
        assert_eq!(r.out.len(), 2);
        // A datagram that is not well framed fails either way.
        let mut r = Replies { lenient: true, ..Replies::default() };
        assert!(r.read(&op, &buf[..buf.len() - 6], 8, true).is_err());
    }
}
