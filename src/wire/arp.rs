//! ARP for Ethernet and IPv4 (RFC 826), and the gratuitous ARP a new VRRP
//! master broadcasts for each IPv4 VIP.
//!
//! keepalived's gratuitous ARP (`vrrp_arp.c`, seen in the corpus): an ARP
//! **request** whose sender and target protocol addresses are both the VIP,
//! sender hardware address the interface MAC, target hardware address
//! `ff:ff:ff:ff:ff:ff`, in an Ethernet broadcast frame of 42 bytes (no
//! padding on the sending side).

use std::net::Ipv4Addr;

use super::ethernet::{self, EtherType, EthernetAddress};
use super::{be16, put_be16};

/// Length of an Ethernet/IPv4 ARP packet.
pub const PACKET_LEN: usize = 28;
/// Length of a gratuitous ARP frame: Ethernet header and ARP packet.
pub const GRATUITOUS_FRAME_LEN: usize = ethernet::HEADER_LEN + PACKET_LEN;

/// Hardware type of Ethernet.
pub const HTYPE_ETHERNET: u16 = 1;
/// Protocol type of IPv4.
pub const PTYPE_IPV4: u16 = 0x0800;

/// The ARP operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    /// 1, request.
    Request,
    /// 2, reply.
    Reply,
    /// Any other value.
    Unknown(u16),
}

impl From<u16> for Operation {
    fn from(v: u16) -> Self {
        match v {
            1 => Operation::Request,
            2 => Operation::Reply,
            other => Operation::Unknown(other),
        }
    }
}

impl From<Operation> for u16 {
    fn from(v: Operation) -> Self {
        match v {
            Operation::Request => 1,
            Operation::Reply => 2,
            Operation::Unknown(other) => other,
        }
    }
}

/// An ARP decode or encode failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The buffer is shorter than the header or than the addresses its
    /// length fields announce.
    #[error("ARP packet truncated: need {need} bytes, got {got}")]
    Truncated {
        /// Bytes needed.
        need: usize,
        /// Bytes present.
        got: usize,
    },
    /// Not Ethernet/IPv4 ARP (hardware type 1 with 6-byte addresses,
    /// protocol 0x0800 with 4-byte addresses).
    #[error("unsupported ARP: hardware type {htype}/{hlen} bytes, protocol {ptype:#06x}/{plen} bytes")]
    Unsupported {
        /// Hardware type.
        htype: u16,
        /// Protocol type.
        ptype: u16,
        /// Hardware address length.
        hlen: u8,
        /// Protocol address length.
        plen: u8,
    },
}

/// A checked view of an ARP packet.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checking it; getters may then panic.
    pub const fn new_unchecked(buffer: T) -> Self {
        Packet { buffer }
    }

    /// Wraps a buffer long enough for the header and the four addresses
    /// its length fields announce (trailing padding is allowed).
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let buf = buffer.as_ref();
        if buf.len() < 8 {
            return Err(Error::Truncated { need: 8, got: buf.len() });
        }
        let need = 8 + 2 * (usize::from(buf[4]) + usize::from(buf[5]));
        if buf.len() < need {
            return Err(Error::Truncated { need, got: buf.len() });
        }
        Ok(Packet { buffer })
    }

    /// Hardware type.
    pub fn hardware_type(&self) -> u16 {
        be16(self.buffer.as_ref(), 0)
    }

    /// Protocol type.
    pub fn protocol_type(&self) -> u16 {
        be16(self.buffer.as_ref(), 2)
    }

    /// Hardware address length.
    pub fn hardware_len(&self) -> u8 {
        self.buffer.as_ref()[4]
    }

    /// Protocol address length.
    pub fn protocol_len(&self) -> u8 {
        self.buffer.as_ref()[5]
    }

    /// Operation.
    pub fn operation(&self) -> Operation {
        be16(self.buffer.as_ref(), 6).into()
    }

    fn field(&self, index: usize) -> &[u8] {
        let b = self.buffer.as_ref();
        let (h, p) = (usize::from(b[4]), usize::from(b[5]));
        let (start, len) = match index {
            0 => (8, h),
            1 => (8 + h, p),
            2 => (8 + h + p, h),
            _ => (8 + 2 * h + p, p),
        };
        &b[start..start + len]
    }

    /// Sender hardware address bytes.
    pub fn sender_hardware_addr(&self) -> &[u8] {
        self.field(0)
    }

    /// Sender protocol address bytes.
    pub fn sender_protocol_addr(&self) -> &[u8] {
        self.field(1)
    }

    /// Target hardware address bytes.
    pub fn target_hardware_addr(&self) -> &[u8] {
        self.field(2)
    }

    /// Target protocol address bytes.
    pub fn target_protocol_addr(&self) -> &[u8] {
        self.field(3)
    }
}

/// The meaning of an Ethernet/IPv4 ARP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    /// Operation.
    pub operation: Operation,
    /// Sender hardware address.
    pub sender_hardware_addr: EthernetAddress,
    /// Sender protocol address.
    pub sender_protocol_addr: Ipv4Addr,
    /// Target hardware address.
    pub target_hardware_addr: EthernetAddress,
    /// Target protocol address.
    pub target_protocol_addr: Ipv4Addr,
}

fn mac(b: &[u8]) -> EthernetAddress {
    let mut m = [0u8; 6];
    m.copy_from_slice(&b[..6]);
    EthernetAddress(m)
}

fn ip(b: &[u8]) -> Ipv4Addr {
    Ipv4Addr::new(b[0], b[1], b[2], b[3])
}

impl Repr {
    /// Parses a checked packet; only Ethernet/IPv4 ARP is understood.
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Self, Error> {
        let (htype, ptype, hlen, plen) =
            (packet.hardware_type(), packet.protocol_type(), packet.hardware_len(), packet.protocol_len());
        if htype != HTYPE_ETHERNET || ptype != PTYPE_IPV4 || hlen != 6 || plen != 4 {
            return Err(Error::Unsupported { htype, ptype, hlen, plen });
        }
        Ok(Repr {
            operation: packet.operation(),
            sender_hardware_addr: mac(packet.sender_hardware_addr()),
            sender_protocol_addr: ip(packet.sender_protocol_addr()),
            target_hardware_addr: mac(packet.target_hardware_addr()),
            target_protocol_addr: ip(packet.target_protocol_addr()),
        })
    }

    /// The gratuitous ARP keepalived sends for `addr` from `mac`.
    pub const fn gratuitous(mac: EthernetAddress, addr: Ipv4Addr) -> Self {
        Repr {
            operation: Operation::Request,
            sender_hardware_addr: mac,
            sender_protocol_addr: addr,
            target_hardware_addr: EthernetAddress::BROADCAST,
            target_protocol_addr: addr,
        }
    }

    /// Whether this announces the sender's own binding (RFC 5227 section
    /// 3): a request or reply whose sender and target protocol addresses
    /// are the same, non-zero address. Probes (sender 0.0.0.0) are not.
    pub fn is_gratuitous(&self) -> bool {
        matches!(self.operation, Operation::Request | Operation::Reply)
            && self.sender_protocol_addr == self.target_protocol_addr
            && !self.sender_protocol_addr.is_unspecified()
    }

    /// The packet length, 28.
    pub const fn buffer_len(&self) -> usize {
        PACKET_LEN
    }

    /// Writes the packet into the start of `buf`.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, Error> {
        if buf.len() < PACKET_LEN {
            return Err(Error::Truncated { need: PACKET_LEN, got: buf.len() });
        }
        let b = &mut buf[..PACKET_LEN];
        put_be16(b, 0, HTYPE_ETHERNET);
        put_be16(b, 2, PTYPE_IPV4);
        b[4] = 6;
        b[5] = 4;
        put_be16(b, 6, self.operation.into());
        b[8..14].copy_from_slice(&self.sender_hardware_addr.0);
        b[14..18].copy_from_slice(&self.sender_protocol_addr.octets());
        b[18..24].copy_from_slice(&self.target_hardware_addr.0);
        b[24..28].copy_from_slice(&self.target_protocol_addr.octets());
        Ok(PACKET_LEN)
    }
}

/// Writes keepalived's 42-byte gratuitous ARP frame for `addr` from `mac`
/// (Ethernet broadcast) into the start of `buf`, ready for a packet socket.
pub fn gratuitous_frame(mac: EthernetAddress, addr: Ipv4Addr, buf: &mut [u8]) -> Result<usize, Error> {
    if buf.len() < GRATUITOUS_FRAME_LEN {
        return Err(Error::Truncated { need: GRATUITOUS_FRAME_LEN, got: buf.len() });
    }
    let eth = ethernet::Repr { src_addr: mac, dst_addr: EthernetAddress::BROADCAST, ethertype: EtherType::Arp };
    let n = eth.emit(buf).map_err(|_| Error::Truncated { need: GRATUITOUS_FRAME_LEN, got: buf.len() })?;
    Repr::gratuitous(mac, addr).emit(&mut buf[n..])?;
    Ok(GRATUITOUS_FRAME_LEN)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Frame 2 of the corpus's `garp-ipv4-become-master.pcap`.
    const GARP: [u8; 42] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0x00, 0xc0, 0x00, 0x02, 0x0b, 0x08, 0x06, 0x00, 0x01, 0x08, 0x00,
        0x06, 0x04, 0x00, 0x01, 0x02, 0x00, 0xc0, 0x00, 0x02, 0x0b, 0xc0, 0x00, 0x02, 0x64, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xc0, 0x00, 0x02, 0x64,
    ];

    #[test]
    fn builds_keepalived_frame() {
        let mut buf = [0xa5u8; 64];
        let mac = EthernetAddress([0x02, 0x00, 0xc0, 0x00, 0x02, 0x0b]);
        assert_eq!(gratuitous_frame(mac, Ipv4Addr::new(192, 0, 2, 100), &mut buf), Ok(42));
        assert_eq!(buf[..42], GARP);
        assert!(buf[42..].iter().all(|&b| b == 0xa5));
        assert_eq!(
            gratuitous_frame(mac, Ipv4Addr::new(192, 0, 2, 100), &mut buf[..41]),
            Err(Error::Truncated { need: 42, got: 41 })
        );
    }

    #[test]
    fn parses_and_classifies() {
        let p = Packet::new_checked(&GARP[14..]).unwrap();
        let r = Repr::parse(&p).unwrap();
        assert!(r.is_gratuitous());
        assert_eq!(
            r,
            Repr::gratuitous(EthernetAddress([0x02, 0x00, 0xc0, 0x00, 0x02, 0x0b]), Ipv4Addr::new(192, 0, 2, 100))
        );
        let mut probe = r;
        probe.sender_protocol_addr = Ipv4Addr::UNSPECIFIED;
        assert!(!probe.is_gratuitous());
        let mut who_has = r;
        who_has.sender_protocol_addr = Ipv4Addr::new(192, 0, 2, 11);
        assert!(!who_has.is_gratuitous());
    }

    #[test]
    fn other_hardware_is_unsupported() {
        let mut b = GARP[14..].to_vec();
        b[1] = 32; // InfiniBand
        let p = Packet::new_checked(&b[..]).unwrap();
        assert!(matches!(Repr::parse(&p), Err(Error::Unsupported { htype: 32, .. })));
        b[4] = 20;
        assert_eq!(Packet::new_checked(&b[..]).unwrap_err(), Error::Truncated { need: 56, got: 28 });
    }
}
