//! VRRP adverts: version 2 (RFC 3768 section 5) and version 3 (RFC 5798
//! section 5), over IPv4 and IPv6.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |Version| Type  | Virtual Rtr ID|   Priority    | Count IPvX Addr|
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | v2: Auth Type | v2: Adver Int |          Checksum             |
//! | v3: (rsvd) |  Max Adver Int   |                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                 IPvX Address(es), Count of them                |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |        v2 over IPv4 only: Authentication Data (8 bytes)        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! The layout depends on the version and on the address family, which the
//! packet does not carry: it is the family of the IP header around it, so a
//! [`Packet`] is built with its [`Family`].
//!
//! * v2 (RFC 3768): the interval is in seconds; Authentication Data follows
//!   the addresses (8 bytes, zeros for auth type 0, the NUL-padded password
//!   for type 1 `PASS`); the checksum covers the VRRP packet only.
//! * v3 (RFC 5798): a 12-bit interval in centiseconds, no authentication;
//!   the checksum covers the IPv4 or IPv6 pseudo-header too (section 5.2.8),
//!   computed over the packet's real destination (for a unicast advert, the
//!   peer's address). keepalived's `old_unicast_checksum` mode computes it
//!   as if sent to 224.0.0.18 instead: pass that address as the checksum
//!   destination.
//! * v2 over IPv6 is what keepalived sends when told to (not in any RFC): no
//!   Authentication Data, and the checksum with the IPv6 pseudo-header, which
//!   the kernel fills (`IPV6_CHECKSUM`) for every IPv6 VRRP socket.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use super::{Family, be16, checksum, put_be16};

/// IP protocol number of VRRP (RFC 5798 section 5.1.1.4).
pub const PROTOCOL: u8 = 112;
/// The IPv4 multicast group adverts go to (RFC 5798 section 5.1.1.2).
pub const MCAST_V4: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);
/// The IPv6 multicast group adverts go to (RFC 5798 section 5.1.2.2).
pub const MCAST_V6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12);
/// The TTL / hop limit adverts are sent with and must arrive with.
pub const TTL: u8 = 255;
/// The TOS / traffic class keepalived sends adverts with (CS6, "internet
/// network control").
pub const TOS: u8 = 0xc0;
/// Length of the fixed header.
pub const HEADER_LEN: usize = 8;
/// Length of the v2 Authentication Data.
pub const AUTH_DATA_LEN: usize = 8;
/// Largest v3 Max Adver Int (12 bits of centiseconds).
pub const MAX_V3_INTERVAL: u16 = 0x0fff;

/// The multicast group of a family.
pub const fn mcast_group(family: Family) -> IpAddr {
    match family {
        Family::V4 => IpAddr::V4(MCAST_V4),
        Family::V6 => IpAddr::V6(MCAST_V6),
    }
}

/// A VRRP version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Version {
    /// VRRPv2, RFC 3768.
    V2,
    /// VRRPv3, RFC 5798.
    V3,
}

impl Version {
    /// The version number, 2 or 3.
    pub const fn number(self) -> u8 {
        match self {
            Version::V2 => 2,
            Version::V3 => 3,
        }
    }

    /// The version for a number, if it is 2 or 3.
    pub const fn from_number(n: u8) -> Option<Self> {
        match n {
            2 => Some(Version::V2),
            3 => Some(Version::V3),
            _ => None,
        }
    }

    /// The largest encodable interval field value (255 s for v2, 4095 cs
    /// for v3).
    pub const fn max_interval(self) -> u16 {
        match self {
            Version::V2 => 255,
            Version::V3 => MAX_V3_INTERVAL,
        }
    }

    /// The duration an interval field value means (seconds for v2,
    /// centiseconds for v3).
    pub const fn interval(self, value: u16) -> Duration {
        match self {
            Version::V2 => Duration::from_secs(value as u64),
            Version::V3 => Duration::from_millis(value as u64 * 10),
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.number())
    }
}

/// The Type field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageType {
    /// 1, ADVERTISEMENT, the only type either RFC defines.
    Advertisement,
    /// Any other value.
    Unknown(u8),
}

impl From<u8> for MessageType {
    fn from(v: u8) -> Self {
        match v {
            1 => MessageType::Advertisement,
            other => MessageType::Unknown(other),
        }
    }
}

impl From<MessageType> for u8 {
    fn from(v: MessageType) -> Self {
        match v {
            MessageType::Advertisement => 1,
            MessageType::Unknown(other) => other,
        }
    }
}

/// The v2 Auth Type field (RFC 3768 section 5.3.6; types 1 and 2 come from
/// RFC 2338 and keepalived still sends them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthType {
    /// 0, no authentication.
    None,
    /// 1, simple text password in the Authentication Data.
    SimplePassword,
    /// 2, IPsec AH (the VRRP packet then follows an AH header).
    Ah,
    /// Any other value.
    Unknown(u8),
}

impl From<u8> for AuthType {
    fn from(v: u8) -> Self {
        match v {
            0 => AuthType::None,
            1 => AuthType::SimplePassword,
            2 => AuthType::Ah,
            other => AuthType::Unknown(other),
        }
    }
}

impl From<AuthType> for u8 {
    fn from(v: AuthType) -> Self {
        match v {
            AuthType::None => 0,
            AuthType::SimplePassword => 1,
            AuthType::Ah => 2,
            AuthType::Unknown(other) => other,
        }
    }
}

impl fmt::Display for AuthType {
    /// `none`, `pass`, `ah` or `unknown(N)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthType::None => f.write_str("none"),
            AuthType::SimplePassword => f.write_str("pass"),
            AuthType::Ah => f.write_str("ah"),
            AuthType::Unknown(n) => write!(f, "unknown({n})"),
        }
    }
}

/// A VRRP decode or encode failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Shorter than the fixed 8-byte header.
    #[error("VRRP packet truncated: need {need} bytes, got {got}")]
    Truncated {
        /// Bytes needed.
        need: usize,
        /// Bytes present.
        got: usize,
    },
    /// The Version field is neither 2 nor 3.
    #[error("bad VRRP version {0} (expected 2 or 3)")]
    BadVersion(u8),
    /// The address count (and, for v2 over IPv4, the Authentication Data)
    /// does not fit the packet's length exactly.
    #[error("address count {count} needs a {need}-byte packet, got {got} bytes")]
    AddrCount {
        /// The Count IPvX Addr field.
        count: u8,
        /// The packet length that count implies.
        need: usize,
        /// The packet length present.
        got: usize,
    },
    /// The checksum does not verify.
    #[error("bad VRRP checksum {got:#06x}, expected {expected:#06x}")]
    BadChecksum {
        /// The Checksum field.
        got: u16,
        /// The value the field should hold.
        expected: u16,
    },
    /// An address or pseudo-header address of the other family.
    #[error("address family mismatch: the packet is {packet}, an address is {addr}")]
    FamilyMismatch {
        /// The packet's family.
        packet: Family,
        /// The other address's family.
        addr: Family,
    },
    /// More than 255 addresses to emit.
    #[error("{0} addresses do not fit the 8-bit count field (max 255)")]
    TooManyAddresses(usize),
    /// An interval the version cannot encode.
    #[error("interval {value} out of range for VRRPv{version} (max {max})", max = version.max_interval())]
    IntervalOutOfRange {
        /// The version.
        version: Version,
        /// The interval field value.
        value: u16,
    },
    /// The buffer to emit into is too small.
    #[error("buffer too small to emit: need {need} bytes, got {got}")]
    BufferTooSmall {
        /// Bytes needed.
        need: usize,
        /// Bytes present.
        got: usize,
    },
}

const fn addr_len(family: Family) -> usize {
    match family {
        Family::V4 => 4,
        Family::V6 => 16,
    }
}

const fn has_auth_data(version: Version, family: Family) -> bool {
    matches!((version, family), (Version::V2, Family::V4))
}

/// The length of a packet with `count` addresses.
pub const fn packet_len(version: Version, family: Family, count: usize) -> usize {
    HEADER_LEN + count * addr_len(family) + if has_auth_data(version, family) { AUTH_DATA_LEN } else { 0 }
}

/// A checked view of a VRRP packet (the IP payload).
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
    family: Family,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checking it; getters may then panic.
    pub const fn new_unchecked(buffer: T, family: Family) -> Self {
        Packet { buffer, family }
    }

    /// Wraps a buffer that holds exactly one VRRP packet of `family`: the
    /// fixed header, a known version, and exactly as many bytes as the
    /// address count (plus v2's Authentication Data over IPv4) implies.
    pub fn new_checked(buffer: T, family: Family) -> Result<Self, Error> {
        let packet = Packet { buffer, family };
        packet.check_len()?;
        Ok(packet)
    }

    /// The checks [`new_checked`](Self::new_checked) makes.
    pub fn check_len(&self) -> Result<(), Error> {
        let buf = self.buffer.as_ref();
        let got = buf.len();
        if got < HEADER_LEN {
            return Err(Error::Truncated { need: HEADER_LEN, got });
        }
        let version = Version::from_number(buf[0] >> 4).ok_or(Error::BadVersion(buf[0] >> 4))?;
        let count = buf[3];
        let need = packet_len(version, self.family, usize::from(count));
        if got != need {
            return Err(Error::AddrCount { count, need, got });
        }
        Ok(())
    }

    /// The underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The family given at construction.
    pub const fn family(&self) -> Family {
        self.family
    }

    /// The raw Version field (2 or 3 once checked).
    pub fn version_number(&self) -> u8 {
        self.buffer.as_ref()[0] >> 4
    }

    /// The version; v2 for an unchecked packet with another number.
    pub fn version(&self) -> Version {
        if self.version_number() == 3 { Version::V3 } else { Version::V2 }
    }

    /// The Type field.
    pub fn msg_type(&self) -> MessageType {
        (self.buffer.as_ref()[0] & 0x0f).into()
    }

    /// Virtual Router ID.
    pub fn vrid(&self) -> u8 {
        self.buffer.as_ref()[1]
    }

    /// Priority.
    pub fn priority(&self) -> u8 {
        self.buffer.as_ref()[2]
    }

    /// Count IPvX Addr.
    pub fn addr_count(&self) -> u8 {
        self.buffer.as_ref()[3]
    }

    /// v2's Auth Type (`None` for v3, whose byte 4 is part of the interval).
    pub fn auth_type(&self) -> AuthType {
        match self.version() {
            Version::V2 => self.buffer.as_ref()[4].into(),
            Version::V3 => AuthType::None,
        }
    }

    /// The interval field: v2 Adver Int (seconds), v3 Max Adver Int
    /// (centiseconds, the reserved top four bits masked off).
    pub fn adver_int(&self) -> u16 {
        let buf = self.buffer.as_ref();
        match self.version() {
            Version::V2 => u16::from(buf[5]),
            Version::V3 => be16(buf, 4) & MAX_V3_INTERVAL,
        }
    }

    /// The Checksum field.
    pub fn checksum(&self) -> u16 {
        be16(self.buffer.as_ref(), 6)
    }

    /// The address bytes (`count` x 4 or 16).
    pub fn addr_bytes(&self) -> &[u8] {
        let n = usize::from(self.addr_count()) * addr_len(self.family);
        &self.buffer.as_ref()[HEADER_LEN..HEADER_LEN + n]
    }

    /// The `index`th address, if there is one.
    pub fn addr(&self, index: usize) -> Option<IpAddr> {
        Addrs::Wire { family: self.family, bytes: self.addr_bytes() }.get(index)
    }

    /// The addresses, in packet order.
    pub fn addrs(&self) -> Addrs<'_> {
        Addrs::Wire { family: self.family, bytes: self.addr_bytes() }
    }

    /// The 8 bytes of Authentication Data (v2 over IPv4 only).
    pub fn auth_data(&self) -> Option<&[u8]> {
        if has_auth_data(self.version(), self.family) {
            let buf = self.buffer.as_ref();
            Some(&buf[buf.len() - AUTH_DATA_LEN..])
        } else {
            None
        }
    }

    /// Whether the checksum has to include a pseudo-header: all but v2
    /// over IPv4.
    fn uses_pseudo_header(&self) -> bool {
        !has_auth_data(self.version(), self.family)
    }

    #[inline]
    fn pseudo(&self, src: IpAddr, csum_dst: IpAddr) -> Result<u16, Error> {
        let len = self.buffer.as_ref().len();
        match (self.family, src, csum_dst) {
            (Family::V4, IpAddr::V4(s), IpAddr::V4(d)) => Ok(checksum::pseudo_header_v4(s, d, PROTOCOL, len as u16)),
            (Family::V6, IpAddr::V6(s), IpAddr::V6(d)) => Ok(checksum::pseudo_header_v6(s, d, PROTOCOL, len as u32)),
            (packet, s, d) => {
                let addr = if Family::of(s) != packet { Family::of(s) } else { Family::of(d) };
                Err(Error::FamilyMismatch { packet, addr })
            }
        }
    }

    /// Whether the checksum verifies: over the packet alone for v2 over
    /// IPv4, over the pseudo-header (`src`, `csum_dst`) and the packet
    /// otherwise.
    pub fn verify_checksum(&self, src: IpAddr, csum_dst: IpAddr) -> Result<bool, Error> {
        let buf = self.buffer.as_ref();
        let sum = if self.uses_pseudo_header() {
            checksum::combine(&[self.pseudo(src, csum_dst)?, checksum::data(buf)])
        } else {
            checksum::data(buf)
        };
        Ok(sum == 0xffff)
    }

    /// The value the Checksum field should hold.
    pub fn compute_checksum(&self, src: IpAddr, csum_dst: IpAddr) -> Result<u16, Error> {
        let buf = self.buffer.as_ref();
        let body = checksum::combine(&[checksum::data(&buf[..6]), checksum::data(&buf[HEADER_LEN..])]);
        let sum =
            if self.uses_pseudo_header() { checksum::combine(&[self.pseudo(src, csum_dst)?, body]) } else { body };
        Ok(!sum)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the Version and Type fields.
    pub fn set_version_type(&mut self, version: Version, msg_type: MessageType) {
        self.buffer.as_mut()[0] = (version.number() << 4) | (u8::from(msg_type) & 0x0f);
    }

    /// Sets the Virtual Router ID.
    pub fn set_vrid(&mut self, vrid: u8) {
        self.buffer.as_mut()[1] = vrid;
    }

    /// Sets the Priority.
    pub fn set_priority(&mut self, priority: u8) {
        self.buffer.as_mut()[2] = priority;
    }

    /// Sets the address count.
    pub fn set_addr_count(&mut self, count: u8) {
        self.buffer.as_mut()[3] = count;
    }

    /// Sets v2's Auth Type (v2 only: for v3 byte 4 belongs to the interval).
    pub fn set_auth_type(&mut self, auth: AuthType) {
        self.buffer.as_mut()[4] = auth.into();
    }

    /// Sets the interval field for the packet's version (v3: the reserved
    /// bits are written as zero).
    pub fn set_adver_int(&mut self, value: u16) {
        match self.version() {
            Version::V2 => self.buffer.as_mut()[5] = value as u8,
            Version::V3 => put_be16(self.buffer.as_mut(), 4, value & MAX_V3_INTERVAL),
        }
    }

    /// Sets the Checksum field.
    pub fn set_checksum(&mut self, value: u16) {
        put_be16(self.buffer.as_mut(), 6, value);
    }

    /// Computes and writes the checksum (see
    /// [`verify_checksum`](Packet::verify_checksum) for what it covers).
    pub fn fill_checksum(&mut self, src: IpAddr, csum_dst: IpAddr) -> Result<(), Error> {
        let sum = self.compute_checksum(src, csum_dst)?;
        self.set_checksum(sum);
        Ok(())
    }
}

/// The addresses of an advert: borrowed from a packet, or from the caller's
/// list when building one. Two lists are equal when they hold the same
/// addresses in the same order, whatever their storage.
#[derive(Clone, Copy)]
pub enum Addrs<'a> {
    /// IPv4 addresses.
    V4(&'a [Ipv4Addr]),
    /// IPv6 addresses.
    V6(&'a [Ipv6Addr]),
    /// Addresses as they sit in a packet.
    Wire {
        /// Their family.
        family: Family,
        /// `4 x n` or `16 x n` bytes.
        bytes: &'a [u8],
    },
}

impl<'a> Addrs<'a> {
    /// The family of the addresses.
    pub fn family(&self) -> Family {
        match self {
            Addrs::V4(_) => Family::V4,
            Addrs::V6(_) => Family::V6,
            Addrs::Wire { family, .. } => *family,
        }
    }

    /// How many addresses.
    pub fn len(&self) -> usize {
        match self {
            Addrs::V4(a) => a.len(),
            Addrs::V6(a) => a.len(),
            Addrs::Wire { family, bytes } => bytes.len() / addr_len(*family),
        }
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The `index`th address.
    pub fn get(&self, index: usize) -> Option<IpAddr> {
        match self {
            Addrs::V4(a) => a.get(index).map(|a| IpAddr::V4(*a)),
            Addrs::V6(a) => a.get(index).map(|a| IpAddr::V6(*a)),
            Addrs::Wire { family: Family::V4, bytes } => {
                let b = bytes.get(index * 4..index * 4 + 4)?;
                Some(IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3])))
            }
            Addrs::Wire { family: Family::V6, bytes } => {
                let b: [u8; 16] = bytes.get(index * 16..index * 16 + 16)?.try_into().ok()?;
                Some(IpAddr::V6(Ipv6Addr::from(b)))
            }
        }
    }

    /// The addresses in order.
    pub fn iter(&self) -> AddrsIter<'a> {
        AddrsIter { addrs: *self, next: 0 }
    }

    /// Whether `addr` is one of them.
    pub fn contains(&self, addr: IpAddr) -> bool {
        self.iter().any(|a| a == addr)
    }

    fn write(&self, out: &mut [u8]) {
        match self {
            Addrs::V4(a) => {
                for (chunk, addr) in out.chunks_exact_mut(4).zip(a.iter()) {
                    chunk.copy_from_slice(&addr.octets());
                }
            }
            Addrs::V6(a) => {
                for (chunk, addr) in out.chunks_exact_mut(16).zip(a.iter()) {
                    chunk.copy_from_slice(&addr.octets());
                }
            }
            Addrs::Wire { bytes, .. } => out[..bytes.len()].copy_from_slice(bytes),
        }
    }
}

impl PartialEq for Addrs<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.family() == other.family() && self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for Addrs<'_> {}

impl fmt::Debug for Addrs<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<'a> IntoIterator for Addrs<'a> {
    type Item = IpAddr;
    type IntoIter = AddrsIter<'a>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// Iterator over [`Addrs`].
#[derive(Debug, Clone)]
pub struct AddrsIter<'a> {
    addrs: Addrs<'a>,
    next: usize,
}

impl Iterator for AddrsIter<'_> {
    type Item = IpAddr;

    fn next(&mut self) -> Option<IpAddr> {
        let a = self.addrs.get(self.next)?;
        self.next += 1;
        Some(a)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.addrs.len().saturating_sub(self.next);
        (n, Some(n))
    }
}

impl ExactSizeIterator for AddrsIter<'_> {}

/// The meaning of a VRRP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr<'a> {
    /// The version.
    pub version: Version,
    /// The message type.
    pub msg_type: MessageType,
    /// Virtual Router ID.
    pub vrid: u8,
    /// Priority (0: the master is leaving; 255: the address owner).
    pub priority: u8,
    /// The interval field: seconds for v2, centiseconds for v3
    /// ([`Version::interval`] converts).
    pub adver_int: u16,
    /// v2's Auth Type; always [`AuthType::None`] for v3.
    pub auth_type: AuthType,
    /// v2's Authentication Data over IPv4 (the NUL-padded password for
    /// [`AuthType::SimplePassword`], zeros otherwise as keepalived sends);
    /// zeros and not on the wire otherwise.
    pub auth_data: [u8; AUTH_DATA_LEN],
    /// The virtual addresses, in packet order.
    pub addrs: Addrs<'a>,
}

impl<'a> Repr<'a> {
    /// Parses a checked packet after verifying its checksum against the
    /// pseudo-header of `src` and `csum_dst` (unused for v2 over IPv4).
    pub fn parse<T: AsRef<[u8]> + ?Sized>(
        packet: &Packet<&'a T>,
        src: IpAddr,
        csum_dst: IpAddr,
    ) -> Result<Self, Error> {
        packet.check_len()?;
        if !packet.verify_checksum(src, csum_dst)? {
            return Err(Error::BadChecksum {
                got: packet.checksum(),
                expected: packet.compute_checksum(src, csum_dst)?,
            });
        }
        Ok(Self::read(packet))
    }

    /// Parses a checked packet without looking at its checksum.
    pub fn parse_unverified<T: AsRef<[u8]> + ?Sized>(packet: &Packet<&'a T>) -> Result<Self, Error> {
        packet.check_len()?;
        Ok(Self::read(packet))
    }

    /// Reads the fields of a packet whose length has been checked.
    fn read<T: AsRef<[u8]> + ?Sized>(packet: &Packet<&'a T>) -> Self {
        let buf: &'a [u8] = packet.buffer.as_ref();
        let family = packet.family;
        let version = if buf[0] >> 4 == 3 { Version::V3 } else { Version::V2 };
        let n = usize::from(buf[3]) * addr_len(family);
        let mut auth_data = [0u8; AUTH_DATA_LEN];
        let (auth_type, adver_int) = match version {
            Version::V2 => {
                if family == Family::V4 {
                    auth_data.copy_from_slice(&buf[HEADER_LEN + n..HEADER_LEN + n + AUTH_DATA_LEN]);
                }
                (AuthType::from(buf[4]), u16::from(buf[5]))
            }
            Version::V3 => (AuthType::None, be16(buf, 4) & MAX_V3_INTERVAL),
        };
        Repr {
            version,
            msg_type: MessageType::from(buf[0] & 0x0f),
            vrid: buf[1],
            priority: buf[2],
            adver_int,
            auth_type,
            auth_data,
            addrs: Addrs::Wire { family, bytes: &buf[HEADER_LEN..HEADER_LEN + n] },
        }
    }

    /// An advertisement with no authentication.
    pub const fn advertisement(version: Version, vrid: u8, priority: u8, adver_int: u16, addrs: Addrs<'a>) -> Self {
        Repr {
            version,
            msg_type: MessageType::Advertisement,
            vrid,
            priority,
            adver_int,
            auth_type: AuthType::None,
            auth_data: [0; AUTH_DATA_LEN],
            addrs,
        }
    }

    /// The family of the addresses.
    pub fn family(&self) -> Family {
        self.addrs.family()
    }

    /// The interval as a duration.
    pub const fn interval(&self) -> Duration {
        self.version.interval(self.adver_int)
    }

    /// The password of a [`AuthType::SimplePassword`] advert, without its
    /// NUL padding.
    pub fn password(&self) -> Option<&[u8]> {
        if self.auth_type != AuthType::SimplePassword || !has_auth_data(self.version, self.family()) {
            return None;
        }
        let end = self.auth_data.iter().position(|&b| b == 0).unwrap_or(AUTH_DATA_LEN);
        Some(&self.auth_data[..end])
    }

    /// The length of the packet [`emit`](Self::emit) writes.
    pub fn buffer_len(&self) -> usize {
        packet_len(self.version, self.family(), self.addrs.len())
    }

    /// Writes the packet into the start of `buf`, checksum included, and
    /// returns its length. `src` and `csum_dst` are the pseudo-header
    /// addresses (see [`Packet::verify_checksum`]); they must be of the
    /// addresses' family.
    pub fn emit(&self, buf: &mut [u8], src: IpAddr, csum_dst: IpAddr) -> Result<usize, Error> {
        let family = self.family();
        for a in [src, csum_dst] {
            if Family::of(a) != family {
                return Err(Error::FamilyMismatch { packet: family, addr: Family::of(a) });
            }
        }
        let count = self.addrs.len();
        if count > 255 {
            return Err(Error::TooManyAddresses(count));
        }
        if self.adver_int > self.version.max_interval() {
            return Err(Error::IntervalOutOfRange { version: self.version, value: self.adver_int });
        }
        let need = self.buffer_len();
        let got = buf.len();
        if got < need {
            return Err(Error::BufferTooSmall { need, got });
        }
        let buf = &mut buf[..need];
        buf[0] = (self.version.number() << 4) | (u8::from(self.msg_type) & 0x0f);
        buf[1] = self.vrid;
        buf[2] = self.priority;
        buf[3] = count as u8;
        match self.version {
            Version::V2 => {
                buf[4] = self.auth_type.into();
                buf[5] = self.adver_int as u8;
            }
            Version::V3 => put_be16(buf, 4, self.adver_int),
        }
        buf[6] = 0;
        buf[7] = 0;
        let n = count * addr_len(family);
        self.addrs.write(&mut buf[HEADER_LEN..HEADER_LEN + n]);
        let sum = if has_auth_data(self.version, family) {
            buf[HEADER_LEN + n..].copy_from_slice(&self.auth_data);
            checksum::data(buf)
        } else {
            let pseudo = checksum::pseudo_header(src, csum_dst, PROTOCOL, need).unwrap_or(0);
            checksum::combine(&[pseudo, checksum::data(buf)])
        };
        put_be16(buf, 6, !sum);
        Ok(need)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 11));
    const DST: IpAddr = IpAddr::V4(MCAST_V4);

    /// The v2 no-auth advert of the corpus (vrid 51, prio 150, 1 s).
    const V2: [u8; 20] =
        [0x21, 0x33, 0x96, 0x01, 0x00, 0x01, 0x86, 0x65, 0xc0, 0x00, 0x02, 0x64, 0, 0, 0, 0, 0, 0, 0, 0];
    /// The v3 IPv4 advert of the corpus (vrid 54, prio 150, 100 cs).
    const V3: [u8; 12] = [0x31, 0x36, 0x96, 0x01, 0x00, 0x64, 0xd3, 0x64, 0xc0, 0x00, 0x02, 0x64];

    #[test]
    fn parse_v2() {
        let p = Packet::new_checked(&V2[..], Family::V4).unwrap();
        let r = Repr::parse(&p, SRC, DST).unwrap();
        assert_eq!(r.version, Version::V2);
        assert_eq!((r.vrid, r.priority, r.adver_int), (51, 150, 1));
        assert_eq!(r.auth_type, AuthType::None);
        assert_eq!(r.addrs, Addrs::V4(&[Ipv4Addr::new(192, 0, 2, 100)]));
        assert_eq!(r.interval(), Duration::from_secs(1));
        assert_eq!(r.password(), None);
    }

    #[test]
    fn parse_v3_needs_the_pseudo_header() {
        let p = Packet::new_checked(&V3[..], Family::V4).unwrap();
        let r = Repr::parse(&p, SRC, DST).unwrap();
        assert_eq!((r.version, r.vrid, r.adver_int), (Version::V3, 54, 100));
        assert_eq!(r.interval(), Duration::from_secs(1));
        let other = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 12));
        let expected = p.compute_checksum(SRC, other).unwrap();
        assert_ne!(expected, 0xd364);
        assert_eq!(Repr::parse(&p, SRC, other), Err(Error::BadChecksum { got: 0xd364, expected }));
    }

    #[test]
    fn length_errors() {
        assert_eq!(Packet::new_checked(&V2[..7], Family::V4).unwrap_err(), Error::Truncated { need: 8, got: 7 });
        assert_eq!(
            Packet::new_checked(&V2[..19], Family::V4).unwrap_err(),
            Error::AddrCount { count: 1, need: 20, got: 19 }
        );
        let mut long = V3.to_vec();
        long.push(0);
        assert_eq!(
            Packet::new_checked(&long[..], Family::V4).unwrap_err(),
            Error::AddrCount { count: 1, need: 12, got: 13 }
        );
        let mut v4 = V3;
        v4[0] = 0x41;
        assert_eq!(Packet::new_checked(&v4[..], Family::V4).unwrap_err(), Error::BadVersion(4));
        // The same bytes read as IPv6 need 24 bytes.
        assert_eq!(
            Packet::new_checked(&V3[..], Family::V6).unwrap_err(),
            Error::AddrCount { count: 1, need: 24, got: 12 }
        );
    }

    #[test]
    fn emit_matches_corpus_bytes() {
        let vip = [Ipv4Addr::new(192, 0, 2, 100)];
        let mut buf = [0xa5u8; 32];
        let r = Repr::advertisement(Version::V2, 51, 150, 1, Addrs::V4(&vip));
        assert_eq!(r.emit(&mut buf, SRC, DST), Ok(20));
        assert_eq!(buf[..20], V2);
        assert!(buf[20..].iter().all(|&b| b == 0xa5));
        let r = Repr::advertisement(Version::V3, 54, 150, 100, Addrs::V4(&vip));
        assert_eq!(r.emit(&mut buf, SRC, DST), Ok(12));
        assert_eq!(buf[..12], V3);
    }

    #[test]
    fn emit_errors() {
        let vip = [Ipv4Addr::new(192, 0, 2, 100)];
        let r = Repr::advertisement(Version::V3, 1, 100, 0x1000, Addrs::V4(&vip));
        let mut buf = [0u8; 64];
        assert_eq!(r.emit(&mut buf, SRC, DST), Err(Error::IntervalOutOfRange { version: Version::V3, value: 0x1000 }));
        let r = Repr::advertisement(Version::V2, 1, 100, 256, Addrs::V4(&vip));
        assert!(matches!(r.emit(&mut buf, SRC, DST), Err(Error::IntervalOutOfRange { .. })));
        let r = Repr::advertisement(Version::V2, 1, 100, 1, Addrs::V4(&vip));
        assert_eq!(r.emit(&mut buf[..19], SRC, DST), Err(Error::BufferTooSmall { need: 20, got: 19 }));
        let v6 = IpAddr::V6(MCAST_V6);
        assert_eq!(r.emit(&mut buf, v6, DST), Err(Error::FamilyMismatch { packet: Family::V4, addr: Family::V6 }));
        let many = vec![Ipv4Addr::LOCALHOST; 256];
        let r = Repr::advertisement(Version::V3, 1, 100, 1, Addrs::V4(&many));
        let mut big = vec![0u8; 2048];
        assert_eq!(r.emit(&mut big, SRC, DST), Err(Error::TooManyAddresses(256)));
    }

    #[test]
    fn v3_reserved_bits_are_ignored_on_parse() {
        let mut p = V3;
        p[4] |= 0xf0;
        // Fix the checksum for the changed byte.
        let mut packet = Packet::new_unchecked(&mut p[..], Family::V4);
        packet.fill_checksum(SRC, DST).unwrap();
        let packet = Packet::new_checked(&p[..], Family::V4).unwrap();
        assert_eq!(Repr::parse(&packet, SRC, DST).unwrap().adver_int, 100);
    }

    #[test]
    fn password_strips_padding() {
        let mut r = Repr::advertisement(Version::V2, 52, 150, 1, Addrs::V4(&[]));
        r.auth_type = AuthType::SimplePassword;
        r.auth_data = *b"1111\0\0\0\0";
        assert_eq!(r.password(), Some(&b"1111"[..]));
        r.auth_data = *b"12345678";
        assert_eq!(r.password(), Some(&b"12345678"[..]));
    }

    #[test]
    fn wire_addrs_get_out_of_range() {
        let a = Addrs::Wire { family: Family::V6, bytes: &[0u8; 20] };
        assert_eq!(a.len(), 1);
        assert!(a.get(0).is_some());
        assert!(a.get(1).is_none());
    }
}
