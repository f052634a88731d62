//! A small reader of classic pcap files (the libpcap format tcpdump and
//! `tshark -F pcap` write): microsecond and nanosecond timestamps, either
//! byte order. pcapng is recognised and refused with a clear error.
//!
//! It streams from any [`std::io::Read`] and reuses one buffer, so a long
//! capture costs no more memory than its largest record.

use std::io::{self, Read};
use std::time::Duration;

/// Largest record this reader accepts (16 MiB): far above any snapshot
/// length, and a bound on what a corrupt length field can make it allocate.
pub const MAX_RECORD_LEN: u32 = 16 << 20;

/// The link type of a capture (the global header's `network` field).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LinkType {
    /// 1, Ethernet II.
    Ethernet,
    /// 101, raw IP (IPv4 or IPv6 by the version nibble).
    Raw,
    /// 113, Linux cooked capture v1 (`tcpdump -i any`).
    LinuxSll,
    /// 228, raw IPv4.
    Ipv4,
    /// 229, raw IPv6.
    Ipv6,
    /// 276, Linux cooked capture v2.
    LinuxSll2,
    /// Any other link type.
    Unknown(u32),
}

impl From<u32> for LinkType {
    fn from(v: u32) -> Self {
        match v {
            1 => LinkType::Ethernet,
            101 => LinkType::Raw,
            113 => LinkType::LinuxSll,
            228 => LinkType::Ipv4,
            229 => LinkType::Ipv6,
            276 => LinkType::LinuxSll2,
            other => LinkType::Unknown(other),
        }
    }
}

/// A pcap read failure.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading failed.
    #[error("read error: {0}")]
    Io(#[from] io::Error),
    /// The file ends inside the 24-byte global header.
    #[error("not a pcap file: {got} bytes, shorter than the 24-byte header")]
    TruncatedHeader {
        /// Bytes present.
        got: usize,
    },
    /// A pcapng file.
    #[error("pcapng is not supported: convert with `editcap -F pcap IN OUT`")]
    PcapNg,
    /// Not a pcap magic number.
    #[error("not a pcap file: magic number {0:#010x}")]
    BadMagic(u32),
    /// The file ends inside a record.
    #[error("record {index} truncated: need {need} bytes, got {got}")]
    TruncatedRecord {
        /// 0-based record index.
        index: u64,
        /// Bytes needed.
        need: usize,
        /// Bytes present.
        got: usize,
    },
    /// A record length beyond [`MAX_RECORD_LEN`].
    #[error("record {index} claims {len} bytes (max {MAX_RECORD_LEN})")]
    RecordTooLarge {
        /// 0-based record index.
        index: u64,
        /// Its captured length field.
        len: u32,
    },
}

/// One captured frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    /// Timestamp since the Unix epoch.
    pub timestamp: Duration,
    /// Length of the frame on the wire (may exceed `data.len()` when the
    /// snapshot length cut it).
    pub orig_len: u32,
    /// The captured bytes.
    pub data: &'a [u8],
}

/// A streaming pcap reader.
#[derive(Debug)]
pub struct Reader<R: Read> {
    inner: R,
    big_endian: bool,
    nanos: bool,
    link_type: LinkType,
    snaplen: u32,
    index: u64,
    buf: Vec<u8>,
}

/// Reads until `buf` is full or the input ends; returns the bytes read.
fn read_full<R: Read>(r: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

impl<R: Read> Reader<R> {
    /// Reads and checks the global header.
    pub fn new(mut inner: R) -> Result<Self, Error> {
        let mut hdr = [0u8; 24];
        let got = read_full(&mut inner, &mut hdr)?;
        let magic = u32::from_le_bytes([hdr[0], hdr[1], hdr[2], hdr[3]]);
        if got >= 4 && magic == 0x0a0d_0d0a {
            return Err(Error::PcapNg);
        }
        if got < 24 {
            return Err(Error::TruncatedHeader { got });
        }
        let (big_endian, nanos) = match magic {
            0xa1b2_c3d4 => (false, false),
            0xa1b2_3c4d => (false, true),
            0xd4c3_b2a1 => (true, false),
            0x4d3c_b2a1 => (true, true),
            other => return Err(Error::BadMagic(other)),
        };
        let word = |at: usize| {
            let b = [hdr[at], hdr[at + 1], hdr[at + 2], hdr[at + 3]];
            if big_endian { u32::from_be_bytes(b) } else { u32::from_le_bytes(b) }
        };
        // The low 16 bits are the link type; the upper bits carry FCS
        // information (pcap-linktype(7)).
        let link_type = LinkType::from(word(20) & 0xffff);
        Ok(Reader { inner, big_endian, nanos, link_type, snaplen: word(16), index: 0, buf: Vec::new() })
    }

    /// The capture's link type.
    pub fn link_type(&self) -> LinkType {
        self.link_type
    }

    /// The capture's snapshot length.
    pub fn snaplen(&self) -> u32 {
        self.snaplen
    }

    /// The next record, or `None` at the end of the file.
    pub fn next_record(&mut self) -> Result<Option<Record<'_>>, Error> {
        let mut hdr = [0u8; 16];
        let got = read_full(&mut self.inner, &mut hdr)?;
        if got == 0 {
            return Ok(None);
        }
        let index = self.index;
        if got < 16 {
            return Err(Error::TruncatedRecord { index, need: 16, got });
        }
        let big = self.big_endian;
        let word = |at: usize| {
            let b = [hdr[at], hdr[at + 1], hdr[at + 2], hdr[at + 3]];
            if big { u32::from_be_bytes(b) } else { u32::from_le_bytes(b) }
        };
        let (sec, frac, incl, orig) = (word(0), word(4), word(8), word(12));
        if incl > MAX_RECORD_LEN {
            return Err(Error::RecordTooLarge { index, len: incl });
        }
        let len = incl as usize;
        self.buf.resize(len, 0);
        let got = read_full(&mut self.inner, &mut self.buf)?;
        if got < len {
            return Err(Error::TruncatedRecord { index, need: 16 + len, got: 16 + got });
        }
        self.index += 1;
        let timestamp = Duration::from_secs(u64::from(sec))
            + if self.nanos { Duration::from_nanos(u64::from(frac)) } else { Duration::from_micros(u64::from(frac)) };
        Ok(Some(Record { timestamp, orig_len: orig, data: &self.buf }))
    }
}

/// Writes a classic pcap (little-endian, microseconds) holding `frames`, each
/// a timestamp and its bytes: the inverse of [`Reader`], for tests and
/// tools that hand a capture to tshark.
pub fn write<W: io::Write>(mut out: W, link_type: u32, frames: &[(Duration, &[u8])]) -> io::Result<()> {
    let mut hdr = Vec::with_capacity(24);
    hdr.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    hdr.extend_from_slice(&2u16.to_le_bytes());
    hdr.extend_from_slice(&4u16.to_le_bytes());
    hdr.extend_from_slice(&[0u8; 8]);
    hdr.extend_from_slice(&262_144u32.to_le_bytes());
    hdr.extend_from_slice(&link_type.to_le_bytes());
    out.write_all(&hdr)?;
    for (ts, data) in frames {
        let len =
            u32::try_from(data.len()).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "frame too long"))?;
        let mut rec = Vec::with_capacity(16);
        rec.extend_from_slice(&(ts.as_secs() as u32).to_le_bytes());
        rec.extend_from_slice(&ts.subsec_micros().to_le_bytes());
        rec.extend_from_slice(&len.to_le_bytes());
        rec.extend_from_slice(&len.to_le_bytes());
        out.write_all(&rec)?;
        out.write_all(data)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let mut file = Vec::new();
        let frames: [(Duration, &[u8]); 2] =
            [(Duration::from_micros(1_500_000), b"abc"), (Duration::from_secs(2), b"")];
        write(&mut file, 1, &frames).unwrap();
        let mut r = Reader::new(&file[..]).unwrap();
        assert_eq!(r.link_type(), LinkType::Ethernet);
        let rec = r.next_record().unwrap().unwrap();
        assert_eq!((rec.timestamp, rec.data), (Duration::from_micros(1_500_000), &b"abc"[..]));
        assert_eq!(r.next_record().unwrap().unwrap().data, b"");
        assert!(r.next_record().unwrap().is_none());
    }

    #[test]
    fn errors() {
        assert!(matches!(Reader::new(&b"\x0a\x0d\x0d\x0a"[..]), Err(Error::PcapNg)));
        assert!(matches!(Reader::new(&[0u8; 10][..]), Err(Error::TruncatedHeader { got: 10 })));
        assert!(matches!(Reader::new(&[0u8; 24][..]), Err(Error::BadMagic(0))));
        let mut file = Vec::new();
        write(&mut file, 113, &[(Duration::ZERO, &b"abcdef"[..])]).unwrap();
        file.truncate(file.len() - 2);
        let mut r = Reader::new(&file[..]).unwrap();
        assert_eq!(r.link_type(), LinkType::LinuxSll);
        assert!(matches!(r.next_record(), Err(Error::TruncatedRecord { index: 0, need: 22, got: 20 })));
        let mut huge = Vec::new();
        write(&mut huge, 1, &[]).unwrap();
        huge.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]);
        assert!(matches!(Reader::new(&huge[..]).unwrap().next_record(), Err(Error::RecordTooLarge { .. })));
    }
}
