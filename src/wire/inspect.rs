//! One line of text for each VRRP advert, gratuitous ARP or unsolicited
//! Neighbour Advertisement in a captured frame: what
//! `examples/vrrp-decode.rs` prints, so that people can debug a live network.
//!
//! The line contract ([`Line`]'s `Display`):
//!
//! ```text
//! vN advert vrid=V prio=P count=C int=I csum=ok auth=A [pass=S] src=S dst=D ttl=T addrs=A1,A2,...
//! garp ip=<sender IP> mac=<sender MAC>
//! una target=<target address> mac=<target link-layer address option>
//! vN advert vrid=V prio=P count=C int=I error=<the typed error>
//! ```
//!
//! * `int=` is `1s` for v2 (seconds) and `100cs` for v3 (centiseconds).
//! * `auth=` is `none`, `pass` (then `pass=` with the password without its
//!   NUL padding, non-printable bytes escaped) or `ah`, and always `none`
//!   for v3; an auth type no RFC defines prints as `unknown(N)`.
//! * `ttl=` is the IPv4 TTL or the IPv6 hop limit; `addrs=` lists the
//!   addresses in packet order (IPv6 as [`std::net::Ipv6Addr`] displays).
//! * A packet that fails to decode (truncated, an address count that does
//!   not fit, a bad checksum under RFC 5798 rules, i.e. over the packet's
//!   real destination) prints the header fields it could read, then
//!   `error=`. A packet whose Type is not 1 prints `type=N` in place of
//!   `advert`.
//! * `una ... mac=none` when the NA carries no Target Link-Layer Address.
//! * Everything else prints nothing: a non-gratuitous ARP, a solicited NA,
//!   an ICMP or ICMPv6 error quoting a VRRP packet, an IP fragment.
//!
//! Link types: Ethernet (with up to two VLAN tags), Linux cooked capture v1
//! and v2, and raw IPv4/IPv6. Ethernet padding is ignored (the IP length
//! decides) and IPv4 options and IPv6 extension headers are skipped.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::ethernet::EthernetAddress;
use super::pcap::LinkType;
use super::vrrp::{self, AuthType, MessageType};
use super::{Family, arp, be16, ndisc};

/// The VRRP header fields a (possibly broken) packet let us read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdvertHeader {
    /// Version field, if the packet has a first byte.
    pub version: Option<u8>,
    /// Type field, if the packet has a first byte.
    pub msg_type: Option<MessageType>,
    /// Virtual Router ID.
    pub vrid: Option<u8>,
    /// Priority.
    pub priority: Option<u8>,
    /// Address count.
    pub count: Option<u8>,
    /// The interval field (seconds for v2, centiseconds for v3; absent for
    /// other versions).
    pub interval: Option<u16>,
}

impl AdvertHeader {
    fn read(b: &[u8]) -> Self {
        let version = b.first().map(|b| b >> 4);
        let interval = match version {
            Some(2) => b.get(5).map(|&i| u16::from(i)),
            Some(3) if b.len() >= 6 => Some(be16(b, 4) & vrrp::MAX_V3_INTERVAL),
            _ => None,
        };
        AdvertHeader {
            version,
            msg_type: b.first().map(|b| MessageType::from(b & 0x0f)),
            vrid: b.get(1).copied(),
            priority: b.get(2).copied(),
            count: b.get(3).copied(),
            interval,
        }
    }
}

impl fmt::Display for AdvertHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.version {
            Some(v) => write!(f, "v{v}")?,
            None => f.write_str("v?")?,
        }
        match self.msg_type {
            Some(MessageType::Unknown(t)) => write!(f, " type={t}")?,
            _ => f.write_str(" advert")?,
        }
        if let Some(v) = self.vrid {
            write!(f, " vrid={v}")?;
        }
        if let Some(p) = self.priority {
            write!(f, " prio={p}")?;
        }
        if let Some(c) = self.count {
            write!(f, " count={c}")?;
        }
        if let Some(i) = self.interval {
            let unit = if self.version == Some(2) { "s" } else { "cs" };
            write!(f, " int={i}{unit}")?;
        }
        Ok(())
    }
}

/// What one captured frame is worth a line about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// A VRRP packet that decoded and verified.
    Advert {
        /// Its header fields.
        header: AdvertHeader,
        /// Auth type (always `None` for v3).
        auth_type: AuthType,
        /// The password of a v2 `PASS` advert, without NUL padding.
        password: Option<Vec<u8>>,
        /// IP source.
        src: IpAddr,
        /// IP destination.
        dst: IpAddr,
        /// IPv4 TTL or IPv6 hop limit.
        ttl: u8,
        /// The addresses, in packet order.
        addrs: Vec<IpAddr>,
    },
    /// A VRRP packet that did not decode.
    AdvertError {
        /// The header fields that could be read.
        header: AdvertHeader,
        /// Why it did not decode.
        error: vrrp::Error,
    },
    /// A gratuitous ARP.
    Garp {
        /// Sender (= target) protocol address.
        ip: Ipv4Addr,
        /// Sender hardware address.
        mac: EthernetAddress,
    },
    /// An unsolicited Neighbour Advertisement.
    Una {
        /// Target address.
        target: Ipv6Addr,
        /// Target Link-Layer Address option.
        mac: Option<EthernetAddress>,
    },
}

impl fmt::Display for Line {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Line::Advert { header, auth_type, password, src, dst, ttl, addrs } => {
                write!(f, "{header} csum=ok auth={auth_type}")?;
                if let Some(p) = password {
                    write!(f, " pass={}", p.escape_ascii())?;
                }
                write!(f, " src={src} dst={dst} ttl={ttl} addrs=")?;
                for (i, a) in addrs.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{a}")?;
                }
                Ok(())
            }
            Line::AdvertError { header, error } => write!(f, "{header} error={error}"),
            Line::Garp { ip, mac } => write!(f, "garp ip={ip} mac={mac}"),
            Line::Una { target, mac: Some(mac) } => write!(f, "una target={target} mac={mac}"),
            Line::Una { target, mac: None } => write!(f, "una target={target} mac=none"),
        }
    }
}

const ETH_ARP: u16 = 0x0806;
const ETH_IPV4: u16 = 0x0800;
const ETH_IPV6: u16 = 0x86dd;
const IPPROTO_AH: u8 = 51;

/// The line for one captured frame, if it deserves one.
pub fn inspect(link: LinkType, frame: &[u8]) -> Option<Line> {
    match link {
        LinkType::Ethernet => {
            if frame.len() < 14 {
                return None;
            }
            let mut ethertype = be16(frame, 12);
            let mut rest = &frame[14..];
            // Up to two 802.1Q / 802.1ad tags.
            for _ in 0..2 {
                if ethertype != 0x8100 && ethertype != 0x88a8 {
                    break;
                }
                if rest.len() < 4 {
                    return None;
                }
                ethertype = be16(rest, 2);
                rest = &rest[4..];
            }
            by_ethertype(ethertype, rest)
        }
        LinkType::LinuxSll => {
            if frame.len() < 16 {
                return None;
            }
            by_ethertype(be16(frame, 14), &frame[16..])
        }
        LinkType::LinuxSll2 => {
            if frame.len() < 20 {
                return None;
            }
            by_ethertype(be16(frame, 0), &frame[20..])
        }
        LinkType::Raw => match frame.first().map(|b| b >> 4) {
            Some(4) => ipv4(frame),
            Some(6) => ipv6(frame),
            _ => None,
        },
        LinkType::Ipv4 => ipv4(frame),
        LinkType::Ipv6 => ipv6(frame),
        LinkType::Unknown(_) => None,
    }
}

fn by_ethertype(ethertype: u16, payload: &[u8]) -> Option<Line> {
    match ethertype {
        ETH_ARP => {
            let packet = arp::Packet::new_checked(payload).ok()?;
            let repr = arp::Repr::parse(&packet).ok()?;
            repr.is_gratuitous().then_some(Line::Garp { ip: repr.sender_protocol_addr, mac: repr.sender_hardware_addr })
        }
        ETH_IPV4 => ipv4(payload),
        ETH_IPV6 => ipv6(payload),
        _ => None,
    }
}

fn ipv4(b: &[u8]) -> Option<Line> {
    if b.len() < 20 || b[0] >> 4 != 4 {
        return None;
    }
    let header = usize::from(b[0] & 0x0f) * 4;
    let total = usize::from(be16(b, 2));
    if header < 20 || b.len() < header || total < header {
        return None;
    }
    // A fragment's payload is not a whole VRRP packet.
    if be16(b, 6) & 0x3fff != 0 {
        return None;
    }
    // Ethernet padding lies past Total Length; a short capture ends before it.
    let payload = &b[header..total.min(b.len())];
    let src = IpAddr::V4(Ipv4Addr::new(b[12], b[13], b[14], b[15]));
    let dst = IpAddr::V4(Ipv4Addr::new(b[16], b[17], b[18], b[19]));
    let ttl = b[8];
    match b[9] {
        vrrp::PROTOCOL => Some(advert(Family::V4, payload, src, dst, ttl)),
        IPPROTO_AH => {
            // RFC 2402 AH: next header, payload length in 32-bit words
            // minus 2; keepalived's AH carries VRRPv2.
            if payload.len() < 12 || payload[0] != vrrp::PROTOCOL {
                return None;
            }
            let ah_len = (usize::from(payload[1]) + 2) * 4;
            let vrrp = payload.get(ah_len..)?;
            Some(advert(Family::V4, vrrp, src, dst, ttl))
        }
        _ => None,
    }
}

fn ipv6(b: &[u8]) -> Option<Line> {
    if b.len() < 40 || b[0] >> 4 != 6 {
        return None;
    }
    let end = (40 + usize::from(be16(b, 4))).min(b.len());
    let mut next = b[6];
    let mut rest = &b[40..end];
    let hop_limit = b[7];
    let src: [u8; 16] = b[8..24].try_into().ok()?;
    let dst: [u8; 16] = b[24..40].try_into().ok()?;
    let (src, dst) = (Ipv6Addr::from(src), Ipv6Addr::from(dst));
    // Hop-by-Hop, Routing and Destination Options; stop at a fragment.
    while matches!(next, 0 | 43 | 60) {
        if rest.len() < 8 {
            return None;
        }
        let len = (usize::from(rest[1]) + 1) * 8;
        next = rest[0];
        rest = rest.get(len..)?;
    }
    match next {
        vrrp::PROTOCOL => Some(advert(Family::V6, rest, IpAddr::V6(src), IpAddr::V6(dst), hop_limit)),
        ndisc::ICMPV6 => {
            if rest.first() != Some(&ndisc::NEIGHBOR_ADVERT) {
                return None;
            }
            let packet = ndisc::Packet::new_checked(rest).ok()?;
            let repr = ndisc::Repr::parse(&packet, src, dst).ok()?;
            (!repr.solicited).then_some(Line::Una { target: repr.target_addr, mac: repr.target_lla })
        }
        _ => None,
    }
}

fn advert(family: Family, payload: &[u8], src: IpAddr, dst: IpAddr, ttl: u8) -> Line {
    let header = AdvertHeader::read(payload);
    let packet = match vrrp::Packet::new_checked(payload, family) {
        Ok(p) => p,
        Err(error) => return Line::AdvertError { header, error },
    };
    match vrrp::Repr::parse(&packet, src, dst) {
        Ok(repr) => Line::Advert {
            header,
            auth_type: repr.auth_type,
            password: repr.password().map(<[u8]>::to_vec),
            src,
            dst,
            ttl,
            addrs: repr.addrs.iter().collect(),
        },
        Err(error) => Line::AdvertError { header, error },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4_frame(vrrp: &[u8], ttl: u8) -> Vec<u8> {
        let mut f = vec![0x01, 0x00, 0x5e, 0, 0, 0x12, 0x02, 0, 0xc0, 0, 2, 0x0b, 0x08, 0x00];
        let ip = super::super::ipv4::Repr {
            src_addr: Ipv4Addr::new(192, 0, 2, 11),
            dst_addr: vrrp::MCAST_V4,
            protocol: 112,
            payload_len: vrrp.len(),
            ttl,
            tos: 0xc0,
            ident: 1,
        };
        let mut hdr = [0u8; 20];
        ip.emit(&mut hdr).unwrap();
        f.extend_from_slice(&hdr);
        f.extend_from_slice(vrrp);
        f
    }

    #[test]
    fn advert_line() {
        let v2 = [
            0x21, 0x34, 0x96, 0x01, 0x01, 0x01, 0x23, 0x02, 0xc0, 0x00, 0x02, 0x64, b'1', b'1', b'1', b'1', 0, 0, 0, 0,
        ];
        let mut frame = v4_frame(&v2, 255);
        frame.extend_from_slice(&[0u8; 6]); // Ethernet padding
        let line = inspect(LinkType::Ethernet, &frame).unwrap();
        assert_eq!(
            line.to_string(),
            "v2 advert vrid=52 prio=150 count=1 int=1s csum=ok auth=pass pass=1111 src=192.0.2.11 dst=224.0.0.18 ttl=255 addrs=192.0.2.100"
        );
    }

    #[test]
    fn error_lines_keep_readable_fields() {
        let v3 = [0x31, 0x36, 0x96, 0x05, 0x00, 0x64, 0xd3, 0x64, 0xc0, 0x00, 0x02, 0x64];
        let line = inspect(LinkType::Ethernet, &v4_frame(&v3, 255)).unwrap();
        assert_eq!(
            line.to_string(),
            "v3 advert vrid=54 prio=150 count=5 int=100cs error=address count 5 needs a 28-byte packet, got 12 bytes"
        );
        let line = inspect(LinkType::Ethernet, &v4_frame(&v3[..3], 255)).unwrap();
        assert_eq!(line.to_string(), "v3 advert vrid=54 prio=150 error=VRRP packet truncated: need 8 bytes, got 3");
        let line = inspect(LinkType::Ethernet, &v4_frame(&[], 255)).unwrap();
        assert_eq!(line.to_string(), "v? advert error=VRRP packet truncated: need 8 bytes, got 0");
    }

    #[test]
    fn silent_frames() {
        assert_eq!(inspect(LinkType::Ethernet, &[]), None);
        assert_eq!(inspect(LinkType::Unknown(147), &[0u8; 64]), None);
        // A fragment.
        let v3 = [0x31, 0x36, 0x96, 0x01, 0x00, 0x64, 0xd3, 0x64, 0xc0, 0x00, 0x02, 0x64];
        let mut frame = v4_frame(&v3, 255);
        frame[14 + 6] = 0x20;
        assert_eq!(inspect(LinkType::Ethernet, &frame), None);
    }
}
