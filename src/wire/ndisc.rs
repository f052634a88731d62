//! Neighbour Advertisements (RFC 4861 section 4.4), and the unsolicited one
//! a new VRRP master sends for each IPv6 VIP.
//!
//! keepalived's unsolicited NA (`vrrp_ndisc.c`, seen in the corpus): from the
//! VIP itself to `ff02::1`, hop limit 255, traffic class 0; flags R (only
//! when the interface forwards IPv6), S clear, O set; target the VIP; one
//! Target Link-Layer Address option with the interface MAC; sent as a whole
//! Ethernet frame to `33:33:00:00:00:01` (86 bytes).

use std::net::{IpAddr, Ipv6Addr};

use super::ethernet::{self, EtherType, EthernetAddress};
use super::{be16, checksum, ipv6, put_be16};

/// ICMPv6 next-header value.
pub const ICMPV6: u8 = 58;
/// ICMPv6 type of a Neighbour Advertisement.
pub const NEIGHBOR_ADVERT: u8 = 136;
/// Option type of the Target Link-Layer Address.
pub const OPT_TARGET_LLA: u8 = 2;
/// Length of the NA without options.
pub const HEADER_LEN: usize = 24;
/// Length of an NA carrying one Ethernet TLLA option.
pub const NA_WITH_LLA_LEN: usize = HEADER_LEN + 8;
/// The all-nodes group unsolicited NAs go to.
pub const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
/// Length of keepalived's unsolicited NA frame.
pub const UNSOLICITED_FRAME_LEN: usize = ethernet::HEADER_LEN + ipv6::HEADER_LEN + NA_WITH_LLA_LEN;

const FLAG_ROUTER: u8 = 0x80;
const FLAG_SOLICITED: u8 = 0x40;
const FLAG_OVERRIDE: u8 = 0x20;

/// A Neighbour Advertisement decode or encode failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Shorter than the 24-byte message.
    #[error("neighbour advertisement truncated: need {need} bytes, got {got}")]
    Truncated {
        /// Bytes needed.
        need: usize,
        /// Bytes present.
        got: usize,
    },
    /// Another ICMPv6 message, or a non-zero code.
    #[error("ICMPv6 type {msg_type} code {code} is not a neighbour advertisement")]
    NotNeighborAdvert {
        /// ICMPv6 type.
        msg_type: u8,
        /// ICMPv6 code.
        code: u8,
    },
    /// An option of length 0 or one that runs past the message (RFC 4861
    /// section 4.6: such packets are discarded).
    #[error("bad neighbour discovery option at offset {offset}: length {len} x 8 bytes, {left} bytes left")]
    BadOption {
        /// Offset of the option in the message.
        offset: usize,
        /// Its length field.
        len: u8,
        /// Bytes left from that offset.
        left: usize,
    },
    /// The ICMPv6 checksum does not verify.
    #[error("bad ICMPv6 checksum {got:#06x}, expected {expected:#06x}")]
    BadChecksum {
        /// The Checksum field.
        got: u16,
        /// The value the field should hold.
        expected: u16,
    },
}

/// A checked view of an ICMPv6 message at least as long as an NA.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checking it; getters may then panic.
    pub const fn new_unchecked(buffer: T) -> Self {
        Packet { buffer }
    }

    /// Wraps a buffer of at least 24 bytes.
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let got = buffer.as_ref().len();
        if got < HEADER_LEN {
            return Err(Error::Truncated { need: HEADER_LEN, got });
        }
        Ok(Packet { buffer })
    }

    /// ICMPv6 type.
    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[0]
    }

    /// ICMPv6 code.
    pub fn code(&self) -> u8 {
        self.buffer.as_ref()[1]
    }

    /// Checksum field.
    pub fn checksum(&self) -> u16 {
        be16(self.buffer.as_ref(), 2)
    }

    /// The Router flag.
    pub fn router_flag(&self) -> bool {
        self.buffer.as_ref()[4] & FLAG_ROUTER != 0
    }

    /// The Solicited flag.
    pub fn solicited_flag(&self) -> bool {
        self.buffer.as_ref()[4] & FLAG_SOLICITED != 0
    }

    /// The Override flag.
    pub fn override_flag(&self) -> bool {
        self.buffer.as_ref()[4] & FLAG_OVERRIDE != 0
    }

    /// Target Address.
    pub fn target_addr(&self) -> Ipv6Addr {
        let b: [u8; 16] = self.buffer.as_ref()[8..24].try_into().unwrap_or([0; 16]);
        Ipv6Addr::from(b)
    }

    /// The option bytes.
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..]
    }

    /// Whether the checksum verifies with the IPv6 pseudo-header.
    pub fn verify_checksum(&self, src: Ipv6Addr, dst: Ipv6Addr) -> bool {
        let buf = self.buffer.as_ref();
        checksum::combine(&[checksum::pseudo_header_v6(src, dst, ICMPV6, buf.len() as u32), checksum::data(buf)])
            == 0xffff
    }

    /// The value the checksum field should hold.
    pub fn compute_checksum(&self, src: Ipv6Addr, dst: Ipv6Addr) -> u16 {
        let buf = self.buffer.as_ref();
        !checksum::combine(&[
            checksum::pseudo_header_v6(src, dst, ICMPV6, buf.len() as u32),
            checksum::data(&buf[..2]),
            checksum::data(&buf[4..]),
        ])
    }
}

/// The meaning of a Neighbour Advertisement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    /// R: the sender is a router.
    pub router: bool,
    /// S: sent in response to a solicitation.
    pub solicited: bool,
    /// O: override an existing cache entry.
    pub override_: bool,
    /// Target Address.
    pub target_addr: Ipv6Addr,
    /// The Target Link-Layer Address option, if present (the first one,
    /// when its length is one 8-byte unit, as for Ethernet).
    pub target_lla: Option<EthernetAddress>,
}

impl Repr {
    /// Parses a checked packet after verifying the checksum against the
    /// IPv6 pseudo-header of `src` and `dst`. Options other than the TLLA
    /// are skipped.
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>, src: Ipv6Addr, dst: Ipv6Addr) -> Result<Self, Error> {
        if packet.msg_type() != NEIGHBOR_ADVERT || packet.code() != 0 {
            return Err(Error::NotNeighborAdvert { msg_type: packet.msg_type(), code: packet.code() });
        }
        let mut target_lla = None;
        let opts = packet.options();
        let mut at = 0;
        while at < opts.len() {
            let left = opts.len() - at;
            let len = if left >= 2 { opts[at + 1] } else { 0 };
            let bytes = usize::from(len) * 8;
            if left < 2 || len == 0 || bytes > left {
                return Err(Error::BadOption { offset: HEADER_LEN + at, len, left });
            }
            if opts[at] == OPT_TARGET_LLA && len == 1 && target_lla.is_none() {
                let mut m = [0u8; 6];
                m.copy_from_slice(&opts[at + 2..at + 8]);
                target_lla = Some(EthernetAddress(m));
            }
            at += bytes;
        }
        if !packet.verify_checksum(src, dst) {
            return Err(Error::BadChecksum { got: packet.checksum(), expected: packet.compute_checksum(src, dst) });
        }
        Ok(Repr {
            router: packet.router_flag(),
            solicited: packet.solicited_flag(),
            override_: packet.override_flag(),
            target_addr: packet.target_addr(),
            target_lla,
        })
    }

    /// The unsolicited NA keepalived sends for `target` from `mac`.
    pub const fn unsolicited(target: Ipv6Addr, mac: EthernetAddress, router: bool) -> Self {
        Repr { router, solicited: false, override_: true, target_addr: target, target_lla: Some(mac) }
    }

    /// The message length.
    pub const fn buffer_len(&self) -> usize {
        if self.target_lla.is_some() { NA_WITH_LLA_LEN } else { HEADER_LEN }
    }

    /// Writes the message, checksum included (pseudo-header `src`, `dst`),
    /// into the start of `buf`.
    pub fn emit(&self, buf: &mut [u8], src: Ipv6Addr, dst: Ipv6Addr) -> Result<usize, Error> {
        let need = self.buffer_len();
        if buf.len() < need {
            return Err(Error::Truncated { need, got: buf.len() });
        }
        let b = &mut buf[..need];
        b[0] = NEIGHBOR_ADVERT;
        b[1] = 0;
        put_be16(b, 2, 0);
        b[4] = (if self.router { FLAG_ROUTER } else { 0 })
            | (if self.solicited { FLAG_SOLICITED } else { 0 })
            | (if self.override_ { FLAG_OVERRIDE } else { 0 });
        b[5..8].fill(0);
        b[8..24].copy_from_slice(&self.target_addr.octets());
        if let Some(mac) = self.target_lla {
            b[24] = OPT_TARGET_LLA;
            b[25] = 1;
            b[26..32].copy_from_slice(&mac.0);
        }
        let sum = Packet::new_unchecked(&*b).compute_checksum(src, dst);
        put_be16(b, 2, sum);
        Ok(need)
    }
}

/// Writes keepalived's 86-byte unsolicited NA frame for `target` from `mac`
/// into the start of `buf`, ready for a packet socket. `router` is the R
/// flag (keepalived sets it when the interface forwards IPv6).
pub fn unsolicited_na_frame(
    mac: EthernetAddress,
    target: Ipv6Addr,
    router: bool,
    buf: &mut [u8],
) -> Result<usize, Error> {
    let got = buf.len();
    if got < UNSOLICITED_FRAME_LEN {
        return Err(Error::Truncated { need: UNSOLICITED_FRAME_LEN, got });
    }
    let truncated = |_| Error::Truncated { need: UNSOLICITED_FRAME_LEN, got };
    let eth = ethernet::Repr {
        src_addr: mac,
        dst_addr: EthernetAddress::ipv6_multicast(ALL_NODES),
        ethertype: EtherType::Ipv6,
    };
    let mut at = eth.emit(buf).map_err(truncated)?;
    let ip = ipv6::Repr {
        src_addr: target,
        dst_addr: ALL_NODES,
        next_header: ICMPV6,
        payload_len: NA_WITH_LLA_LEN,
        hop_limit: 255,
        traffic_class: 0,
        flow_label: 0,
    };
    at += ip.emit(&mut buf[at..]).map_err(|_| Error::Truncated { need: UNSOLICITED_FRAME_LEN, got })?;
    at += Repr::unsolicited(target, mac, router).emit(&mut buf[at..], target, ALL_NODES)?;
    Ok(at)
}

/// Whether an address is one an unsolicited NA may be sent for (not
/// multicast, not unspecified).
pub fn is_valid_target(addr: IpAddr) -> bool {
    matches!(addr, IpAddr::V6(a) if !a.is_multicast() && !a.is_unspecified())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Frame 2 of the corpus's `una-ipv6-become-master.pcap`.
    const UNA: [u8; 86] = [
        0x33, 0x33, 0x00, 0x00, 0x00, 0x01, 0x02, 0x00, 0xc0, 0x00, 0x02, 0x0b, 0x86, 0xdd, 0x60, 0x00, 0x00, 0x00,
        0x00, 0x20, 0x3a, 0xff, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x01, 0x00, 0xff, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
        0x88, 0x00, 0x35, 0x22, 0x20, 0x00, 0x00, 0x00, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x02, 0x01, 0x02, 0x00, 0xc0, 0x00, 0x02, 0x0b,
    ];
    const MAC: EthernetAddress = EthernetAddress([0x02, 0x00, 0xc0, 0x00, 0x02, 0x0b]);

    fn vip() -> Ipv6Addr {
        "2001:db8::100".parse().unwrap()
    }

    #[test]
    fn builds_keepalived_frame() {
        let mut buf = [0xa5u8; 100];
        assert_eq!(unsolicited_na_frame(MAC, vip(), false, &mut buf), Ok(86));
        assert_eq!(buf[..86], UNA);
        assert!(buf[86..].iter().all(|&b| b == 0xa5));
    }

    #[test]
    fn parses_corpus_na() {
        let p = Packet::new_checked(&UNA[54..]).unwrap();
        let r = Repr::parse(&p, vip(), ALL_NODES).unwrap();
        assert_eq!(r, Repr::unsolicited(vip(), MAC, false));
        let other: Ipv6Addr = "2001:db8::1".parse().unwrap();
        assert!(matches!(Repr::parse(&p, other, ALL_NODES), Err(Error::BadChecksum { got: 0x3522, .. })));
    }

    #[test]
    fn bad_options_and_types() {
        let mut b = UNA[54..].to_vec();
        b[25] = 0;
        assert_eq!(
            Repr::parse(&Packet::new_checked(&b[..]).unwrap(), vip(), ALL_NODES),
            Err(Error::BadOption { offset: 24, len: 0, left: 8 })
        );
        b[25] = 2;
        assert!(matches!(
            Repr::parse(&Packet::new_checked(&b[..]).unwrap(), vip(), ALL_NODES),
            Err(Error::BadOption { .. })
        ));
        b[0] = 135;
        assert_eq!(
            Repr::parse(&Packet::new_checked(&b[..]).unwrap(), vip(), ALL_NODES),
            Err(Error::NotNeighborAdvert { msg_type: 135, code: 0 })
        );
        assert_eq!(Packet::new_checked(&b[..23]).unwrap_err(), Error::Truncated { need: 24, got: 23 });
    }
}
