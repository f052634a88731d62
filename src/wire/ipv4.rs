//! The IPv4 header (RFC 791): enough to read the VRRP advert a raw socket
//! or a capture hands over (options included), and to build the header
//! keepalived builds itself (`IP_HDRINCL`): TOS 0xc0, TTL 255, DF clear.

use std::net::Ipv4Addr;

use super::{be16, checksum, put_be16};

/// Length of a header without options.
pub const MIN_HEADER_LEN: usize = 20;

/// An IPv4 decode or encode failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The buffer ends before the header, or before the total length.
    #[error("IPv4 packet truncated: need {need} bytes, got {got}")]
    Truncated {
        /// Bytes needed.
        need: usize,
        /// Bytes present.
        got: usize,
    },
    /// The version field is not 4.
    #[error("bad IPv4 version {0}")]
    BadVersion(u8),
    /// The IHL field is below 5 (20 bytes).
    #[error("bad IPv4 header length {0} (in 32-bit words, minimum 5)")]
    BadHeaderLen(u8),
    /// The total length is shorter than the header.
    #[error("IPv4 total length {total} shorter than its {header}-byte header")]
    BadTotalLen {
        /// Total Length field.
        total: u16,
        /// Header length in bytes.
        header: usize,
    },
    /// The payload does not fit a 16-bit total length.
    #[error("IPv4 payload of {0} bytes too long")]
    PayloadTooLong(usize),
}

/// A checked view of an IPv4 packet. Bytes after the Total Length (Ethernet
/// padding) are outside the view's payload.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checking it; getters may then panic.
    pub const fn new_unchecked(buffer: T) -> Self {
        Packet { buffer }
    }

    /// Wraps a buffer holding a whole IPv4 packet (possibly followed by
    /// padding).
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let buf = buffer.as_ref();
        let got = buf.len();
        if got < MIN_HEADER_LEN {
            return Err(Error::Truncated { need: MIN_HEADER_LEN, got });
        }
        if buf[0] >> 4 != 4 {
            return Err(Error::BadVersion(buf[0] >> 4));
        }
        let ihl = buf[0] & 0x0f;
        if ihl < 5 {
            return Err(Error::BadHeaderLen(ihl));
        }
        let header = usize::from(ihl) * 4;
        if got < header {
            return Err(Error::Truncated { need: header, got });
        }
        let total = be16(buf, 2);
        if usize::from(total) < header {
            return Err(Error::BadTotalLen { total, header });
        }
        if got < usize::from(total) {
            return Err(Error::Truncated { need: usize::from(total), got });
        }
        Ok(Packet { buffer })
    }

    /// Header length in bytes.
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[0] & 0x0f) * 4
    }

    /// The TOS byte (DSCP and ECN).
    pub fn tos(&self) -> u8 {
        self.buffer.as_ref()[1]
    }

    /// Total Length.
    pub fn total_len(&self) -> u16 {
        be16(self.buffer.as_ref(), 2)
    }

    /// Identification.
    pub fn ident(&self) -> u16 {
        be16(self.buffer.as_ref(), 4)
    }

    /// The Don't Fragment flag.
    pub fn dont_frag(&self) -> bool {
        self.buffer.as_ref()[6] & 0x40 != 0
    }

    /// The More Fragments flag.
    pub fn more_frags(&self) -> bool {
        self.buffer.as_ref()[6] & 0x20 != 0
    }

    /// Fragment offset in 8-byte units.
    pub fn frag_offset(&self) -> u16 {
        be16(self.buffer.as_ref(), 6) & 0x1fff
    }

    /// Whether this is a fragment (first or later).
    pub fn is_fragment(&self) -> bool {
        self.more_frags() || self.frag_offset() != 0
    }

    /// Time to live.
    pub fn ttl(&self) -> u8 {
        self.buffer.as_ref()[8]
    }

    /// Protocol of the payload.
    pub fn protocol(&self) -> u8 {
        self.buffer.as_ref()[9]
    }

    /// Header Checksum field.
    pub fn header_checksum(&self) -> u16 {
        be16(self.buffer.as_ref(), 10)
    }

    /// Source address.
    pub fn src_addr(&self) -> Ipv4Addr {
        let b = self.buffer.as_ref();
        Ipv4Addr::new(b[12], b[13], b[14], b[15])
    }

    /// Destination address.
    pub fn dst_addr(&self) -> Ipv4Addr {
        let b = self.buffer.as_ref();
        Ipv4Addr::new(b[16], b[17], b[18], b[19])
    }

    /// The options between the fixed header and the payload.
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[MIN_HEADER_LEN..self.header_len()]
    }

    /// Whether the header checksum verifies.
    pub fn verify_header_checksum(&self) -> bool {
        checksum::data(&self.buffer.as_ref()[..self.header_len()]) == 0xffff
    }

    /// The payload: from the end of the header to Total Length.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..usize::from(self.total_len())]
    }
}

/// The fields of an IPv4 header without options, to build one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    /// Source address.
    pub src_addr: Ipv4Addr,
    /// Destination address.
    pub dst_addr: Ipv4Addr,
    /// Protocol of the payload.
    pub protocol: u8,
    /// Payload length in bytes.
    pub payload_len: usize,
    /// Time to live.
    pub ttl: u8,
    /// TOS byte.
    pub tos: u8,
    /// Identification.
    pub ident: u16,
}

impl Repr {
    /// Reads the fields of a checked packet (options are not kept).
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Self {
        Repr {
            src_addr: packet.src_addr(),
            dst_addr: packet.dst_addr(),
            protocol: packet.protocol(),
            payload_len: packet.payload().len(),
            ttl: packet.ttl(),
            tos: packet.tos(),
            ident: packet.ident(),
        }
    }

    /// Header length, 20.
    pub const fn buffer_len(&self) -> usize {
        MIN_HEADER_LEN
    }

    /// Writes the 20-byte header (DF clear, no options, checksum filled)
    /// into the start of `buf`.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, Error> {
        let total = MIN_HEADER_LEN + self.payload_len;
        if total > usize::from(u16::MAX) {
            return Err(Error::PayloadTooLong(self.payload_len));
        }
        if buf.len() < MIN_HEADER_LEN {
            return Err(Error::Truncated { need: MIN_HEADER_LEN, got: buf.len() });
        }
        let h = &mut buf[..MIN_HEADER_LEN];
        h[0] = 0x45;
        h[1] = self.tos;
        put_be16(h, 2, total as u16);
        put_be16(h, 4, self.ident);
        put_be16(h, 6, 0);
        h[8] = self.ttl;
        h[9] = self.protocol;
        put_be16(h, 10, 0);
        h[12..16].copy_from_slice(&self.src_addr.octets());
        h[16..20].copy_from_slice(&self.dst_addr.octets());
        let sum = !checksum::data(h);
        put_be16(h, 10, sum);
        Ok(MIN_HEADER_LEN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The IPv4 header of the corpus's first v2 advert.
    const HDR: [u8; 20] = [
        0x45, 0xc0, 0x00, 0x28, 0x00, 0x01, 0x00, 0x00, 0xff, 0x70, 0x18, 0x87, 0xc0, 0x00, 0x02, 0x0b, 0xe0, 0x00,
        0x00, 0x12,
    ];

    #[test]
    fn emit_matches_keepalived_header() {
        let r = Repr {
            src_addr: Ipv4Addr::new(192, 0, 2, 11),
            dst_addr: Ipv4Addr::new(224, 0, 0, 18),
            protocol: 112,
            payload_len: 20,
            ttl: 255,
            tos: 0xc0,
            ident: 1,
        };
        let mut buf = [0xa5u8; 20];
        assert_eq!(r.emit(&mut buf), Ok(20));
        assert_eq!(buf, HDR);
    }

    #[test]
    fn checks() {
        let mut pkt = HDR.to_vec();
        pkt.extend_from_slice(&[0u8; 20]);
        let p = Packet::new_checked(&pkt[..]).unwrap();
        assert!(p.verify_header_checksum());
        assert_eq!((p.ttl(), p.protocol(), p.payload().len()), (255, 112, 20));
        assert_eq!(Packet::new_checked(&pkt[..39]).unwrap_err(), Error::Truncated { need: 40, got: 39 });
        let mut bad = pkt.clone();
        bad[0] = 0x44;
        assert_eq!(Packet::new_checked(&bad[..]).unwrap_err(), Error::BadHeaderLen(4));
        bad[0] = 0x65;
        assert_eq!(Packet::new_checked(&bad[..]).unwrap_err(), Error::BadVersion(6));
        let mut short_total = pkt.clone();
        short_total[3] = 8;
        assert_eq!(Packet::new_checked(&short_total[..]).unwrap_err(), Error::BadTotalLen { total: 8, header: 20 });
        // Padding after total length is outside the payload.
        pkt.extend_from_slice(&[0u8; 6]);
        assert_eq!(Packet::new_checked(&pkt[..]).unwrap().payload().len(), 20);
    }
}
