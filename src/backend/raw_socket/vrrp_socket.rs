//! [`VrrpSocket`]: a raw IP socket for protocol 112 on one interface, set
//! up the way keepalived 2.2.7 sets up its VRRP sockets
//! (`open_vrrp_send_socket` / `open_vrrp_read_socket` in
//! `keepalived/vrrp/vrrp.c`, the options in `vrrp_if.c`), but as one socket
//! for both directions.
//!
//! * IPv4: `IP_HDRINCL`, so each advert carries keepalived's header (TOS
//!   0xc0, TTL 255, DF clear, an identification counting up from 1);
//!   multicast adverts go out with `MSG_DONTROUTE`, as keepalived sends them.
//! * IPv6: the source (the interface's link-local address, or the
//!   configured one) and the interface are given per packet with
//!   `IPV6_PKTINFO`; traffic class 0xc0 (`IPV6_TCLASS`); multicast hop
//!   limit 255. The VRRPv3 checksum over the IPv6 pseudo-header
//!   (RFC 5798 section 5.2.8) is computed by the codec, before sending, over
//!   exactly that source and destination.
//! * Multicast (the default): the socket joins 224.0.0.18 or ff02::12 (or
//!   `mcast_dst_ip`) on the interface and is bound to the group, so it sees
//!   only adverts sent to it; `IP_MULTICAST_ALL` off, so it sees no other
//!   group; `IP_MULTICAST_LOOP` off, so it never hears itself.
//! * Unicast peers: no group; bound to the configured source address when
//!   there is one.
//! * Always: `SO_BINDTODEVICE` to the interface; non-blocking; receive
//!   metadata: source, destination, TTL or hop limit, interface index
//!   (`IP_PKTINFO`, `IPV6_RECVPKTINFO`, `IPV6_RECVHOPLIMIT`).
//!
//! Deliberate difference: keepalived sets `IPV6_CHECKSUM` on its IPv6
//! receive socket, so the kernel drops adverts with a bad checksum before
//! keepalived sees (or counts) them. lvskit leaves the check to the state
//! machine, which counts them in `chk_err`.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsFd, BorrowedFd};

use socket2::{Domain, InterfaceIndexOrAddress, Protocol, SockAddr, Socket, Type};

use super::error::{RawSocketError, SocketOp};
use super::sys;
use crate::wire::{Family, ipv4, vrrp};

/// The largest VRRP packet with its IPv4 header: a 60-byte header, the
/// 8-byte VRRP header, 255 IPv6-sized addresses and v2's 8 bytes of
/// authentication data, rounded up.
pub const MAX_PACKET_LEN: usize = 4 * 1024 + 256;

/// How a [`VrrpSocket`] meets its peers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Membership {
    /// Join this multicast group (224.0.0.18, ff02::12 or `mcast_dst_ip`)
    /// and hear only what is sent to it.
    Multicast(IpAddr),
    /// Unicast peers: bind to this local address when given (keepalived
    /// binds to `unicast_src_ip`), else hear every protocol-112 packet the
    /// interface receives for this host.
    Unicast(Option<IpAddr>),
}

/// What the socket knows about a received packet besides its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RxInfo {
    /// IP source address.
    pub src: IpAddr,
    /// IP destination address.
    pub dst: IpAddr,
    /// IPv4 TTL or IPv6 hop limit, when known.
    pub ttl: Option<u8>,
    /// The interface it arrived on.
    pub ifindex: u32,
}

/// One received packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Received<'a> {
    /// Source, destination, TTL, interface.
    pub info: RxInfo,
    /// For IPv4, the whole IP packet as the kernel delivered it (header
    /// included); `None` for IPv6, whose raw sockets deliver only the
    /// payload.
    pub ip_packet: Option<&'a [u8]>,
    /// The VRRP packet (the IP payload; for IPv4 empty when the header does
    /// not parse).
    pub payload: &'a [u8],
    /// The datagram was longer than the buffer and was cut.
    pub truncated: bool,
}

/// A raw VRRP socket on one interface (see the module doc for its options).
///
/// ```no_run
/// use std::net::{IpAddr, Ipv4Addr};
/// use lvskit::backend::raw_socket::{Membership, VrrpSocket};
/// use lvskit::wire::Family;
/// use lvskit::wire::vrrp::{Addrs, MCAST_V4, Repr, Version};
///
/// let mut sock = VrrpSocket::open(Family::V4, "eth0", 2, Membership::Multicast(IpAddr::V4(MCAST_V4)))?;
/// let src = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 11));
/// let vips = [Ipv4Addr::new(192, 0, 2, 100)];
/// let mut buf = [0u8; 64];
/// let len = Repr::advertisement(Version::V3, 51, 150, 100, Addrs::V4(&vips))
///     .emit(&mut buf, src, IpAddr::V4(MCAST_V4))
///     .expect("fits");
/// sock.send(src, IpAddr::V4(MCAST_V4), Some(255), &buf[..len])?;
///
/// let mut rx = [0u8; lvskit::backend::raw_socket::MAX_PACKET_LEN];
/// if let Some(pkt) = sock.recv(&mut rx)? {
///     println!("{} -> {} ttl {:?}: {} bytes", pkt.info.src, pkt.info.dst, pkt.info.ttl, pkt.payload.len());
/// }
/// # Ok::<(), lvskit::backend::raw_socket::RawSocketError>(())
/// ```
#[derive(Debug)]
pub struct VrrpSocket {
    sock: Socket,
    family: Family,
    ifname: String,
    ifindex: u32,
    membership: Membership,
    ip_id: u16,
    tx: [u8; MAX_PACKET_LEN],
}

impl VrrpSocket {
    /// Opens a socket for `family` on interface `ifname` (index `ifindex`).
    /// Needs `CAP_NET_RAW`.
    pub fn open(family: Family, ifname: &str, ifindex: u32, membership: Membership) -> Result<Self, RawSocketError> {
        let opt = |option: &'static str| SocketOp::SetOption { option, ifname: ifname.to_owned() };
        // A group that cannot be joined is refused before any socket exists
        // (and before the kernel is asked to join it).
        if let Membership::Multicast(group) = membership {
            let why = if Family::of(group) != family {
                Some("group of the other address family")
            } else if !group.is_multicast() {
                Some("not a multicast address")
            } else {
                None
            };
            if let Some(why) = why {
                return Err(RawSocketError::invalid_input(
                    SocketOp::JoinGroup { group, ifname: ifname.to_owned() },
                    why,
                ));
            }
        }
        let domain = match family {
            Family::V4 => Domain::IPV4,
            Family::V6 => Domain::IPV6,
        };
        let sock = Socket::new(domain, Type::RAW, Some(Protocol::from(i32::from(vrrp::PROTOCOL))))
            .map_err(RawSocketError::io(SocketOp::OpenVrrp(family)))?;
        sock.set_nonblocking(true).map_err(RawSocketError::io(opt("O_NONBLOCK")))?;
        sock.bind_device(Some(ifname.as_bytes())).map_err(RawSocketError::io(opt("SO_BINDTODEVICE")))?;
        let fd = sock.as_fd();
        match family {
            Family::V4 => {
                sock.set_header_included_v4(true).map_err(RawSocketError::io(opt("IP_HDRINCL")))?;
                sock.set_multicast_all_v4(false).map_err(RawSocketError::io(opt("IP_MULTICAST_ALL")))?;
                sys::setsockopt_int(fd, libc::IPPROTO_IP, libc::IP_PKTINFO, 1)
                    .map_err(RawSocketError::io(opt("IP_PKTINFO")))?;
                // With IP_HDRINCL the TOS and TTL come from our header;
                // these cover nothing but are what keepalived sets too.
                sock.set_tos_v4(u32::from(vrrp::TOS)).map_err(RawSocketError::io(opt("IP_TOS")))?;
            }
            Family::V6 => {
                sock.set_multicast_all_v6(false).map_err(RawSocketError::io(opt("IPV6_MULTICAST_ALL")))?;
                sock.set_recv_hoplimit_v6(true).map_err(RawSocketError::io(opt("IPV6_RECVHOPLIMIT")))?;
                sys::setsockopt_int(fd, libc::IPPROTO_IPV6, libc::IPV6_RECVPKTINFO, 1)
                    .map_err(RawSocketError::io(opt("IPV6_RECVPKTINFO")))?;
                sock.set_tclass_v6(u32::from(vrrp::TOS)).map_err(RawSocketError::io(opt("IPV6_TCLASS")))?;
                sock.set_multicast_hops_v6(u32::from(vrrp::TTL))
                    .map_err(RawSocketError::io(opt("IPV6_MULTICAST_HOPS")))?;
            }
        }
        match membership {
            Membership::Multicast(group) => {
                match (family, group) {
                    (Family::V4, IpAddr::V4(g)) => {
                        // No IP_MULTICAST_IF: SO_BINDTODEVICE already routes
                        // multicast out of the interface.
                        sock.set_multicast_loop_v4(false).map_err(RawSocketError::io(opt("IP_MULTICAST_LOOP")))?;
                        sock.join_multicast_v4_n(&g, &InterfaceIndexOrAddress::Index(ifindex))
                            .map_err(RawSocketError::io(SocketOp::JoinGroup { group, ifname: ifname.to_owned() }))?;
                        sock.bind(&SockAddr::from(SocketAddrV4::new(g, 0)))
                            .map_err(RawSocketError::io(SocketOp::Bind(group)))?;
                    }
                    (Family::V6, IpAddr::V6(g)) => {
                        sock.set_multicast_if_v6(ifindex).map_err(RawSocketError::io(opt("IPV6_MULTICAST_IF")))?;
                        sock.set_multicast_loop_v6(false).map_err(RawSocketError::io(opt("IPV6_MULTICAST_LOOP")))?;
                        sock.join_multicast_v6(&g, ifindex)
                            .map_err(RawSocketError::io(SocketOp::JoinGroup { group, ifname: ifname.to_owned() }))?;
                        sock.bind(&SockAddr::from(SocketAddrV6::new(g, 0, 0, ifindex)))
                            .map_err(RawSocketError::io(SocketOp::Bind(group)))?;
                    }
                    _ => {
                        return Err(RawSocketError::invalid_input(
                            SocketOp::JoinGroup { group, ifname: ifname.to_owned() },
                            "group of the other address family",
                        ));
                    }
                }
            }
            Membership::Unicast(Some(local)) => {
                let sa = match local {
                    IpAddr::V4(a) => SocketAddr::V4(SocketAddrV4::new(a, 0)),
                    IpAddr::V6(a) => {
                        let scope = if is_link_local(a) { ifindex } else { 0 };
                        SocketAddr::V6(SocketAddrV6::new(a, 0, 0, scope))
                    }
                };
                sock.bind(&SockAddr::from(sa)).map_err(RawSocketError::io(SocketOp::Bind(local)))?;
            }
            Membership::Unicast(None) => {}
        }
        Ok(VrrpSocket {
            sock,
            family,
            ifname: ifname.to_owned(),
            ifindex,
            membership,
            ip_id: 0,
            tx: [0; MAX_PACKET_LEN],
        })
    }

    /// The address family.
    pub fn family(&self) -> Family {
        self.family
    }

    /// The interface name.
    pub fn ifname(&self) -> &str {
        &self.ifname
    }

    /// The interface index.
    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// Multicast group or unicast.
    pub fn membership(&self) -> Membership {
        self.membership
    }

    /// Sends one VRRP packet (`vrrp`, checksum included) from `src` to
    /// `dst`. For IPv4 the header is built here: TOS 0xc0, `hop_limit` (255
    /// when `None`), DF clear, the next identification. For IPv6,
    /// `hop_limit` `None` leaves the socket's default (255 for multicast,
    /// the interface's for unicast); the instances always give one (255
    /// unless `unicast_ttl` says otherwise). Returns the bytes sent.
    pub fn send(
        &mut self,
        src: IpAddr,
        dst: IpAddr,
        hop_limit: Option<u8>,
        vrrp: &[u8],
    ) -> Result<usize, RawSocketError> {
        let op = || SocketOp::Send { dst, ifname: self.ifname.clone() };
        match (src, dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                let need = ipv4::MIN_HEADER_LEN + vrrp.len();
                if need > self.tx.len() {
                    return Err(RawSocketError::invalid_input(op(), "packet too long"));
                }
                // keepalived counts the identification up from 1 per socket.
                self.ip_id = self.ip_id.wrapping_add(1);
                let header = ipv4::Repr {
                    src_addr: s,
                    dst_addr: d,
                    protocol: vrrp::PROTOCOL,
                    payload_len: vrrp.len(),
                    ttl: hop_limit.unwrap_or(vrrp::TTL),
                    tos: vrrp::TOS,
                    ident: self.ip_id,
                };
                header.emit(&mut self.tx).map_err(|e| RawSocketError::invalid_input(op(), e.to_string()))?;
                self.tx[ipv4::MIN_HEADER_LEN..need].copy_from_slice(vrrp);
                let flags = if d.is_multicast() { libc::MSG_DONTROUTE } else { 0 };
                let to = SockAddr::from(SocketAddrV4::new(d, 0));
                self.sock.send_to_with_flags(&self.tx[..need], &to, flags).map_err(RawSocketError::io(op()))
            }
            (IpAddr::V6(s), IpAddr::V6(d)) => {
                sys::send_v6(self.sock.as_fd(), vrrp, s, d, self.ifindex, hop_limit).map_err(RawSocketError::io(op()))
            }
            _ => Err(RawSocketError::invalid_input(op(), "source and destination of different families")),
        }
    }

    /// Receives one packet into `buf` (at least [`MAX_PACKET_LEN`] bytes
    /// avoids truncation); `Ok(None)` when nothing is waiting.
    pub fn recv<'a>(&self, buf: &'a mut [u8]) -> Result<Option<Received<'a>>, RawSocketError> {
        let meta = loop {
            match sys::recv_with_meta(self.sock.as_fd(), buf) {
                Ok(m) => break m,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
                Err(e) => return Err(RawSocketError::io(SocketOp::Recv { ifname: self.ifname.clone() })(e)),
            }
        };
        let bytes = &buf[..meta.len];
        let ifindex = meta.ifindex.unwrap_or(self.ifindex);
        Ok(Some(match self.family {
            Family::V4 => {
                let unspecified = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
                let (info, payload) = match ipv4::Packet::new_checked(bytes) {
                    Ok(p) => (
                        RxInfo {
                            src: IpAddr::V4(p.src_addr()),
                            dst: IpAddr::V4(p.dst_addr()),
                            ttl: Some(p.ttl()),
                            ifindex,
                        },
                        &bytes[p.header_len().min(bytes.len())..],
                    ),
                    Err(_) => (
                        RxInfo {
                            src: meta.src.unwrap_or(unspecified),
                            dst: meta.dst.unwrap_or(unspecified),
                            ttl: None,
                            ifindex,
                        },
                        &bytes[..0],
                    ),
                };
                Received { info, ip_packet: Some(bytes), payload, truncated: meta.truncated }
            }
            Family::V6 => {
                let unspecified = IpAddr::V6(Ipv6Addr::UNSPECIFIED);
                Received {
                    info: RxInfo {
                        src: meta.src.unwrap_or(unspecified),
                        dst: meta.dst.unwrap_or(unspecified),
                        ttl: meta.hop_limit,
                        ifindex,
                    },
                    ip_packet: None,
                    payload: bytes,
                    truncated: meta.truncated,
                }
            }
        }))
    }

    /// The file descriptor, to register with an event loop.
    pub fn as_fd(&self) -> BorrowedFd<'_> {
        self.sock.as_fd()
    }
}

impl AsFd for VrrpSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.sock.as_fd()
    }
}

fn is_link_local(a: Ipv6Addr) -> bool {
    a.segments()[0] & 0xffc0 == 0xfe80
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unjoinable_groups_are_refused_before_any_socket() {
        // No CAP_NET_RAW needed: the check comes first.
        for (family, group, why) in [
            (Family::V4, "192.0.2.1", "not a multicast address"),
            (Family::V6, "2001:db8::1", "not a multicast address"),
            (Family::V4, "ff02::12", "group of the other address family"),
            (Family::V6, "224.0.0.18", "group of the other address family"),
        ] {
            let group: IpAddr = group.parse().unwrap();
            let err = VrrpSocket::open(family, "eth-none", 999_999, Membership::Multicast(group)).unwrap_err();
            match err {
                RawSocketError::Io { op: SocketOp::JoinGroup { group: g, ifname }, source } => {
                    assert_eq!((g, ifname.as_str()), (group, "eth-none"));
                    assert_eq!(source.kind(), io::ErrorKind::InvalidInput);
                    assert_eq!(source.to_string(), why);
                }
                other => panic!("{group}: {other:?}"),
            }
        }
    }
}
