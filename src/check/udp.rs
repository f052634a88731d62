//! `UDP_CHECK`: the datagram keepalived sends and how it judges the reply
//! (`check/check_udp.c`, `udp_bind_connect` in `core/layer4.c`).
//!
//! keepalived sends the configured payload (or 32 bytes of
//! `"keepalived check - "` repeated) on a connected socket and waits
//! `connect_timeout`. Silence is a success unless `require_reply` is set;
//! an ICMP error (port unreachable) is a failure. With an expected reply
//! pattern, the reply must have a length within
//! `min_reply_length..=max_reply_length` and match the pattern over the
//! shorter of the two; without a pattern, any reply passes (keepalived
//! checks the lengths only together with a pattern).

use super::outcome::Failure;
use super::spec::UdpCheck;

/// keepalived's filler for payloads it sends without one configured
/// (`set_buf`, `core/layer4.c`).
pub const FILLER: &[u8] = b"keepalived check - ";

/// `n` bytes of keepalived's filler text.
pub fn filler(n: usize) -> Vec<u8> {
    FILLER.iter().copied().cycle().take(n).collect()
}

/// The payload of a `UDP_CHECK` probe.
pub fn payload(check: &UdpCheck) -> Vec<u8> {
    match &check.payload {
        Some(p) => p.clone(),
        None => filler(32),
    }
}

/// Bytes with don't-care nibbles: keepalived's hex strings where `x`
/// stands for any nibble (`read_hex_str`, `lib/parser.c`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BytePattern {
    /// The bytes (don't-care nibbles are 0).
    pub data: Vec<u8>,
    /// Per byte, the bits that are don't-care.
    pub mask: Vec<u8>,
}

impl BytePattern {
    /// An exact pattern.
    pub fn exact(data: impl Into<Vec<u8>>) -> Self {
        let data = data.into();
        let mask = vec![0; data.len()];
        BytePattern { data, mask }
    }

    /// Parses keepalived's hex syntax: pairs of hex digits, optionally
    /// separated by blanks; a digit alone before a blank is one byte; with
    /// `wildcards`, `x`/`X` is a don't-care nibble.
    pub fn parse_hex(s: &str, wildcards: bool) -> Result<Self, super::CheckError> {
        let bad = |at: usize| super::CheckError::HexString { text: s.to_owned(), at };
        let b = s.as_bytes();
        let nib = |i: usize| -> Result<(u8, u8), super::CheckError> {
            match b[i] {
                c @ b'0'..=b'9' => Ok((c - b'0', 0)),
                c @ b'a'..=b'f' => Ok((c - b'a' + 10, 0)),
                c @ b'A'..=b'F' => Ok((c - b'A' + 10, 0)),
                b'x' | b'X' if wildcards => Ok((0, 0x0f)),
                _ => Err(bad(i)),
            }
        };
        let mut data = Vec::new();
        let mut mask = Vec::new();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b' ' || b[i] == b'\t' {
                i += 1;
                continue;
            }
            let (mut v, mut m) = nib(i)?;
            i += 1;
            if i < b.len() && b[i] != b' ' && b[i] != b'\t' {
                let (v2, m2) = nib(i)?;
                v = v << 4 | v2;
                m = m << 4 | m2;
                i += 1;
            }
            data.push(v);
            mask.push(m);
        }
        if data.is_empty() {
            return Err(bad(0));
        }
        Ok(BytePattern { data, mask })
    }

    /// Whether `reply` matches over the shorter of the two
    /// (`check_udp_reply`).
    pub fn matches(&self, reply: &[u8]) -> bool {
        self.data.iter().zip(&self.mask).zip(reply).all(|((d, m), r)| (d ^ r) & !m == 0)
    }
}

/// The receive buffer size for a probe: one more than the longest reply
/// accepted, so that a longer one shows as too long.
pub fn recv_len(check: &UdpCheck) -> usize {
    check.max_reply_len as usize + 1
}

/// Judges the outcome of a probe: `reply` is the datagram received (at
/// most [`recv_len`] bytes of it), or `None` when the timeout passed in
/// silence.
pub fn judge(check: &UdpCheck, reply: Option<&[u8]>) -> Result<(), Failure> {
    match reply {
        None if check.require_reply => Err(Failure::UdpNoReply),
        None => Ok(()),
        Some(r) => match &check.reply {
            Some(p) => {
                let len = r.len();
                if len < check.min_reply_len as usize || len > check.max_reply_len as usize || !p.matches(r) {
                    Err(Failure::UdpReply { len })
                } else {
                    Ok(())
                }
            }
            None => Ok(()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_payload_is_keepalived_filler() {
        assert_eq!(payload(&UdpCheck::default()), b"keepalived check - keepalived ch");
    }

    #[test]
    fn hex_patterns() {
        let p = BytePattern::parse_hex("01 02ab x3 Fx", true).unwrap();
        assert_eq!(p.data, [0x01, 0x02, 0xab, 0x03, 0xf0]);
        assert_eq!(p.mask, [0, 0, 0, 0xf0, 0x0f]);
        assert!(p.matches(&[1, 2, 0xab, 0x73, 0xf9]));
        assert!(!p.matches(&[1, 2, 0xab, 0x74]));
        assert!(p.matches(&[1, 2]));
        assert!(BytePattern::parse_hex("x1", false).is_err());
        assert!(BytePattern::parse_hex("zz", true).is_err());
        assert!(BytePattern::parse_hex("  ", true).is_err());
        assert_eq!(BytePattern::parse_hex("1 2", false).unwrap().data, [1, 2]);
    }

    #[test]
    fn judging() {
        let mut c = UdpCheck::default();
        assert!(judge(&c, None).is_ok());
        assert!(judge(&c, Some(b"anything")).is_ok());
        c.require_reply = true;
        assert_eq!(judge(&c, None), Err(Failure::UdpNoReply));
        c.reply = Some(BytePattern::exact(*b"pong"));
        c.min_reply_len = 4;
        c.max_reply_len = 8;
        assert!(judge(&c, Some(b"pong!")).is_ok());
        assert_eq!(judge(&c, Some(b"pin")), Err(Failure::UdpReply { len: 3 }));
        assert_eq!(judge(&c, Some(b"ping")), Err(Failure::UdpReply { len: 4 }));
        assert_eq!(judge(&c, Some(b"pong12345")), Err(Failure::UdpReply { len: 9 }));
    }
}
