//! Ethernet II framing: the 14-byte header that carries a gratuitous ARP or
//! an unsolicited Neighbour Advertisement on the wire, and that captures of
//! VRRP traffic start with.

use std::fmt;
use std::str::FromStr;

use super::{be16, put_be16};

/// A 48-bit Ethernet (MAC) address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct EthernetAddress(pub [u8; 6]);

impl EthernetAddress {
    /// `ff:ff:ff:ff:ff:ff`.
    pub const BROADCAST: Self = EthernetAddress([0xff; 6]);

    /// The multicast MAC of an IPv6 multicast group (RFC 2464 section 7:
    /// `33:33` followed by the group's last 32 bits).
    pub const fn ipv6_multicast(group: std::net::Ipv6Addr) -> Self {
        let o = group.octets();
        EthernetAddress([0x33, 0x33, o[12], o[13], o[14], o[15]])
    }

    /// The multicast MAC of an IPv4 multicast group (RFC 1112 section 6.4:
    /// `01:00:5e` followed by the group's low 23 bits).
    pub const fn ipv4_multicast(group: std::net::Ipv4Addr) -> Self {
        let o = group.octets();
        EthernetAddress([0x01, 0x00, 0x5e, o[1] & 0x7f, o[2], o[3]])
    }

    /// The VRRP virtual router MAC of a VRID: `00:00:5e:00:01:VRID` for
    /// IPv4 and `00:00:5e:00:02:VRID` for IPv6 (RFC 5798 section 7.3).
    pub const fn vrrp_virtual(vrid: u8, ipv6: bool) -> Self {
        EthernetAddress([0x00, 0x00, 0x5e, 0x00, if ipv6 { 0x02 } else { 0x01 }, vrid])
    }

    /// Whether the group bit is set.
    pub const fn is_multicast(&self) -> bool {
        self.0[0] & 1 == 1
    }
}

impl fmt::Display for EthernetAddress {
    /// Lower-case, colon-separated, as `ip link` and tshark print it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(f, "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", b[0], b[1], b[2], b[3], b[4], b[5])
    }
}

/// A string that is not a MAC address in `aa:bb:cc:dd:ee:ff` form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid MAC address {0:?}: expected six hex bytes separated by ':'")]
pub struct ParseMacError(pub String);

impl FromStr for EthernetAddress {
    type Err = ParseMacError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut out = [0u8; 6];
        let mut parts = s.split([':', '-']);
        for byte in &mut out {
            let part = parts.next().ok_or_else(|| ParseMacError(s.to_owned()))?;
            if part.is_empty() || part.len() > 2 {
                return Err(ParseMacError(s.to_owned()));
            }
            *byte = u8::from_str_radix(part, 16).map_err(|_| ParseMacError(s.to_owned()))?;
        }
        if parts.next().is_some() {
            return Err(ParseMacError(s.to_owned()));
        }
        Ok(EthernetAddress(out))
    }
}

/// The EtherType of a frame's payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EtherType {
    /// IPv4, `0x0800`.
    Ipv4,
    /// ARP, `0x0806`.
    Arp,
    /// An IEEE 802.1Q VLAN tag, `0x8100`.
    Vlan,
    /// IPv6, `0x86dd`.
    Ipv6,
    /// Any other value.
    Unknown(u16),
}

impl From<u16> for EtherType {
    fn from(v: u16) -> Self {
        match v {
            0x0800 => EtherType::Ipv4,
            0x0806 => EtherType::Arp,
            0x8100 => EtherType::Vlan,
            0x86dd => EtherType::Ipv6,
            other => EtherType::Unknown(other),
        }
    }
}

impl From<EtherType> for u16 {
    fn from(v: EtherType) -> Self {
        match v {
            EtherType::Ipv4 => 0x0800,
            EtherType::Arp => 0x0806,
            EtherType::Vlan => 0x8100,
            EtherType::Ipv6 => 0x86dd,
            EtherType::Unknown(other) => other,
        }
    }
}

/// An Ethernet decode or encode failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The buffer is shorter than the 14-byte header.
    #[error("Ethernet frame truncated: need {need} bytes, got {got}")]
    Truncated {
        /// Bytes needed.
        need: usize,
        /// Bytes present.
        got: usize,
    },
}

/// Length of the Ethernet II header.
pub const HEADER_LEN: usize = 14;

/// A checked view of an Ethernet II frame.
#[derive(Debug, Clone)]
pub struct Frame<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Frame<T> {
    /// Wraps a buffer without checking it; getters may then panic.
    pub const fn new_unchecked(buffer: T) -> Self {
        Frame { buffer }
    }

    /// Wraps a buffer of at least 14 bytes.
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let got = buffer.as_ref().len();
        if got < HEADER_LEN {
            return Err(Error::Truncated { need: HEADER_LEN, got });
        }
        Ok(Frame { buffer })
    }

    /// The underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Destination address.
    pub fn dst_addr(&self) -> EthernetAddress {
        let b = self.buffer.as_ref();
        EthernetAddress([b[0], b[1], b[2], b[3], b[4], b[5]])
    }

    /// Source address.
    pub fn src_addr(&self) -> EthernetAddress {
        let b = self.buffer.as_ref();
        EthernetAddress([b[6], b[7], b[8], b[9], b[10], b[11]])
    }

    /// The EtherType field.
    pub fn ethertype(&self) -> EtherType {
        be16(self.buffer.as_ref(), 12).into()
    }

    /// Everything after the header (including any padding).
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Frame<T> {
    /// Sets the destination address.
    pub fn set_dst_addr(&mut self, addr: EthernetAddress) {
        self.buffer.as_mut()[0..6].copy_from_slice(&addr.0);
    }

    /// Sets the source address.
    pub fn set_src_addr(&mut self, addr: EthernetAddress) {
        self.buffer.as_mut()[6..12].copy_from_slice(&addr.0);
    }

    /// Sets the EtherType.
    pub fn set_ethertype(&mut self, ethertype: EtherType) {
        put_be16(self.buffer.as_mut(), 12, ethertype.into());
    }

    /// The payload, writable.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[HEADER_LEN..]
    }
}

/// The meaning of an Ethernet II header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    /// Source address.
    pub src_addr: EthernetAddress,
    /// Destination address.
    pub dst_addr: EthernetAddress,
    /// EtherType of the payload.
    pub ethertype: EtherType,
}

impl Repr {
    /// Reads the header of a checked frame.
    pub fn parse<T: AsRef<[u8]>>(frame: &Frame<T>) -> Self {
        Repr { src_addr: frame.src_addr(), dst_addr: frame.dst_addr(), ethertype: frame.ethertype() }
    }

    /// The header length, 14.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the header into the first 14 bytes of `buf`.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, Error> {
        if buf.len() < HEADER_LEN {
            return Err(Error::Truncated { need: HEADER_LEN, got: buf.len() });
        }
        let mut frame = Frame::new_unchecked(buf);
        frame.set_dst_addr(self.dst_addr);
        frame.set_src_addr(self.src_addr);
        frame.set_ethertype(self.ethertype);
        Ok(HEADER_LEN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    #[test]
    fn mac_display_and_parse() {
        let mac: EthernetAddress = "02:00:c0:00:02:0B".parse().unwrap();
        assert_eq!(mac.to_string(), "02:00:c0:00:02:0b");
        assert!("02:00:c0:00:02".parse::<EthernetAddress>().is_err());
        assert!("02:00:c0:00:02:0b:01".parse::<EthernetAddress>().is_err());
        assert!("02:00:c0:00:02:zz".parse::<EthernetAddress>().is_err());
    }

    #[test]
    fn multicast_macs() {
        assert_eq!(EthernetAddress::ipv4_multicast(Ipv4Addr::new(224, 0, 0, 18)).to_string(), "01:00:5e:00:00:12");
        assert_eq!(
            EthernetAddress::ipv6_multicast("ff02::12".parse::<Ipv6Addr>().unwrap()).to_string(),
            "33:33:00:00:00:12"
        );
        assert_eq!(EthernetAddress::vrrp_virtual(51, false).to_string(), "00:00:5e:00:01:33");
    }

    #[test]
    fn truncated_frame() {
        assert_eq!(Frame::new_checked(&[0u8; 13][..]).unwrap_err(), Error::Truncated { need: 14, got: 13 });
    }
}
