//! `DNS_CHECK`: the query keepalived sends and a bounds-checked reader of
//! the reply (`check/check_dns.c`; message format RFC 1035 §4.1).
//!
//! keepalived builds one question with the RD bit set and a random ID, and
//! judges a reply by three things only: its ID matches (other datagrams are
//! ignored and the wait goes on), its QR bit is set (likewise), and its
//! RCODE is 0. lvskit does the same and, deliberately, also requires the
//! reply to be a well-formed message: a header of 12 bytes (keepalived
//! checks 8, the size of a pointer), and every question and resource
//! record within the datagram with consistent lengths. A reply that lies
//! about its lengths is a failure with a [`DnsError`] rather than a pass.

use std::fmt;

/// A DNS header is 12 bytes (RFC 1035 §4.1.1).
pub const HEADER_LEN: usize = 12;
/// keepalived's send and receive buffer (`DNS_BUFFER_SIZE`).
pub const BUFFER_SIZE: usize = 768;
/// The longest domain name in wire form (RFC 1035 §3.1).
pub const MAX_NAME: usize = 255;

/// The query types keepalived accepts (`DNS_TYPE[]` in `check_dns.c`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DnsType {
    /// A (1).
    A,
    /// NS (2).
    Ns,
    /// CNAME (5).
    Cname,
    /// SOA (6), the default.
    Soa,
    /// MX (15).
    Mx,
    /// TXT (16).
    Txt,
    /// AAAA (28).
    Aaaa,
    /// RRSIG (46).
    Rrsig,
    /// DNSKEY (48).
    Dnskey,
}

impl DnsType {
    /// The type code.
    pub const fn code(self) -> u16 {
        match self {
            DnsType::A => 1,
            DnsType::Ns => 2,
            DnsType::Cname => 5,
            DnsType::Soa => 6,
            DnsType::Mx => 15,
            DnsType::Txt => 16,
            DnsType::Aaaa => 28,
            DnsType::Rrsig => 46,
            DnsType::Dnskey => 48,
        }
    }

    /// Looks a type up by its name, ignoring case as keepalived does.
    pub fn from_name(s: &str) -> Option<Self> {
        const ALL: [DnsType; 9] = [
            DnsType::A,
            DnsType::Ns,
            DnsType::Cname,
            DnsType::Soa,
            DnsType::Mx,
            DnsType::Txt,
            DnsType::Aaaa,
            DnsType::Rrsig,
            DnsType::Dnskey,
        ];
        ALL.into_iter().find(|t| t.name().eq_ignore_ascii_case(s))
    }

    /// The type's name.
    pub const fn name(self) -> &'static str {
        match self {
            DnsType::A => "A",
            DnsType::Ns => "NS",
            DnsType::Cname => "CNAME",
            DnsType::Soa => "SOA",
            DnsType::Mx => "MX",
            DnsType::Txt => "TXT",
            DnsType::Aaaa => "AAAA",
            DnsType::Rrsig => "RRSIG",
            DnsType::Dnskey => "DNSKEY",
        }
    }
}

/// Checks a query name as keepalived does (no empty label; a leading dot
/// only for the root `"."`) plus the RFC 1035 limits keepalived leaves to
/// chance (labels of at most 63 bytes, at most 255 bytes in wire form).
pub fn validate_name(name: &str) -> Result<(), super::CheckError> {
    let bad = |reason: &'static str| super::CheckError::DnsName { name: name.to_owned(), reason };
    if name.is_empty() || name == "." {
        return Ok(());
    }
    let trimmed = name.strip_suffix('.').unwrap_or(name);
    if trimmed.split('.').any(str::is_empty) {
        return Err(bad("empty label"));
    }
    if trimmed.split('.').any(|l| l.len() > 63) {
        return Err(bad("label longer than 63 bytes"));
    }
    if trimmed.len() + 2 > MAX_NAME {
        return Err(bad("name longer than 255 bytes"));
    }
    Ok(())
}

/// Builds the query (`dns_make_query`): header with `id`, RD set, one
/// question `name`/`qtype`/IN. The name must have passed
/// [`validate_name`].
pub fn build_query(id: u16, name: &str, qtype: DnsType) -> Vec<u8> {
    let mut q = Vec::with_capacity(HEADER_LEN + name.len() + 6);
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&0x0100u16.to_be_bytes()); // RD
    q.extend_from_slice(&1u16.to_be_bytes()); // QDCOUNT
    q.extend_from_slice(&[0; 6]); // AN, NS, AR counts
    let trimmed = name.strip_suffix('.').unwrap_or(name);
    if !trimmed.is_empty() {
        for label in trimmed.split('.') {
            q.push(label.len() as u8);
            q.extend_from_slice(label.as_bytes());
        }
    }
    q.push(0);
    q.extend_from_slice(&qtype.code().to_be_bytes());
    q.extend_from_slice(&1u16.to_be_bytes()); // class IN
    q
}

/// Why a reply is not a well-formed DNS message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum DnsError {
    /// The datagram ends inside a field.
    #[error("truncated at byte {at}: need {need} more bytes, {got} left")]
    Truncated {
        /// Offset of the field.
        at: usize,
        /// Bytes the field needs.
        need: usize,
        /// Bytes left.
        got: usize,
    },
    /// A label type other than a length or a pointer (RFC 1035 §4.1.4).
    #[error("bad label type 0x{byte:02x} at byte {at}")]
    LabelType {
        /// Offset.
        at: usize,
        /// The length byte.
        byte: u8,
    },
    /// A compression pointer that does not point backwards, or too many.
    #[error("bad compression pointer to {to} at byte {at}")]
    Pointer {
        /// Offset of the pointer.
        at: usize,
        /// Where it points.
        to: usize,
    },
    /// A name longer than 255 bytes.
    #[error("name longer than 255 bytes at byte {at}")]
    NameTooLong {
        /// Offset of the name.
        at: usize,
    },
    /// Bytes left after the last record the counts announce.
    #[error("{extra} bytes after the last record")]
    Trailing {
        /// How many.
        extra: usize,
    },
}

/// A reply's header and the record counts it announced (all verified).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Reply {
    /// Message ID.
    pub id: u16,
    /// Flags word (QR, opcode, AA, TC, RD, RA, Z, RCODE).
    pub flags: u16,
    /// Question count.
    pub qdcount: u16,
    /// Answer count.
    pub ancount: u16,
    /// Authority count.
    pub nscount: u16,
    /// Additional count.
    pub arcount: u16,
}

impl Reply {
    /// The QR bit: this is a response.
    pub fn is_response(&self) -> bool {
        self.flags & 0x8000 != 0
    }

    /// The RCODE (low 4 bits of the flags).
    pub fn rcode(&self) -> u8 {
        (self.flags & 0x000f) as u8
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "id {:#06x} flags {:#06x} qd {} an {} ns {} ar {}",
            self.id, self.flags, self.qdcount, self.ancount, self.nscount, self.arcount
        )
    }
}

fn need(buf: &[u8], at: usize, n: usize) -> Result<(), DnsError> {
    let got = buf.len().saturating_sub(at);
    if got < n { Err(DnsError::Truncated { at, need: n, got }) } else { Ok(()) }
}

/// Skips a (possibly compressed) name at `at`; returns the offset after it.
fn skip_name(buf: &[u8], mut at: usize) -> Result<usize, DnsError> {
    let start = at;
    let mut end = None;
    let mut len = 0usize;
    let mut jumps = 0;
    loop {
        need(buf, at, 1)?;
        let b = buf[at];
        match b & 0xc0 {
            0x00 if b == 0 => {
                return Ok(end.unwrap_or(at + 1));
            }
            0x00 => {
                let l = b as usize;
                need(buf, at + 1, l)?;
                len += l + 1;
                if len + 1 > MAX_NAME {
                    return Err(DnsError::NameTooLong { at: start });
                }
                at += 1 + l;
            }
            0xc0 => {
                need(buf, at, 2)?;
                let to = (((b & 0x3f) as usize) << 8) | buf[at + 1] as usize;
                // Pointers must go backwards; bounding the number of jumps
                // also stops loops between earlier names.
                if to >= at || jumps >= 64 {
                    return Err(DnsError::Pointer { at, to });
                }
                jumps += 1;
                end.get_or_insert(at + 2);
                at = to;
            }
            _ => return Err(DnsError::LabelType { at, byte: b }),
        }
    }
}

/// Reads the header and walks every question and record the counts
/// announce, checking each length against the datagram.
pub fn parse_reply(buf: &[u8]) -> Result<Reply, DnsError> {
    need(buf, 0, HEADER_LEN)?;
    let w = |i: usize| u16::from_be_bytes([buf[i], buf[i + 1]]);
    let reply = Reply { id: w(0), flags: w(2), qdcount: w(4), ancount: w(6), nscount: w(8), arcount: w(10) };
    let mut at = HEADER_LEN;
    for _ in 0..reply.qdcount {
        at = skip_name(buf, at)?;
        need(buf, at, 4)?;
        at += 4;
    }
    let records = reply.ancount as usize + reply.nscount as usize + reply.arcount as usize;
    for _ in 0..records {
        at = skip_name(buf, at)?;
        need(buf, at, 10)?;
        let rdlength = u16::from_be_bytes([buf[at + 8], buf[at + 9]]) as usize;
        at += 10;
        need(buf, at, rdlength)?;
        at += rdlength;
    }
    if at != buf.len() {
        return Err(DnsError::Trailing { extra: buf.len() - at });
    }
    Ok(reply)
}

/// What a received datagram means for a probe that sent query `id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplyVerdict {
    /// Not ours or not a response (too short for a header, another ID, QR
    /// clear): keep waiting, as keepalived does.
    Ignore,
    /// The server answered without error.
    Up,
    /// The server answered with an error, or a malformed message.
    Down(super::Failure),
}

/// Judges one datagram (`dns_recv_thread`).
pub fn judge_reply(id: u16, buf: &[u8]) -> ReplyVerdict {
    if buf.len() < HEADER_LEN {
        return ReplyVerdict::Ignore;
    }
    let rid = u16::from_be_bytes([buf[0], buf[1]]);
    let flags = u16::from_be_bytes([buf[2], buf[3]]);
    if rid != id || flags & 0x8000 == 0 {
        return ReplyVerdict::Ignore;
    }
    match parse_reply(buf) {
        Err(error) => ReplyVerdict::Down(super::Failure::DnsMalformed { error }),
        Ok(r) if r.rcode() != 0 => ReplyVerdict::Down(super::Failure::DnsRcode { rcode: r.rcode() }),
        Ok(_) => ReplyVerdict::Up,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_matches_keepalived_layout() {
        let q = build_query(0x1234, "example.com", DnsType::A);
        assert_eq!(
            q,
            [
                0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 7, b'e', b'x', b'a', b'm', b'p', b'l', b'e', 3, b'c',
                b'o', b'm', 0, 0, 1, 0, 1
            ]
        );
        assert_eq!(build_query(1, "example.com.", DnsType::A)[12..], q[12..]);
        // The root: the default name "" and "." give the same single zero.
        assert_eq!(build_query(1, "", DnsType::Soa)[12..], [0, 0, 6, 0, 1]);
        assert_eq!(build_query(1, ".", DnsType::Soa)[12..], [0, 0, 6, 0, 1]);
    }

    #[test]
    fn names_are_validated() {
        assert!(validate_name("example.com").is_ok());
        assert!(validate_name("").is_ok());
        assert!(validate_name(".").is_ok());
        assert!(validate_name("a..b").is_err());
        assert!(validate_name(".a").is_err());
        assert!(validate_name(&"a".repeat(64)).is_err());
        let long = vec!["a".repeat(63); 5].join(".");
        assert!(validate_name(&long).is_err());
    }

    fn reply(id: u16, flags: u16, answer: bool) -> Vec<u8> {
        let mut r = build_query(id, "example.com", DnsType::A);
        r[2..4].copy_from_slice(&flags.to_be_bytes());
        if answer {
            r[6..8].copy_from_slice(&1u16.to_be_bytes());
            r.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1]);
        }
        r
    }

    #[test]
    fn verdicts() {
        assert_eq!(judge_reply(7, &reply(7, 0x8180, true)), ReplyVerdict::Up);
        assert_eq!(judge_reply(7, &reply(8, 0x8180, true)), ReplyVerdict::Ignore);
        assert_eq!(judge_reply(7, &reply(7, 0x0100, false)), ReplyVerdict::Ignore);
        assert_eq!(
            judge_reply(7, &reply(7, 0x8183, false)),
            ReplyVerdict::Down(crate::check::Failure::DnsRcode { rcode: 3 })
        );
        assert_eq!(judge_reply(7, &[0; 11]), ReplyVerdict::Ignore);
    }

    #[test]
    fn lying_lengths_are_malformed() {
        // An answer count with no answer.
        let mut r = reply(7, 0x8180, false);
        r[6..8].copy_from_slice(&3u16.to_be_bytes());
        assert!(matches!(judge_reply(7, &r), ReplyVerdict::Down(crate::check::Failure::DnsMalformed { .. })));
        // An RDLENGTH past the end.
        let mut r = reply(7, 0x8180, true);
        let n = r.len();
        r[n - 5] = 200;
        assert!(matches!(parse_reply(&r), Err(DnsError::Truncated { .. })));
        // A label running past the end.
        let mut r = reply(7, 0x8180, false);
        r[12] = 60;
        assert!(matches!(parse_reply(&r), Err(DnsError::Truncated { .. })));
        // A pointer loop.
        let mut r = reply(7, 0x8180, true);
        let p = r.len() - 16;
        r[p] = 0xc0;
        r[p + 1] = p as u8;
        assert!(matches!(parse_reply(&r), Err(DnsError::Pointer { .. })));
        // Trailing garbage.
        let mut r = reply(7, 0x8180, true);
        r.push(0);
        assert_eq!(parse_reply(&r), Err(DnsError::Trailing { extra: 1 }));
    }
}
