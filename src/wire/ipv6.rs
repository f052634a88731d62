//! The IPv6 header (RFC 8200): enough to decode a captured VRRPv3 advert or
//! Neighbour Advertisement, and to build the header of the unsolicited NA
//! keepalived sends through a packet socket.

use std::net::Ipv6Addr;

use super::{be16, put_be16};

/// Length of the fixed header.
pub const HEADER_LEN: usize = 40;

/// An IPv6 decode or encode failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The buffer ends before the header or before the payload length.
    #[error("IPv6 packet truncated: need {need} bytes, got {got}")]
    Truncated {
        /// Bytes needed.
        need: usize,
        /// Bytes present.
        got: usize,
    },
    /// The version field is not 6.
    #[error("bad IPv6 version {0}")]
    BadVersion(u8),
    /// An extension header runs past the payload.
    #[error("IPv6 extension header {next_header} truncated")]
    BadExtensionHeader {
        /// The extension header's type.
        next_header: u8,
    },
    /// The payload does not fit a 16-bit payload length.
    #[error("IPv6 payload of {0} bytes too long")]
    PayloadTooLong(usize),
}

/// A checked view of an IPv6 packet; bytes after the payload length
/// (Ethernet padding) are outside the payload.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checking it; getters may then panic.
    pub const fn new_unchecked(buffer: T) -> Self {
        Packet { buffer }
    }

    /// Wraps a buffer holding a whole IPv6 packet.
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let buf = buffer.as_ref();
        let got = buf.len();
        if got < HEADER_LEN {
            return Err(Error::Truncated { need: HEADER_LEN, got });
        }
        if buf[0] >> 4 != 6 {
            return Err(Error::BadVersion(buf[0] >> 4));
        }
        let need = HEADER_LEN + usize::from(be16(buf, 4));
        if got < need {
            return Err(Error::Truncated { need, got });
        }
        Ok(Packet { buffer })
    }

    /// Traffic class.
    pub fn traffic_class(&self) -> u8 {
        let b = self.buffer.as_ref();
        (b[0] << 4) | (b[1] >> 4)
    }

    /// Flow label.
    pub fn flow_label(&self) -> u32 {
        let b = self.buffer.as_ref();
        (u32::from(b[1] & 0x0f) << 16) | u32::from(be16(b, 2))
    }

    /// Payload Length.
    pub fn payload_len(&self) -> u16 {
        be16(self.buffer.as_ref(), 4)
    }

    /// Next Header.
    pub fn next_header(&self) -> u8 {
        self.buffer.as_ref()[6]
    }

    /// Hop Limit.
    pub fn hop_limit(&self) -> u8 {
        self.buffer.as_ref()[7]
    }

    /// Source address.
    pub fn src_addr(&self) -> Ipv6Addr {
        let b: [u8; 16] = self.buffer.as_ref()[8..24].try_into().unwrap_or([0; 16]);
        Ipv6Addr::from(b)
    }

    /// Destination address.
    pub fn dst_addr(&self) -> Ipv6Addr {
        let b: [u8; 16] = self.buffer.as_ref()[24..40].try_into().unwrap_or([0; 16]);
        Ipv6Addr::from(b)
    }

    /// The payload (extension headers included).
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..HEADER_LEN + usize::from(self.payload_len())]
    }

    /// The upper-layer protocol and its bytes, after skipping Hop-by-Hop,
    /// Routing and Destination Options headers. `Ok(None)` for a fragment
    /// (its upper layer cannot be read alone).
    pub fn upper_layer(&self) -> Result<Option<(u8, &[u8])>, Error> {
        let mut next = self.next_header();
        let mut rest = self.payload();
        loop {
            match next {
                0 | 43 | 60 => {
                    if rest.len() < 8 {
                        return Err(Error::BadExtensionHeader { next_header: next });
                    }
                    let len = (usize::from(rest[1]) + 1) * 8;
                    if rest.len() < len {
                        return Err(Error::BadExtensionHeader { next_header: next });
                    }
                    next = rest[0];
                    rest = &rest[len..];
                }
                44 => return Ok(None),
                proto => return Ok(Some((proto, rest))),
            }
        }
    }
}

/// The fields of an IPv6 header, to build one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    /// Source address.
    pub src_addr: Ipv6Addr,
    /// Destination address.
    pub dst_addr: Ipv6Addr,
    /// Next Header.
    pub next_header: u8,
    /// Payload length in bytes.
    pub payload_len: usize,
    /// Hop Limit.
    pub hop_limit: u8,
    /// Traffic class.
    pub traffic_class: u8,
    /// Flow label (20 bits).
    pub flow_label: u32,
}

impl Repr {
    /// Header length, 40.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the 40-byte header into the start of `buf`.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, Error> {
        if self.payload_len > usize::from(u16::MAX) {
            return Err(Error::PayloadTooLong(self.payload_len));
        }
        if buf.len() < HEADER_LEN {
            return Err(Error::Truncated { need: HEADER_LEN, got: buf.len() });
        }
        let h = &mut buf[..HEADER_LEN];
        let word = (6u32 << 28) | (u32::from(self.traffic_class) << 20) | (self.flow_label & 0x000f_ffff);
        h[0..4].copy_from_slice(&word.to_be_bytes());
        put_be16(h, 4, self.payload_len as u16);
        h[6] = self.next_header;
        h[7] = self.hop_limit;
        h[8..24].copy_from_slice(&self.src_addr.octets());
        h[24..40].copy_from_slice(&self.dst_addr.octets());
        Ok(HEADER_LEN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_errors() {
        let r = Repr {
            src_addr: "fe80::c0ff:fe00:20b".parse().unwrap(),
            dst_addr: "ff02::12".parse().unwrap(),
            next_header: 112,
            payload_len: 24,
            hop_limit: 255,
            traffic_class: 0xc0,
            flow_label: 0xcf8f8,
        };
        let mut buf = [0u8; 64];
        r.emit(&mut buf).unwrap();
        // The first eight bytes of the corpus's v3 IPv6 advert.
        assert_eq!(buf[..8], [0x6c, 0x0c, 0xf8, 0xf8, 0x00, 0x18, 0x70, 0xff]);
        let p = Packet::new_checked(&buf[..]).unwrap();
        assert_eq!((p.traffic_class(), p.flow_label(), p.hop_limit()), (0xc0, 0xcf8f8, 255));
        assert_eq!(p.upper_layer().unwrap().unwrap().0, 112);
        assert_eq!(Packet::new_checked(&buf[..63]).unwrap_err(), Error::Truncated { need: 64, got: 63 });
        let mut hbh = buf;
        hbh[6] = 0; // a hop-by-hop header whose length runs past the payload
        hbh[41] = 9;
        assert_eq!(
            Packet::new_checked(&hbh[..]).unwrap().upper_layer(),
            Err(Error::BadExtensionHeader { next_header: 0 })
        );
        hbh[41] = 0;
        hbh[40] = 58;
        assert_eq!(Packet::new_checked(&hbh[..]).unwrap().upper_layer().unwrap().unwrap().1.len(), 16);
    }
}
