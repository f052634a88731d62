//! `PING_CHECK`: the ICMP echo keepalived sends and a reader of what comes
//! back (`check/check_ping.c`; RFC 792, RFC 4443).
//!
//! keepalived sends one echo request with 128 bytes of filler on an
//! unprivileged ICMP socket and passes on the first echo reply within
//! `connect_timeout`; anything else that arrives on the socket (an error)
//! fails the check. lvskit's runner uses the same kind of socket where the
//! system permits it (`net.ipv4.ping_group_range`) and a raw socket
//! otherwise, where it sees every ICMP message of the host and so ignores
//! those that are not about its own echo.

use super::outcome::Failure;

/// Bytes of filler after the 8-byte header (`ICMP_BUFSIZE`).
pub const PAYLOAD_LEN: usize = 128;
/// ICMPv4 echo reply.
pub const V4_ECHO_REPLY: u8 = 0;
/// ICMPv4 destination unreachable.
pub const V4_DEST_UNREACH: u8 = 3;
/// ICMPv4 echo request.
pub const V4_ECHO_REQUEST: u8 = 8;
/// ICMPv4 time exceeded.
pub const V4_TIME_EXCEEDED: u8 = 11;
/// ICMPv6 destination unreachable.
pub const V6_DEST_UNREACH: u8 = 1;
/// ICMPv6 time exceeded.
pub const V6_TIME_EXCEEDED: u8 = 3;
/// ICMPv6 echo request.
pub const V6_ECHO_REQUEST: u8 = 128;
/// ICMPv6 echo reply.
pub const V6_ECHO_REPLY: u8 = 129;

/// The Internet checksum (RFC 1071) of `data`.
pub fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        sum += u32::from(*last) << 8;
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Builds an echo request with keepalived's filler. For IPv4 the checksum
/// is filled in; for IPv6 the kernel computes it (it needs the
/// pseudo-header).
pub fn build_echo(v6: bool, id: u16, seq: u16) -> Vec<u8> {
    let mut p = Vec::with_capacity(8 + PAYLOAD_LEN);
    p.push(if v6 { V6_ECHO_REQUEST } else { V4_ECHO_REQUEST });
    p.push(0);
    p.extend_from_slice(&[0, 0]);
    p.extend_from_slice(&id.to_be_bytes());
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&super::udp::filler(PAYLOAD_LEN));
    if !v6 {
        let c = checksum(&p);
        p[2..4].copy_from_slice(&c.to_be_bytes());
    }
    p
}

/// Why an ICMP message could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum IcmpError {
    /// Shorter than the headers it announces.
    #[error("truncated: need {need} bytes, got {got}")]
    Truncated {
        /// Bytes needed.
        need: usize,
        /// Bytes present.
        got: usize,
    },
    /// An IPv4 header that is not version 4 or has a bad length.
    #[error("bad IPv4 header (first byte 0x{0:02x})")]
    BadIpHeader(u8),
}

/// An ICMP message's header fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IcmpMessage {
    /// Type.
    pub icmp_type: u8,
    /// Code.
    pub code: u8,
    /// For echo messages, the identifier (else the 5th and 6th bytes).
    pub id: u16,
    /// For echo messages, the sequence number.
    pub seq: u16,
    /// For errors, the identifier and sequence of the echo request the
    /// error quotes, if it quotes one.
    pub quoted_echo: Option<(u16, u16)>,
}

fn strip_ipv4(data: &[u8]) -> Result<&[u8], IcmpError> {
    let first = *data.first().ok_or(IcmpError::Truncated { need: 20, got: 0 })?;
    let ihl = (first & 0x0f) as usize * 4;
    if first >> 4 != 4 || ihl < 20 {
        return Err(IcmpError::BadIpHeader(first));
    }
    data.get(ihl..).ok_or(IcmpError::Truncated { need: ihl, got: data.len() })
}

/// Reads an ICMP message. `with_ip_header` is true for IPv4 raw sockets,
/// which deliver the IP header too.
pub fn parse(v6: bool, with_ip_header: bool, data: &[u8]) -> Result<IcmpMessage, IcmpError> {
    let icmp = if with_ip_header && !v6 { strip_ipv4(data)? } else { data };
    if icmp.len() < 8 {
        return Err(IcmpError::Truncated { need: 8, got: icmp.len() });
    }
    let id = u16::from_be_bytes([icmp[4], icmp[5]]);
    let seq = u16::from_be_bytes([icmp[6], icmp[7]]);
    let is_error = if v6 {
        matches!(icmp[0], V6_DEST_UNREACH | V6_TIME_EXCEEDED)
    } else {
        matches!(icmp[0], V4_DEST_UNREACH | V4_TIME_EXCEEDED)
    };
    let quoted_echo = if is_error {
        // The error quotes the offending packet's IP header and at least 8
        // bytes of its payload (RFC 792; RFC 4443 §3.1).
        let inner = &icmp[8..];
        let quoted = if v6 { inner.get(40..) } else { strip_ipv4(inner).ok() };
        quoted
            .filter(|q| q.len() >= 8 && q[0] == if v6 { V6_ECHO_REQUEST } else { V4_ECHO_REQUEST })
            .map(|q| (u16::from_be_bytes([q[4], q[5]]), u16::from_be_bytes([q[6], q[7]])))
    } else {
        None
    };
    Ok(IcmpMessage { icmp_type: icmp[0], code: icmp[1], id, seq, quoted_echo })
}

/// What a received ICMP message means for our echo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EchoVerdict {
    /// Not about our echo (raw sockets see every ICMP message).
    Ignore,
    /// Our echo was answered.
    Up,
    /// An error about our echo, or (on an unprivileged ping socket, which
    /// only delivers what concerns it) anything but an echo reply.
    Down(Failure),
}

/// Judges one received message. `expect` is our echo's identifier and
/// sequence on a raw socket; `None` on a ping socket, where the kernel
/// chooses the identifier and filters for us.
pub fn judge(v6: bool, with_ip_header: bool, expect: Option<(u16, u16)>, data: &[u8]) -> EchoVerdict {
    let Ok(m) = parse(v6, with_ip_header, data) else {
        return match expect {
            Some(_) => EchoVerdict::Ignore,
            None => EchoVerdict::Down(Failure::Icmp { icmp_type: data.first().copied().unwrap_or(0) }),
        };
    };
    let reply = if v6 { V6_ECHO_REPLY } else { V4_ECHO_REPLY };
    match expect {
        None if m.icmp_type == reply => EchoVerdict::Up,
        None => EchoVerdict::Down(Failure::Icmp { icmp_type: m.icmp_type }),
        Some(e) if m.icmp_type == reply && (m.id, m.seq) == e => EchoVerdict::Up,
        Some(e) if m.quoted_echo == Some(e) => EchoVerdict::Down(Failure::Icmp { icmp_type: m.icmp_type }),
        Some(_) => EchoVerdict::Ignore,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_has_valid_checksum() {
        let p = build_echo(false, 0x1234, 7);
        assert_eq!(p.len(), 136);
        assert_eq!(checksum(&p), 0);
        assert_eq!(&p[8..27], b"keepalived check - ");
        let p6 = build_echo(true, 1, 2);
        assert_eq!(p6[0], V6_ECHO_REQUEST);
    }

    #[test]
    fn judging_raw_and_dgram() {
        let mut reply = build_echo(false, 9, 3);
        reply[0] = V4_ECHO_REPLY;
        assert_eq!(judge(false, false, None, &reply), EchoVerdict::Up);
        assert_eq!(judge(false, false, Some((9, 3)), &reply), EchoVerdict::Up);
        assert_eq!(judge(false, false, Some((9, 4)), &reply), EchoVerdict::Ignore);
        let req = build_echo(false, 9, 3);
        assert_eq!(judge(false, false, Some((9, 3)), &req), EchoVerdict::Ignore);
        assert_eq!(judge(false, false, None, &req), EchoVerdict::Down(Failure::Icmp { icmp_type: 8 }));
        // A port unreachable quoting our echo, behind an IPv4 header.
        let mut ip = vec![0x45, 0, 0, 0, 0, 0, 0, 0, 64, 1, 0, 0, 127, 0, 0, 1, 127, 0, 0, 1];
        let mut err = vec![V4_DEST_UNREACH, 1, 0, 0, 0, 0, 0, 0];
        err.extend_from_slice(&ip);
        err.extend_from_slice(&req[..8]);
        ip.extend_from_slice(&err);
        assert_eq!(judge(false, true, Some((9, 3)), &ip), EchoVerdict::Down(Failure::Icmp { icmp_type: 3 }));
        assert_eq!(judge(false, true, Some((9, 4)), &ip), EchoVerdict::Ignore);
        assert_eq!(judge(false, true, Some((9, 4)), &[0x60]), EchoVerdict::Ignore);
    }
}
