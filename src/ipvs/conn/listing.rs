//! Listing connections: [`ConnEntry`] (one line of `ipvsadm -Lc`), the
//! `ipvsadm -Lnc` renderer, and the kernel's `/proc/net/ip_vs_conn` format
//! both ways, so that a kernel table and an lvskit table can be read into
//! the same type and compared.
//!
//! `ipvsadm -Lnc` (1.31) reads `/proc/net/ip_vs_conn` and prints each line as
//! `%-3s %-6s %-11s %-18s %-18s %s`: protocol, `mm:ss` left to expire (the
//! minutes not limited to two digits), state, and the client, virtual and
//! server endpoints (`a.b.c.d:port`, `[v6]:port`, each address in its own
//! family, so a tunnelled server of the other family shows as such).
//! [`render_ipvsadm`] reproduces it byte for byte; `tests/data/ipvsadm-lnc/`
//! holds outputs of the real tool it is checked against.

use std::fmt::{self, Write as _};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::sctp::SctpState;
use super::state::ConnState;
use super::tcp::TcpState;
use crate::ipvs::dest::ForwardMethod;

/// One connection or persistence template, as listed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ConnEntry {
    /// IP protocol number: 6, 17, 132, or 0 for a firewall-mark template.
    pub protocol: u8,
    /// Client address and port (for a template: the client network, port 0).
    pub client: SocketAddr,
    /// Virtual address and port (for a firewall-mark template: the mark in
    /// the address's first four bytes).
    pub virtual_addr: SocketAddr,
    /// Real server address and port.
    pub dest: SocketAddr,
    /// State.
    pub state: ConnState,
    /// A persistence template rather than a connection.
    pub template: bool,
    /// Whole seconds left before it expires.
    pub expires_secs: u32,
    /// Forwarding method (`None` when read from `/proc`, which does not
    /// show it).
    pub forward: Option<ForwardMethod>,
    /// A template controls this connection (`false` when read from `/proc`).
    pub controlled: bool,
    /// Connections this template controls (0 for connections, and when read
    /// from `/proc`).
    pub controls: u32,
}

impl ConnEntry {
    /// The protocol name the kernel prints (`ip_vs_proto_name`).
    pub fn protocol_name(&self) -> String {
        proto_name(self.protocol)
    }
}

fn proto_name(p: u8) -> String {
    match p {
        0 => "IP".into(),
        17 => "UDP".into(),
        6 => "TCP".into(),
        132 => "SCTP".into(),
        1 => "ICMP".into(),
        58 => "ICMPv6".into(),
        n => format!("IP_{n}"),
    }
}

fn proto_number(name: &str) -> Option<u8> {
    Some(match name {
        "IP" => 0,
        "UDP" => 17,
        "TCP" => 6,
        "SCTP" => 132,
        "ICMP" => 1,
        "ICMPv6" => 58,
        _ => name.strip_prefix("IP_")?.parse().ok()?,
    })
}

/// The header `ipvsadm -Lnc` prints.
pub const IPVSADM_HEADER: &str =
    "IPVS connection entries\npro expire state       source             virtual            destination\n";

/// Renders entries as `ipvsadm -Lnc` prints them (header included), in
/// the order given.
pub fn render_ipvsadm(entries: &[ConnEntry]) -> String {
    let mut s = String::from(IPVSADM_HEADER);
    for e in entries {
        let _ = writeln!(s, "{}", IpvsadmLine(e));
    }
    s
}

/// One `ipvsadm -Lnc` line (without the newline).
pub struct IpvsadmLine<'a>(pub &'a ConnEntry);

impl fmt::Display for IpvsadmLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = self.0;
        let expire = format!("{:02}:{:02}", e.expires_secs / 60, e.expires_secs % 60);
        write!(
            f,
            "{:<3} {:<6} {:<11} {:<18} {:<18} {}",
            e.protocol_name(),
            expire,
            e.state.name(),
            endpoint(&e.client),
            endpoint(&e.virtual_addr),
            endpoint(&e.dest)
        )
    }
}

/// An address and port as `ipvsadm -n` prints them: `a.b.c.d:port`, or
/// `[v6]:port` with the IPv6 address as glibc's `inet_ntop` writes it.
fn endpoint(a: &SocketAddr) -> String {
    match a.ip() {
        IpAddr::V4(v4) => format!("{v4}:{}", a.port()),
        IpAddr::V6(v6) => format!("[{}]:{}", ntop6(&v6), a.port()),
    }
}

/// An IPv6 address as glibc's `inet_ntop` writes it (`inet_ntop6` in
/// `resolv/inet_ntop.c`): the longest run of two or more zero groups (the
/// first of equals) becomes `::`, and an address whose first 96 bits are
/// zero apart from an `ffff` in the sixth group (IPv4-mapped) or whose
/// zero run is exactly the first six groups (IPv4-compatible) ends in
/// dotted IPv4. Rust's `Display` agrees except for the IPv4-compatible
/// form, which it writes in hex (`::102:304` for glibc's `::1.2.3.4`).
pub(crate) fn ntop6(a: &Ipv6Addr) -> String {
    let w = a.segments();
    if w[..6] == [0; 6] && w[6] != 0 {
        let [.., b12, b13, b14, b15] = a.octets();
        return format!("::{}", Ipv4Addr::new(b12, b13, b14, b15));
    }
    a.to_string()
}

/// The header line of `/proc/net/ip_vs_conn`.
pub const PROC_HEADER: &str = "Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Expires PEName PEData\n";

/// Renders entries in the kernel's `/proc/net/ip_vs_conn` format
/// (`ip_vs_conn_seq_show`), header included.
pub fn render_proc(entries: &[ConnEntry]) -> String {
    let mut s = String::from(PROC_HEADER);
    for e in entries {
        let _ = writeln!(s, "{}", ProcLine(e));
    }
    s
}

/// One `/proc/net/ip_vs_conn` line (without the newline).
pub struct ProcLine<'a>(pub &'a ConnEntry);

/// `%pI6`: eight groups of four lower-case hex digits.
fn full_v6(a: &Ipv6Addr) -> String {
    let g = a.segments();
    format!("{:04x}:{:04x}:{:04x}:{:04x}:{:04x}:{:04x}:{:04x}:{:04x}", g[0], g[1], g[2], g[3], g[4], g[5], g[6], g[7])
}

fn hex_or_v6(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(a) => format!("{:08X}", u32::from(a)),
        IpAddr::V6(a) => full_v6(&a),
    }
}

impl fmt::Display for ProcLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = self.0;
        write!(
            f,
            "{:<3} {} {:04X} {} {:04X} {} {:04X} {:<11} {:>7}",
            e.protocol_name(),
            hex_or_v6(e.client.ip()),
            e.client.port(),
            hex_or_v6(e.virtual_addr.ip()),
            e.virtual_addr.port(),
            hex_or_v6(e.dest.ip()),
            e.dest.port(),
            e.state.name(),
            e.expires_secs
        )
    }
}

/// Why a `/proc/net/ip_vs_conn` text could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("/proc/net/ip_vs_conn line {line} column {column}: {message}")]
pub struct ProcParseError {
    /// 1-based line.
    pub line: usize,
    /// 1-based column of the offending field.
    pub column: usize,
    /// What was wrong.
    pub message: String,
}

/// Reads the kernel's `/proc/net/ip_vs_conn` (header line first, as
/// [`render_proc`] writes it). Which lines are templates is not in the
/// file: a line counts as a template when its state is `ASSURED`, or `NONE`
/// with client port 0 or protocol `IP`, which is how the kernel creates
/// them. Persistence-engine columns, if present, are ignored.
pub fn parse_proc(text: &str) -> Result<Vec<ConnEntry>, ProcParseError> {
    let mut out = Vec::new();
    let mut lines = text.lines().enumerate();
    match lines.next() {
        Some((_, h)) if h.starts_with("Pro FromIP") => {}
        Some(_) => return Err(ProcParseError { line: 1, column: 1, message: "missing header line".into() }),
        None => return Ok(out),
    }
    for (n, line) in lines {
        if line.trim().is_empty() {
            continue;
        }
        out.push(parse_line(line).map_err(|(column, message)| ProcParseError { line: n + 1, column, message })?);
    }
    Ok(out)
}

fn parse_line(line: &str) -> Result<ConnEntry, (usize, String)> {
    let mut fields = Vec::with_capacity(11);
    let mut start = None;
    for (i, c) in line.char_indices() {
        match (c == ' ', start) {
            (false, None) => start = Some(i),
            (true, Some(s)) => {
                fields.push((s, &line[s..i]));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        fields.push((s, &line[s..]));
    }
    if fields.len() < 9 {
        return Err((line.len() + 1, format!("expected at least 9 fields, found {}", fields.len())));
    }
    let col = |k: usize| fields[k].0 + 1;
    let protocol = proto_number(fields[0].1).ok_or((col(0), format!("unknown protocol {:?}", fields[0].1)))?;
    let addr = |k: usize| -> Result<IpAddr, (usize, String)> {
        let s = fields[k].1;
        if s.contains(':') {
            s.parse::<Ipv6Addr>().map(IpAddr::V6).map_err(|_| (col(k), format!("bad IPv6 address {s:?}")))
        } else if s.len() == 8 {
            u32::from_str_radix(s, 16)
                .map(|v| IpAddr::V4(Ipv4Addr::from(v)))
                .map_err(|_| (col(k), format!("bad IPv4 address {s:?}")))
        } else {
            Err((col(k), format!("bad address {s:?}")))
        }
    };
    let port = |k: usize| -> Result<u16, (usize, String)> {
        let s = fields[k].1;
        if s.len() != 4 {
            return Err((col(k), format!("bad port {s:?}")));
        }
        u16::from_str_radix(s, 16).map_err(|_| (col(k), format!("bad port {s:?}")))
    };
    let client = SocketAddr::new(addr(1)?, port(2)?);
    let virtual_addr = SocketAddr::new(addr(3)?, port(4)?);
    let dest = SocketAddr::new(addr(5)?, port(6)?);
    if client.is_ipv4() != virtual_addr.is_ipv4() {
        return Err((col(3), "client and virtual addresses of different families".into()));
    }
    let name = fields[7].1;
    let expires_secs = fields[8].1.parse::<u32>().map_err(|_| (col(8), format!("bad expiry {:?}", fields[8].1)))?;
    let template = name == "ASSURED" || (name == "NONE" && (protocol == 0 || client.port() == 0));
    let state = if template {
        ConnState::Template { assured: name == "ASSURED" }
    } else {
        let bad = || (col(7), format!("unknown state {name:?} for {}", proto_name(protocol)));
        match protocol {
            6 => ConnState::Tcp(TcpState::ALL.into_iter().find(|s| s.name() == name).ok_or_else(bad)?),
            17 if name == "UDP" => ConnState::Udp,
            132 => ConnState::Sctp(SctpState::ALL.into_iter().find(|s| s.name() == name).ok_or_else(bad)?),
            _ => return Err(bad()),
        }
    };
    Ok(ConnEntry {
        protocol,
        client,
        virtual_addr,
        dest,
        state,
        template,
        expires_secs,
        forward: None,
        controlled: false,
        controls: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(proto: u8, c: &str, v: &str, d: &str, state: ConnState, secs: u32) -> ConnEntry {
        ConnEntry {
            protocol: proto,
            client: c.parse().unwrap(),
            virtual_addr: v.parse().unwrap(),
            dest: d.parse().unwrap(),
            template: matches!(state, ConnState::Template { .. }),
            state,
            expires_secs: secs,
            forward: None,
            controlled: false,
            controls: 0,
        }
    }

    #[test]
    fn ipvsadm_lines() {
        let rows = [
            e(
                6,
                "203.0.113.10:40000",
                "192.0.2.1:80",
                "198.51.100.10:8080",
                ConnState::Tcp(TcpState::Established),
                899,
            ),
            e(17, "[2001:db8::1]:5353", "[2001:db8::80]:53", "[2001:db8:1::2]:53", ConnState::Udp, 300),
            e(0, "203.0.113.0:0", "0.0.0.1:0", "198.51.100.10:0", ConnState::Template { assured: true }, 86400),
        ];
        let out = render_ipvsadm(&rows);
        let want = "IPVS connection entries\n\
pro expire state       source             virtual            destination\n\
TCP 14:59  ESTABLISHED 203.0.113.10:40000 192.0.2.1:80       198.51.100.10:8080\n\
UDP 05:00  UDP         [2001:db8::1]:5353 [2001:db8::80]:53  [2001:db8:1::2]:53\n\
IP  1440:00 ASSURED     203.0.113.0:0      0.0.0.1:0          198.51.100.10:0\n";
        assert_eq!(out, want);
    }

    #[test]
    fn mixed_family_like_ipvsadm() {
        let row = e(
            6,
            "203.0.113.10:58758",
            "192.0.2.1:8000",
            "[2001:db8:1::11]:8000",
            ConnState::Tcp(TcpState::SynRecv),
            54,
        );
        assert_eq!(
            IpvsadmLine(&row).to_string(),
            "TCP 00:54  SYN_RECV    203.0.113.10:58758 192.0.2.1:8000     [2001:db8:1::11]:8000"
        );
    }

    #[test]
    fn ipv6_like_glibc_inet_ntop() {
        let v6 = |s: &str| ntop6(&s.parse::<Ipv6Addr>().unwrap());
        // IPv4-mapped and IPv4-compatible addresses end in dotted quads.
        assert_eq!(v6("::ffff:1.2.3.4"), "::ffff:1.2.3.4");
        assert_eq!(v6("::ffff:0:0"), "::ffff:0.0.0.0");
        assert_eq!(v6("::1.2.3.4"), "::1.2.3.4");
        assert_eq!(v6("::0.1.0.0"), "::0.1.0.0");
        // A zero run of seven groups is not an IPv4 address.
        assert_eq!(v6("::1"), "::1");
        assert_eq!(v6("::0.0.0.5"), "::5");
        assert_eq!(v6("::"), "::");
        // Longest run compressed, the first of equal runs, none of length 1.
        assert_eq!(v6("2001:db8:0:0:1:0:0:1"), "2001:db8::1:0:0:1");
        assert_eq!(v6("2001:db8:0:1:1:1:1:1"), "2001:db8:0:1:1:1:1:1");
        assert_eq!(v6("1:0:0:0:1:0:0:0"), "1::1:0:0:0");
        assert_eq!(v6("64:ff9b::c000:201"), "64:ff9b::c000:201");
        let row = e(
            6,
            "[::ffff:203.0.113.7]:4000",
            "[::1.2.3.4]:80",
            "[2001:db8::10]:80",
            ConnState::Tcp(TcpState::Established),
            61,
        );
        assert_eq!(
            IpvsadmLine(&row).to_string(),
            "TCP 01:01  ESTABLISHED [::ffff:203.0.113.7]:4000 [::1.2.3.4]:80     [2001:db8::10]:80"
        );
    }

    #[test]
    fn proc_round_trip() {
        let rows = vec![
            e(6, "203.0.113.10:40000", "192.0.2.1:80", "198.51.100.10:8080", ConnState::Tcp(TcpState::TimeWait), 119),
            e(
                132,
                "[2001:db8::1]:5000",
                "[2001:db8::80]:5000",
                "198.51.100.1:5000",
                ConnState::Sctp(SctpState::CookieEchoed),
                61,
            ),
            e(6, "203.0.113.0:0", "192.0.2.1:80", "198.51.100.10:8080", ConnState::Template { assured: false }, 300),
        ];
        let text = render_proc(&rows);
        assert_eq!(text.lines().nth(1).unwrap(), "TCP CB00710A 9C40 C0000201 0050 C633640A 1F90 TIME_WAIT       119");
        assert_eq!(
            text.lines().nth(2).unwrap(),
            "SCTP 2001:0db8:0000:0000:0000:0000:0000:0001 1388 2001:0db8:0000:0000:0000:0000:0000:0080 1388 C6336401 1388 C-ECHOED         61"
        );
        assert_eq!(parse_proc(&text).unwrap(), rows);
    }

    #[test]
    fn proc_errors_name_line_and_column() {
        let bad = format!("{PROC_HEADER}TCP C0000201 0050 C0000201 0050 C0000201 0050 NOPE 1\n");
        let err = parse_proc(&bad).unwrap_err();
        assert_eq!((err.line, err.column), (2, 47));
        assert!(err.to_string().contains("unknown state"));
        assert_eq!(parse_proc("garbage\n").unwrap_err().line, 1);
        let short = format!("{PROC_HEADER}TCP C0000201\n");
        assert_eq!(parse_proc(&short).unwrap_err().line, 2);
        assert_eq!(parse_proc("").unwrap(), vec![]);
    }
}
