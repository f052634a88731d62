//! LVS: `virtual_server_group`, `virtual_server`, `real_server`, the
//! checkers and `SSL` (`keepalived/check/check_parser.c`, `check_data.c`,
//! `check_api.c` and one file per checker), then `validate_check_config`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use super::num::{read_int, read_unsigned};
use super::{Lowerer, raw};
use crate::config::diag::{Abort, ConfigErr};
use crate::config::keywords::Context;
use crate::config::model::{
    Checker, CheckerKind, Config, ConnectOptions, DnsCheck, FileCheck, GroupEntry, HttpCheck, MiscCheck, RawDirective,
    RealServer, Script, SmtpCheck, SmtpHost, SorryServer, SslContext, UdpCheck, Url, VirtualServer, VirtualServerGroup,
    VirtualServerKey,
};
use crate::config::source::Span;
use crate::config::tree::{Block, Directive};
use crate::ipvs::{
    DestConfig, Family, ForwardMethod, PersistMask, Persistence, Protocol, ServiceFlags, TunnelCsum, TunnelKind,
    TunnelParams,
};

/// `IPVS_SVC_PERSISTENT_TIMEOUT` (`keepalived/include/libipvs.h`): 6 minutes.
const PERSISTENT_TIMEOUT: u32 = 360;
/// `LVS_MAX_TIMEOUT`: 31 days.
const LVS_MAX_TIMEOUT: u32 = 86400 * 31;
/// `IPVS_WEIGHT_MAX` (`keepalived/include/ip_vs.h`): INT_MAX.
const WEIGHT_LIMIT: u32 = i32::MAX as u32;
/// The schedulers keepalived accepts (`lvs_schedulers[]`).
const SCHEDULERS: [&str; 14] =
    ["rr", "wrr", "lc", "wlc", "lblc", "sh", "mh", "dh", "fo", "ovf", "lblcr", "sed", "nq", "twos"];

#[derive(Debug)]
struct CheckerDraft {
    kind: CheckerKind,
    conn: Option<ConnDraft>,
    retry: Option<u32>,
    delay_before_retry: Option<Duration>,
    warmup: Option<Duration>,
    delay_loop: Option<Duration>,
    alpha: Option<bool>,
    log_all_failures: bool,
    default_retry: u32,
    /// `None`: the delay loop.
    default_delay_before_retry: Option<Duration>,
    span: Span,
}

#[derive(Debug, Clone)]
struct ConnDraft {
    dest: SocketAddr,
    bind: Option<SocketAddr>,
    bind_if: Option<String>,
    timeout: Option<Duration>,
    fwmark: Option<u32>,
}

#[derive(Debug)]
struct RsDraft {
    addr: IpAddr,
    port: u16,
    forward: Option<ForwardMethod>,
    weight: Option<u32>,
    upper: u32,
    lower: u32,
    inhibit: Option<bool>,
    alpha: Option<bool>,
    retry: Option<u32>,
    connect_timeout: Option<Duration>,
    delay_loop: Option<Duration>,
    warmup: Option<Duration>,
    delay_before_retry: Option<Duration>,
    smtp_alert: Option<bool>,
    virtualhost: Option<String>,
    notify_up: Option<Script>,
    notify_down: Option<Script>,
    checkers: Vec<CheckerDraft>,
    extra: Vec<RawDirective>,
    span: Span,
}

#[derive(Debug)]
struct VsDraft {
    key: VirtualServerKey,
    af: Option<Family>,
    protocol: Option<Protocol>,
    scheduler: Option<String>,
    flags: ServiceFlags,
    hashed: bool,
    forward: Option<ForwardMethod>,
    persistence_timeout: u32,
    granularity: Option<PersistMask>,
    pe_name: Option<String>,
    delay_loop: Duration,
    connect_timeout: Duration,
    retry: Option<u32>,
    delay_before_retry: Option<Duration>,
    warmup: Option<Duration>,
    ha_suspend: bool,
    alpha: bool,
    omega: bool,
    inhibit: bool,
    quorum: u32,
    hysteresis: u32,
    quorum_up: Option<Script>,
    quorum_down: Option<Script>,
    virtualhost: Option<String>,
    smtp_alert: Option<bool>,
    weight: u32,
    sorry: Option<(DestConfig, Option<ForwardMethod>, bool, Span)>,
    rs: Vec<RsDraft>,
    extra: Vec<RawDirective>,
    span: Span,
}

/// LVS state carried from reading to validation.
#[derive(Default)]
pub(crate) struct LvsReader {
    /// Virtual servers read and not validated yet: from the first that had
    /// to wait (it names a group, which may be defined later) on, all wait,
    /// so that they keep their order.
    vss: Vec<VsDraft>,
    /// The reports of validating the virtual servers validated as soon as
    /// read (they come after every report of reading).
    early: Vec<crate::config::diag::Diagnostic>,
}

/// `inet_stosockaddr`: an address (a `-range` or `/mask` suffix ignored)
/// and an optional port (1..=65535; all zeros means none).
fn stosockaddr(ip: &str, port: Option<&str>) -> Result<(IpAddr, u16), String> {
    let port = port.filter(|p| !p.bytes().all(|b| b == b'0') || p.is_empty());
    let port = match port {
        Some(p) => match read_unsigned(p, 1, 65535, u32::MAX as u64) {
            Ok(v) => v as u16,
            Err(e) => return Err(format!("port `{p}` {e}")),
        },
        None => 0,
    };
    // An address with a `:` anywhere is read as IPv6; IPv4 is read in one
    // pass up to the range or mask (and a part that is not IPv4 is not an
    // address of either family).
    let addr = match pton4_prefix(ip) {
        Some((a, end)) if !ip.as_bytes()[end..].contains(&b':') => Some(IpAddr::V4(a)),
        _ if ip.as_bytes().contains(&b':') => {
            let base = ip.bytes().position(|b| b == b'-' || b == b'/').map_or(ip, |i| &ip[..i]);
            base.parse::<std::net::Ipv6Addr>().ok().map(IpAddr::V6)
        }
        _ => None,
    };
    match addr {
        Some(a) => Ok((a, port)),
        None => Err(format!("`{ip}` is not an IP address")),
    }
}

/// [`pton4`] of `s` up to its first `-` or `/` (a range or a mask, which
/// `inet_stosockaddr` ignores), in one pass over the digits and dots, and
/// where that part ends.
fn pton4_prefix(s: &str) -> Option<(Ipv4Addr, usize)> {
    let end = s.bytes().position(|b| !(b.is_ascii_digit() || b == b'.')).unwrap_or(s.len());
    match s.as_bytes().get(end) {
        None | Some(b'-' | b'/') => pton4(&s[..end]).map(|a| (a, end)),
        Some(_) => None,
    }
}

fn pton4(s: &str) -> Option<Ipv4Addr> {
    // Exactly four dot-separated groups of 1 to 3 digits, each at most 255;
    // one pass over the bytes, no allocation (this runs for every address
    // of a large file).
    let mut o = [0u8; 4];
    let (mut n, mut v, mut digits) = (0usize, 0u16, 0usize);
    for &b in s.as_bytes() {
        match b {
            b'0'..=b'9' if digits < 3 => {
                v = v * 10 + u16::from(b - b'0');
                digits += 1;
            }
            b'.' if digits > 0 && n < 3 => {
                o[n] = u8::try_from(v).ok()?;
                (n, v, digits) = (n + 1, 0, 0);
            }
            _ => return None,
        }
    }
    if n != 3 || digits == 0 {
        return None;
    }
    o[3] = u8::try_from(v).ok()?;
    Some(Ipv4Addr::from(o))
}

impl LvsReader {
    pub(crate) fn root<'d>(&mut self, lw: &mut Lowerer<'_>, d: &Directive<'d>, config: &mut Config) {
        match d.name() {
            "virtual_server_group" => group(lw, d, config),
            "virtual_server" => self.virtual_server(lw, d, config),
            "SSL" => {
                if config.ssl.is_some() {
                    lw.general(d.span(), "SSL context already given; keepalived replaces it");
                }
                let mut ssl = SslContext::default();
                if let Some(b) = lw.block_of(d) {
                    for c in b.iter() {
                        let slot = match c.name() {
                            "password" => &mut ssl.password,
                            "ca" => &mut ssl.ca,
                            "certificate" => &mut ssl.certificate,
                            "key" => &mut ssl.key,
                            _ => {
                                lw.unknown(&c, Context::Ssl);
                                continue;
                            }
                        };
                        match c.arg(0) {
                            None => {
                                lw.general(c.span(), format!("SSL {} missing", c.name()));
                            }
                            Some(w) => {
                                if slot.is_some() {
                                    lw.general(
                                        c.span(),
                                        format!("SSL {} already given; keepalived replaces it", c.name()),
                                    );
                                }
                                *slot = Some(w.as_str().to_owned());
                            }
                        }
                    }
                }
                config.ssl = Some(ssl);
            }
            _ => unreachable!("dispatched by name"),
        }
    }

    fn virtual_server<'d>(&mut self, lw: &mut Lowerer<'_>, d: &Directive<'d>, config: &mut Config) {
        let Some(p1) = lw.arg(d, 0) else { return };
        let p2 = d.arg(1);
        let (key, af) = match p1.as_str() {
            "group" => {
                let Some(name) = lw.arg(d, 1) else { return };
                if !config.virtual_server_groups.iter().any(|g| g.name == name.as_str()) {
                    lw.lint(name.span(), format!("virtual_server_group `{}` is not defined", name.as_str())).help = Some(
                        "keepalived accepts this silently and configures nothing for this virtual server; define the group before using it".into(),
                    );
                }
                (VirtualServerKey::Group(name.as_str().to_owned()), None)
            }
            "fwmark" => {
                let Some(m) = lw.arg(d, 1) else { return };
                match read_unsigned(m.as_str(), 0, u32::MAX as u64, u32::MAX as u64) {
                    Ok(v) => (VirtualServerKey::Fwmark(v as u32), None),
                    Err(e) => {
                        lw.general(
                            m.span(),
                            format!("virtual server fwmark `{}` {e}; keepalived skips the block", m.as_str()),
                        );
                        return;
                    }
                }
            }
            ip => {
                match stosockaddr(ip, p2.map(|w| w.as_str())) {
                    Ok((a, port)) => (VirtualServerKey::Addr(SocketAddr::new(a, port)), Some(Family::of(a))),
                    Err(e) => {
                        lw.general(d.span(), format!("invalid virtual server address: {e}; keepalived skips the block")).help =
                        Some("write `virtual_server IP PORT`, `virtual_server fwmark MARK` or `virtual_server group NAME`".into());
                        return;
                    }
                }
            }
        };
        let mut vs = VsDraft {
            key,
            af,
            protocol: None,
            scheduler: None,
            flags: ServiceFlags::EMPTY,
            hashed: false,
            forward: None,
            persistence_timeout: 0,
            granularity: None,
            pe_name: None,
            delay_loop: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(5),
            retry: None,
            delay_before_retry: None,
            warmup: None,
            ha_suspend: false,
            alpha: false,
            omega: false,
            inhibit: false,
            quorum: 1,
            hysteresis: 0,
            quorum_up: None,
            quorum_down: None,
            virtualhost: None,
            smtp_alert: None,
            weight: 1,
            sorry: None,
            rs: Vec::new(),
            extra: Vec::new(),
            span: d.span(),
        };
        if let Some(block) = lw.block_of(d) {
            for c in block.iter() {
                vs_keyword(lw, &c, &mut vs, config);
            }
        }
        // vs_end_handler: the sorry server's family.
        if let Some((dest, fwd, _, span)) = &vs.sorry {
            if !matches!(fwd, Some(ForwardMethod::Tunnel(_))) {
                let f = Family::of(dest.addr);
                match vs.af {
                    None => vs.af = Some(f),
                    Some(af) if af != f => {
                        lw.general(*span, format!("address family of the virtual server and the sorry server {} don't match; keepalived skips the sorry server", dest.addr));
                        vs.sorry = None;
                    }
                    _ => {}
                }
            }
        }
        if vs.af.is_none() && !matches!(vs.key, VirtualServerKey::Group(_)) {
            let fams: Vec<Family> =
                vs.sorry.iter().map(|s| Family::of(s.0.addr)).chain(vs.rs.iter().map(|r| Family::of(r.addr))).collect();
            vs.af = Some(match fams.first() {
                Some(f) if fams.iter().all(|x| x == f) => *f,
                _ => Family::V4,
            });
        }
        // Validating a virtual server needs only what is read before it
        // (`global_defs` comes first), except for a group's definition:
        // validate now, while its draft is at hand, and keep the reports for
        // their place after all reading.
        if !self.vss.is_empty() || matches!(vs.key, VirtualServerKey::Group(_)) {
            self.vss.push(vs);
            return;
        }
        std::mem::swap(&mut lw.diags, &mut self.early);
        validate_vs(lw, config, vs);
        std::mem::swap(&mut lw.diags, &mut self.early);
    }
}

fn group<'d>(lw: &mut Lowerer<'_>, d: &Directive<'d>, config: &mut Config) {
    let Some(name) = lw.arg(d, 0) else { return };
    let name = name.as_str().to_owned();
    let mut g = VirtualServerGroup { name: name.clone(), entries: Vec::new(), span: d.span() };
    let (mut v4, mut v6, mut fw_no_family) = (false, false, false);
    if d.nargs() > 1 {
        let w = d.arg(1).expect("nargs > 1");
        lw.general(w.span(), format!("block virtual_server_group has extra parameters starting `{}`", w.as_str()));
    }
    let lines: Vec<Directive<'d>> = match d.block() {
        Some(b) => b.iter().collect(),
        None => {
            lw.report(ConfigErr::MissingBob, d.span(), "`virtual_server_group` expects a `{` block");
            Vec::new()
        }
    };
    for l in lines {
        let first = l.name();
        if first == "fwmark" {
            let Some(m) = lw.arg(&l, 0) else { continue };
            let mark = match read_unsigned(m.as_str(), 0, u32::MAX as u64, u32::MAX as u64) {
                Ok(v) => v as u32,
                Err(e) => {
                    lw.general(m.span(), format!("({name}) fwmark `{}` {e}; keepalived ignores it", m.as_str()));
                    continue;
                }
            };
            let family = match l.arg(1).map(|w| w.as_str()) {
                None => {
                    fw_no_family = true;
                    None
                }
                Some("inet") => {
                    v4 = true;
                    Some(Family::V4)
                }
                Some("inet6") => {
                    v6 = true;
                    Some(Family::V6)
                }
                Some(other) => {
                    lw.general(
                        l.span(),
                        format!("({name}) fwmark {mark} family `{other}` unknown; keepalived ignores it"),
                    );
                    continue;
                }
            };
            g.entries.push(GroupEntry::Fwmark { mark, family });
            continue;
        }
        let port_s = l.arg(0).map(|w| w.as_str());
        let (first_addr, port) = match stosockaddr(first, port_s) {
            Ok(x) => x,
            Err(e) => {
                lw.general(l.span(), format!("invalid virtual server group address: {e}; keepalived skips it"));
                continue;
            }
        };
        let mut last = first_addr;
        if let Some((_, mask)) = first.split_once('/') {
            let max = if first_addr.is_ipv6() { 128 } else { 32 };
            match mask.parse::<u32>() {
                Ok(m) if m > 0 && m <= max => {
                    let net = ipnet::IpNet::new(first_addr, m as u8).expect("prefix checked");
                    if net.network() != first_addr {
                        lw.general(
                            l.name_span(),
                            format!("address mask bits not empty in `{first}`; keepalived skips it"),
                        );
                        continue;
                    }
                    last = net.broadcast();
                }
                _ => {
                    lw.general(l.name_span(), format!("invalid netmask in `{first}`; keepalived skips it"));
                    continue;
                }
            }
        } else if let Some((_, end)) = first.split_once('-') {
            let full_end = (first_addr.is_ipv4() && end.contains('.')) || (first_addr.is_ipv6() && end.contains(':'));
            if full_end {
                match stosockaddr(end, None) {
                    Ok((e, _)) if e.is_ipv4() == first_addr.is_ipv4() => {
                        if e < first_addr {
                            lw.general(
                                l.name_span(),
                                format!("address range end is less than its start in `{first}`; keepalived skips it"),
                            );
                            continue;
                        }
                        last = e;
                    }
                    Ok(_) => {
                        lw.general(
                            l.name_span(),
                            format!("range address families do not match in `{first}`; keepalived skips it"),
                        );
                        continue;
                    }
                    Err(_) => {
                        lw.general(l.name_span(), format!("invalid range end in `{first}`; keepalived skips it"));
                        continue;
                    }
                }
            } else {
                let radix = if first_addr.is_ipv6() { 16 } else { 10 };
                let digits: String = end.chars().take_while(|c| c.is_digit(radix)).collect();
                let val = u32::from_str_radix(if digits.is_empty() { "0" } else { &digits }, radix).unwrap_or(u32::MAX);
                if digits.len() != end.len() {
                    lw.report(
                        ConfigErr::InvalidNumber,
                        l.name_span(),
                        format!("virtual server group range `{first}` has extra characters at the end"),
                    );
                    continue;
                }
                let limit = if first_addr.is_ipv6() { 0xffff } else { 255 };
                if val > limit {
                    lw.report(
                        ConfigErr::InvalidNumber,
                        l.name_span(),
                        format!("virtual server group range `{first}` end is too large"),
                    );
                    continue;
                }
                match first_addr {
                    IpAddr::V4(a) => {
                        let o = a.octets();
                        if o[3] as u32 >= val {
                            lw.general(
                                l.name_span(),
                                format!(
                                    "address range end is not greater than its start in `{first}`; keepalived skips it"
                                ),
                            );
                            continue;
                        }
                        last = IpAddr::V4(Ipv4Addr::new(o[0], o[1], o[2], val as u8));
                    }
                    IpAddr::V6(a) => {
                        let mut s = a.segments();
                        if s[7] as u32 >= val {
                            lw.general(
                                l.name_span(),
                                format!(
                                    "address range end is not greater than its start in `{first}`; keepalived skips it"
                                ),
                            );
                            continue;
                        }
                        s[7] = val as u16;
                        last = IpAddr::V6(s.into());
                    }
                }
            }
        }
        if first_addr.is_ipv4() {
            v4 = true;
        } else {
            v6 = true;
        }
        g.entries.push(GroupEntry::Range { first: first_addr, last, port });
    }
    if g.entries.is_empty() {
        lw.general(d.span(), format!("virtual server group {name} has no entries; keepalived removes it"));
        return;
    }
    if v4 && v6 && fw_no_family {
        lw.general(
            d.span(),
            format!(
                "virtual server group {name} cannot have IPv4, IPv6 and a fwmark without family; keepalived removes it"
            ),
        );
        return;
    }
    config.virtual_server_groups.push(g);
}

/// `svr_forwarding_handler`: `NAT`, `DR` or `TUN [type ipip|gue|gre] [port
/// N] [nocsum|csum|remcsum]`. keepalived sets the method before it reads
/// the tunnel options, so a bad option still leaves TUN (with ipip).
fn forwarding<'d>(lw: &mut Lowerer<'_>, c: &Directive<'d>, what: &str) -> Option<ForwardMethod> {
    let w = lw.arg(c, 0)?;
    let base = match w.as_str() {
        "NAT" => ForwardMethod::Masq,
        "DR" => ForwardMethod::Route,
        "TUN" => ForwardMethod::Tunnel(TunnelParams::default()),
        other => {
            lw.general(w.span(), format!("unknown forwarding method `{other}` for {what} server")).help =
                Some("the methods are NAT, DR and TUN".into());
            return None;
        }
    };
    // keepalived starts from ipip, no port, no checksum on every line.
    let (mut kind, mut port, mut csum) = (TunnelKind::Ipip, 0u16, TunnelCsum::NoCsum);
    let n = c.nargs();
    let mut i = 1;
    while i < n {
        let o = c.arg(i).expect("i < n");
        match o.as_str() {
            "type" => {
                let Some(t) = c.arg(i + 1) else {
                    lw.general(o.span(), format!("missing tunnel type for {what} server"));
                    return Some(base);
                };
                kind = match t.as_str() {
                    "ipip" => TunnelKind::Ipip,
                    "gue" => TunnelKind::Gue,
                    "gre" => TunnelKind::Gre,
                    other => {
                        lw.general(t.span(), format!("unknown tunnel type `{other}` for {what} server"));
                        return Some(base);
                    }
                };
                i += 1;
            }
            "port" => {
                let Some(p) = c.arg(i + 1) else {
                    lw.general(o.span(), format!("missing port for {what} server gue tunnel"));
                    return Some(base);
                };
                match read_unsigned(p.as_str(), 1, 65535, u32::MAX as u64) {
                    Ok(v) => port = v as u16,
                    Err(e) => {
                        lw.general(p.span(), format!("gue tunnel port `{}` {e}", p.as_str()));
                        return Some(base);
                    }
                }
                i += 1;
            }
            "nocsum" => csum = TunnelCsum::NoCsum,
            "csum" => csum = TunnelCsum::Csum,
            "remcsum" => csum = TunnelCsum::RemCsum,
            other => {
                lw.general(o.span(), format!("invalid tunnel option `{other}` for {what} server"));
                return Some(base);
            }
        }
        i += 1;
    }
    if (kind == TunnelKind::Gue) != (port != 0) {
        lw.general(c.span(), "gue tunnels require a port, and other tunnels cannot have one");
        return Some(base);
    }
    if kind == TunnelKind::Ipip && csum != TunnelCsum::NoCsum {
        lw.general(c.span(), "ipip tunnels do not support a checksum option");
        return Some(base);
    }
    if kind == TunnelKind::Gre && csum == TunnelCsum::RemCsum {
        lw.general(c.span(), "gre tunnels do not support remote checksum");
        return Some(base);
    }
    Some(match base {
        ForwardMethod::Tunnel(_) => ForwardMethod::Tunnel(TunnelParams { kind, port, csum }),
        other => other,
    })
}

fn vs_keyword<'d>(lw: &mut Lowerer<'_>, c: &Directive<'d>, vs: &mut VsDraft, config: &Config) {
    lw.extra_words(c, Context::VirtualServer);
    match c.name() {
        // The most frequent first (the arms are tried in order).
        "real_server" => {
            real_server(lw, c, vs, config);
        }
        "ip_family" => {
            let Some(w) = lw.arg(c, 0) else { return };
            let af = match w.as_str() {
                "inet" => Family::V4,
                "inet6" => Family::V6,
                other => {
                    lw.general(w.span(), format!("unknown address family `{other}`")).help =
                        Some("write inet or inet6".into());
                    return;
                }
            };
            if vs.af.is_some_and(|f| f != af) {
                lw.general(w.span(), format!("virtual server family {} conflicts with the server family", w.as_str()));
                return;
            }
            vs.af = Some(af);
        }
        "retry" => {
            if let Some(v) = lw.unsigned(c, 0, 1, u32::MAX, "keepalived ignores it") {
                vs.retry = Some(v);
            }
        }
        "delay_before_retry" => {
            if let Some(v) = lw.timer(c, 0, 0, u64::MAX - 1, "keepalived ignores it") {
                vs.delay_before_retry = Some(v);
            }
        }
        "warmup" => {
            if let Some(v) = lw.timer(c, 0, 0, u64::MAX - 1, "keepalived ignores it") {
                vs.warmup = Some(v);
            }
        }
        "connect_timeout" => {
            if let Some(v) = lw.timer(c, 0, 1, u32::MAX as u64, "keepalived ignores it") {
                vs.connect_timeout = v;
            }
        }
        "delay_loop" => {
            if let Some(v) = lw.timer(c, 0, 1, u64::MAX - 1, "keepalived ignores it") {
                vs.delay_loop = v;
            }
        }
        "inhibit_on_failure" => vs.inhibit = true,
        "lb_algo" | "lvs_sched" => {
            let Some(w) = lw.arg(c, 0) else { return };
            if !SCHEDULERS.contains(&w.as_str()) {
                lw.general(w.span(), format!("invalid lvs_sched `{}`; keepalived ignores it", w.as_str())).help =
                    Some(format!("the schedulers are {}", SCHEDULERS.join(", ")));
                return;
            }
            vs.scheduler = Some(w.as_str().to_owned());
        }
        "hashed" => vs.hashed = true,
        name @ ("ops" | "flag-1" | "flag-2" | "flag-3") => {
            vs.flags |= ServiceFlags::from_name(name).expect("one of the flag names matched");
        }
        "sh-port" | "sh-fallback" | "mh-port" | "mh-fallback" => {
            let name = c.name();
            let sched = vs.scheduler.as_deref().unwrap_or("");
            if sched == "sh" || sched == "mh" {
                // keepalived sets the flag only when the prefix matches the
                // scheduler (`sh-port` does nothing for mh, and vice versa).
                if name.starts_with(sched) {
                    vs.flags |= ServiceFlags::from_name(name).expect("one of the flag names matched");
                }
            } else {
                lw.general(
                    c.name_span(),
                    format!("`{name}` only applies to the sh and mh schedulers; keepalived ignores it"),
                )
                .help = Some("set `lvs_sched sh` (or mh) before this flag".into());
            }
        }
        "lb_kind" | "lvs_method" => {
            if let Some(f) = forwarding(lw, c, "virtual") {
                vs.forward = Some(f);
            }
        }
        "persistence_engine" => {
            let Some(w) = lw.arg(c, 0) else { return };
            let mut n = w.as_str().to_owned();
            if n.len() > 15 {
                lw.general(w.span(), format!("persistence engine name `{n}` is too long; keepalived truncates it"));
                n.truncate(15);
            }
            vs.pe_name = Some(n);
        }
        "persistence_timeout" => match c.arg(0) {
            None => vs.persistence_timeout = PERSISTENT_TIMEOUT,
            Some(_) => {
                if let Some(v) = lw.unsigned(c, 0, 1, LVS_MAX_TIMEOUT, "keepalived ignores it") {
                    vs.persistence_timeout = v;
                }
            }
        },
        "persistence_granularity" => {
            let Some(w) = lw.arg(c, 0) else { return };
            let af = vs.af.unwrap_or(if w.as_str().contains('.') { Family::V4 } else { Family::V6 });
            match af {
                Family::V6 => match read_unsigned(w.as_str(), 1, 128, u32::MAX as u64) {
                    Ok(v) => vs.granularity = Some(PersistMask::V6(v as u8)),
                    Err(_) => {
                        lw.general(w.span(), format!("invalid IPv6 persistence_granularity `{}`", w.as_str())).help =
                            Some("give a prefix length 1..=128".into());
                        return;
                    }
                },
                Family::V4 => match pton4(w.as_str()) {
                    Some(m) => vs.granularity = Some(PersistMask::V4(m)),
                    None => {
                        lw.general(w.span(), format!("invalid IPv4 persistence_granularity `{}`", w.as_str())).help =
                            Some("give a netmask like 255.255.255.0".into());
                        return;
                    }
                },
            }
            if vs.af.is_none() {
                vs.af = Some(af);
            }
            if vs.persistence_timeout == 0 {
                vs.persistence_timeout = PERSISTENT_TIMEOUT;
            }
        }
        "protocol" => {
            let Some(w) = lw.arg(c, 0) else { return };
            vs.protocol = match w.as_str().to_ascii_uppercase().as_str() {
                "TCP" => Some(Protocol::Tcp),
                "UDP" => Some(Protocol::Udp),
                "SCTP" => Some(Protocol::Sctp),
                _ => {
                    lw.general(w.span(), format!("unknown protocol `{}`; keepalived ignores it", w.as_str())).help =
                        Some("the protocols are TCP, UDP and SCTP".into());
                    return;
                }
            };
        }
        "ha_suspend" => vs.ha_suspend = true,
        "smtp_alert" => {
            if let Some(b) = lw.opt_bool(c) {
                vs.smtp_alert = Some(b);
            }
        }
        "virtualhost" => {
            if let Some(v) = lw.opt_string(c, "virtual server virtualhost missing") {
                vs.virtualhost = Some(v);
            }
        }
        "snmp_name" => {
            if c.nargs() != 1 {
                lw.general(c.span(), "virtual server snmp_name missing or extra parameters");
            }
            vs.extra.push(raw(c));
        }
        "alpha" => vs.alpha = true,
        "omega" => vs.omega = true,
        "quorum_up" | "quorum_down" => {
            let slot = if c.name() == "quorum_up" { &mut vs.quorum_up } else { &mut vs.quorum_down };
            if slot.is_some() {
                lw.general(c.span(), format!("{} script already given; keepalived ignores this one", c.name()));
                return;
            }
            if let Some((s, _)) = lw.script(c) {
                if c.name() == "quorum_up" {
                    vs.quorum_up = Some(s);
                } else {
                    vs.quorum_down = Some(s);
                }
            }
        }
        "quorum" => {
            vs.quorum = lw.unsigned(c, 0, 1, u32::MAX, "keepalived uses 1").unwrap_or(1);
        }
        "hysteresis" => {
            if let Some(v) = lw.unsigned(c, 0, 0, u32::MAX, "keepalived ignores it") {
                vs.hysteresis = v;
            }
        }
        "weight" => {
            if let Some(v) = lw.unsigned(c, 0, 1, WEIGHT_LIMIT, "keepalived ignores it") {
                vs.weight = v;
            }
        }
        "sorry_server" => {
            let Some(ip) = lw.arg(c, 0) else { return };
            match stosockaddr(ip.as_str(), c.arg(1).map(|w| w.as_str())) {
                Ok((a, port)) => {
                    let mut d = DestConfig::new(a, port, vs.forward.unwrap_or(ForwardMethod::Masq));
                    d.weight = 1;
                    vs.sorry = Some((d, vs.forward, false, c.span()));
                }
                Err(e) => {
                    lw.general(c.span(), format!("invalid sorry server: {e}; keepalived skips it"));
                }
            }
        }
        "sorry_server_inhibit" => match &mut vs.sorry {
            Some(s) => s.2 = true,
            None => {
                lw.general(c.span(), "sorry_server_inhibit used before or without sorry_server; keepalived ignores it");
            }
        },
        "sorry_server_lvs_method" => {
            if vs.sorry.is_none() {
                lw.general(c.span(), "sorry_server_lvs_method used without sorry_server; keepalived ignores it");
                return;
            }
            if let Some(f) = forwarding(lw, c, "sorry") {
                if let Some(s) = &mut vs.sorry {
                    s.1 = Some(f);
                    s.0.forward = f;
                }
            }
        }
        _ => lw.other(c, Context::VirtualServer, &mut vs.extra),
    }
}

/// Reads a `real_server` block into `vs.rs` (built in place: the draft is
/// large).
fn real_server<'d>(lw: &mut Lowerer<'_>, d: &Directive<'d>, vs: &mut VsDraft, config: &Config) -> Option<()> {
    let ip = lw.arg(d, 0)?;
    let (addr, port) = match stosockaddr(ip.as_str(), d.arg(1).map(|w| w.as_str())) {
        Ok(x) => x,
        Err(e) => {
            lw.general(d.span(), format!("invalid real server: {e}; keepalived skips the block"));
            return None;
        }
    };
    vs.rs.push(RsDraft {
        addr,
        port,
        forward: None,
        weight: None,
        upper: 0,
        lower: 0,
        inhibit: None,
        alpha: None,
        retry: None,
        connect_timeout: None,
        delay_loop: None,
        warmup: None,
        delay_before_retry: None,
        smtp_alert: None,
        virtualhost: None,
        notify_up: None,
        notify_down: None,
        checkers: Vec::new(),
        extra: Vec::new(),
        span: d.span(),
    });
    let rs = vs.rs.last_mut().expect("just pushed");
    if let Some(block) = lw.block_of(d) {
        for c in block.iter() {
            rs_keyword(lw, &c, rs, config);
        }
    }
    // rs_end_handler: the family must match unless tunnelled.
    let fwd = rs.forward.or(vs.forward);
    if !matches!(fwd, Some(ForwardMethod::Tunnel(_))) {
        let f = Family::of(addr);
        match vs.af {
            None => vs.af = Some(f),
            Some(af) if af != f => {
                lw.general(d.span(), format!("address family of the virtual server ({af}) and the real server {addr} ({f}) don't match; keepalived skips the real server"))
                    .help = Some("only tunnelled (TUN) real servers may be of the other family".into());
                vs.rs.pop();
                return None;
            }
            _ => {}
        }
    }
    Some(())
}

fn rs_keyword<'d>(lw: &mut Lowerer<'_>, c: &Directive<'d>, rs: &mut RsDraft, config: &Config) {
    lw.extra_words(c, Context::RealServer);
    match c.name() {
        // The most frequent first (the arms are tried in order).
        "TCP_CHECK" | "HTTP_GET" | "SSL_GET" | "MISC_CHECK" | "SMTP_CHECK" | "DNS_CHECK" | "UDP_CHECK"
        | "PING_CHECK" | "FILE_CHECK" | "BFD_CHECK" => {
            let rs_dest = SocketAddr::new(rs.addr, rs.port);
            let mut slot = CheckerDraft::placeholder(c.span());
            if checker(lw, c, rs_dest, config, &mut slot) {
                // Most real servers have one checker: a first push would
                // otherwise make room for four.
                rs.checkers.reserve_exact(1);
                rs.checkers.push(slot);
            }
        }
        "weight" => {
            if let Some(v) = lw.unsigned(c, 0, 0, WEIGHT_LIMIT, "keepalived ignores it") {
                rs.weight = Some(v);
            }
        }
        "lvs_method" => {
            if let Some(f) = forwarding(lw, c, "real") {
                rs.forward = Some(f);
            }
        }
        "uthreshold" => {
            if let Some(v) = lw.unsigned(c, 0, 0, u32::MAX, "keepalived ignores it") {
                rs.upper = v;
            }
        }
        "lthreshold" => {
            if let Some(v) = lw.unsigned(c, 0, 0, u32::MAX, "keepalived ignores it") {
                rs.lower = v;
            }
        }
        "inhibit_on_failure" => {
            if let Some(b) = lw.opt_bool(c) {
                rs.inhibit = Some(b);
            }
        }
        "notify_up" | "notify_down" => {
            let up = c.name() == "notify_up";
            if (up && rs.notify_up.is_some()) || (!up && rs.notify_down.is_some()) {
                lw.general(c.span(), format!("{} script already given; keepalived ignores this one", c.name()));
                return;
            }
            if let Some((s, _)) = lw.script(c) {
                if up {
                    rs.notify_up = Some(s);
                } else {
                    rs.notify_down = Some(s);
                }
            }
        }
        "alpha" => {
            if let Some(b) = lw.opt_bool(c) {
                rs.alpha = Some(b);
            }
        }
        "retry" => {
            if let Some(v) = lw.unsigned(c, 0, 1, u32::MAX, "keepalived ignores it") {
                rs.retry = Some(v);
            }
        }
        "delay_before_retry" => {
            if let Some(v) = lw.timer(c, 0, 0, u64::MAX - 1, "keepalived ignores it") {
                rs.delay_before_retry = Some(v);
            }
        }
        "warmup" => {
            if let Some(v) = lw.timer(c, 0, 0, u64::MAX - 1, "keepalived ignores it") {
                rs.warmup = Some(v);
            }
        }
        "connect_timeout" => {
            if let Some(v) = lw.timer(c, 0, 1, u32::MAX as u64, "keepalived ignores it") {
                rs.connect_timeout = Some(v);
            }
        }
        "delay_loop" => {
            if let Some(v) = lw.timer(c, 0, 1, u64::MAX - 1, "keepalived ignores it") {
                rs.delay_loop = Some(v);
            }
        }
        "smtp_alert" => {
            if let Some(b) = lw.opt_bool(c) {
                rs.smtp_alert = Some(b);
            }
        }
        "virtualhost" => {
            if let Some(v) = lw.opt_string(c, "real server virtualhost missing") {
                rs.virtualhost = Some(v);
            }
        }
        "snmp_name" => {
            if c.nargs() != 1 {
                lw.general(c.span(), "real server snmp_name missing or extra parameters");
            }
            rs.extra.push(raw(c));
        }
        _ => lw.other(c, Context::RealServer, &mut rs.extra),
    }
}

impl CheckerDraft {
    /// What a checker slot holds until `checker` fills it.
    fn placeholder(span: Span) -> Self {
        CheckerDraft {
            kind: CheckerKind::Tcp,
            conn: None,
            retry: None,
            delay_before_retry: None,
            warmup: None,
            delay_loop: None,
            alpha: None,
            log_all_failures: false,
            default_retry: 1,
            default_delay_before_retry: None,
            span,
        }
    }
}

/// Reads a checker block into `ch` (a slot in the real server's list, so
/// that the large draft is built in place). False if keepalived drops the
/// checker.
fn checker<'d>(
    lw: &mut Lowerer<'_>,
    d: &Directive<'d>,
    rs_dest: SocketAddr,
    config: &Config,
    ch: &mut CheckerDraft,
) -> bool {
    let ctx = match d.name() {
        "TCP_CHECK" => Context::TcpCheck,
        "HTTP_GET" => Context::HttpGet,
        "SSL_GET" => Context::SslGet,
        "MISC_CHECK" => Context::MiscCheck,
        "SMTP_CHECK" => Context::SmtpCheck,
        "DNS_CHECK" => Context::DnsCheck,
        "UDP_CHECK" => Context::UdpCheck,
        "PING_CHECK" => Context::PingCheck,
        "FILE_CHECK" => Context::FileCheck,
        _ => Context::BfdCheck,
    };
    let has_conn = !matches!(ctx, Context::MiscCheck | Context::FileCheck | Context::BfdCheck);
    *ch = CheckerDraft {
        conn: has_conn.then_some(ConnDraft { dest: rs_dest, bind: None, bind_if: None, timeout: None, fwmark: None }),
        default_retry: match ctx {
            Context::DnsCheck => 3,
            Context::MiscCheck => 0,
            _ => 1,
        },
        default_delay_before_retry: match ctx {
            Context::HttpGet | Context::SslGet => Some(Duration::from_secs(3)),
            Context::DnsCheck => None,
            _ => Some(Duration::from_secs(1)),
        },
        ..CheckerDraft::placeholder(d.span())
    };
    let mut http = HttpCheck {
        urls: Vec::new(),
        virtualhost: None,
        // The defaults of other checker types are only built for them
        // (allocating them for every TCP_CHECK shows at 10 000 servers).
        http_protocol: if matches!(ctx, Context::HttpGet | Context::SslGet) { "1.0".into() } else { String::new() },
        enable_sni: false,
        fast_recovery: false,
    };
    let mut misc: Option<Script> = None;
    let mut misc_timeout = None;
    let mut misc_dynamic = false;
    let mut misc_user = None;
    let mut smtp = SmtpCheck {
        helo_name: if ctx == Context::SmtpCheck { "smtpchecker.keepalived.org".into() } else { String::new() },
        hosts: Vec::new(),
    };
    let mut dns = if ctx == Context::DnsCheck {
        DnsCheck { qtype: "SOA".into(), name: ".".into() }
    } else {
        DnsCheck { qtype: String::new(), name: String::new() }
    };
    let mut udp = UdpCheck::default();
    let mut file: Option<FileCheck> = None;
    let mut file_weight: Option<(i32, bool)> = None;
    let mut bfd_name: Option<String> = None;
    let mut had_url = false;
    let block = lw.block_of(d);
    if let Some(block) = block {
        for c in block.iter() {
            lw.extra_words(&c, ctx);
            if has_conn && conn_keyword(lw, &c, ch.conn.as_mut().expect("has_conn")) {
                continue;
            }
            if ctx != Context::FileCheck && ctx != Context::BfdCheck && common_keyword(lw, &c, ch) {
                continue;
            }
            match (ctx, c.name()) {
                (_, "nb_get_retry") => {
                    let known = matches!(ctx, Context::HttpGet | Context::SslGet);
                    if known {
                        lw.general(c.name_span(), "`nb_get_retry` is deprecated; use `retry`").help =
                            Some("keepalived reads it as `retry`".into());
                    } else {
                        lw.report(ConfigErr::UnknownKeyword, c.name_span(), format!("unknown keyword `nb_get_retry` in {}", ctx.name())).help = Some(
                            "`nb_get_retry` is the deprecated name of `retry`, which keepalived only accepts in HTTP_GET and SSL_GET (it ignores this line); lvskit reads it as `retry` here too".into(),
                        );
                    }
                    let Some(w) = lw.arg(&c, 0) else { continue };
                    match read_unsigned(w.as_str(), 0, u32::MAX as u64, u32::MAX as u64) {
                        Ok(v) => ch.retry = Some(v as u32),
                        Err(e) => {
                            lw.general(w.span(), format!("`nb_get_retry` value `{}` {e}", w.as_str()));
                        }
                    }
                }
                (Context::HttpGet | Context::SslGet, "virtualhost") => {
                    if let Some(v) = lw.opt_string(&c, "HTTP_GET virtualhost name missing") {
                        http.virtualhost = Some(v);
                    }
                }
                (Context::HttpGet | Context::SslGet, "http_protocol") => match c.arg(0).map(|w| w.as_str()) {
                    None => {
                        lw.general(c.span(), "missing http_protocol version");
                    }
                    Some(v @ ("1.0" | "1.1")) => http.http_protocol = v.to_owned(),
                    Some("1.0C" | "1.0c") => http.http_protocol = "1.0C".into(),
                    Some(v) => {
                        lw.general(c.span(), format!("invalid http_protocol version `{v}`")).help =
                            Some("the versions are 1.0, 1.1 and 1.0C".into());
                    }
                },
                (Context::HttpGet | Context::SslGet, "enable_sni") => {
                    if let Some(b) = lw.opt_bool(&c) {
                        http.enable_sni = b;
                    }
                }
                (Context::HttpGet | Context::SslGet, "fast_recovery") => {
                    if let Some(b) = lw.opt_bool(&c) {
                        http.fast_recovery = b;
                    }
                }
                (Context::HttpGet | Context::SslGet, "url") => {
                    had_url = true;
                    if let Some(u) = url(lw, &c) {
                        http.urls.push(u);
                    }
                }
                (Context::MiscCheck, "misc_path") => {
                    if let Some((s, rest)) = lw.script(&c) {
                        if !rest.is_empty() {
                            lw.lint(
                                c.span(),
                                format!("keepalived runs only `{}` and ignores `{}`", s.args.join(" "), rest.join(" ")),
                            )
                            .help = Some("put the whole command in double quotes".into());
                        }
                        misc = Some(s);
                    }
                }
                (Context::MiscCheck, "misc_timeout") => {
                    if let Some(v) = lw.unsigned(&c, 0, 0, super::global::MAX_SECS, "keepalived ignores it") {
                        misc_timeout = Some(Duration::from_secs(v as u64));
                    }
                }
                (Context::MiscCheck, "misc_dynamic") => misc_dynamic = true,
                (Context::MiscCheck, "user") => {
                    misc_user = c.arg(0).map(|u| (u.as_str().to_owned(), c.arg(1).map(|g| g.as_str().to_owned())));
                }
                (Context::SmtpCheck, "helo_name") => match c.arg(0) {
                    Some(w) => smtp.helo_name = w.as_str().to_owned(),
                    None => {
                        lw.general(c.span(), "SMTP_CHECK helo name missing");
                    }
                },
                (Context::SmtpCheck, "host") => {
                    let mut conn = ConnDraft { dest: rs_dest, bind: None, bind_if: None, timeout: None, fwmark: None };
                    if let Some(b) = lw.block_of(&c) {
                        for h in b.iter() {
                            if !conn_keyword(lw, &h, &mut conn) && !common_keyword(lw, &h, ch) {
                                lw.unknown(&h, Context::SmtpCheck);
                            }
                        }
                    }
                    smtp.hosts.push(SmtpHost { conn: finish_conn(conn, Duration::from_secs(5)) });
                }
                (Context::DnsCheck, "type") => {
                    let Some(w) = lw.arg(&c, 0) else { continue };
                    let t = w.as_str().to_ascii_uppercase();
                    if ["A", "NS", "CNAME", "SOA", "MX", "TXT", "AAAA"].contains(&t.as_str()) {
                        dns.qtype = t;
                    } else {
                        lw.general(w.span(), format!("unknown DNS check type `{}`; keepalived ignores it", w.as_str()));
                    }
                }
                (Context::DnsCheck, "name") => {
                    let Some(w) = lw.arg(&c, 0) else { continue };
                    if w.as_str().contains("..") || (w.as_str().starts_with('.') && w.as_str().len() > 1) {
                        lw.general(
                            w.span(),
                            format!("DNS_CHECK name `{}` has an empty label; keepalived ignores it", w.as_str()),
                        );
                    } else {
                        dns.name = w.as_str().to_owned();
                    }
                }
                (Context::UdpCheck, "payload") => {
                    let hex: String = c.args().map(|w| w.as_str()).collect::<Vec<_>>().join(" ");
                    if hex.is_empty() {
                        lw.general(c.span(), "UDP_CHECK payload requires a payload");
                        continue;
                    }
                    match read_hex(&hex) {
                        Some(b) => udp.payload = Some(b),
                        None => {
                            lw.general(c.span(), "invalid hex string for UDP_CHECK payload");
                        }
                    }
                }
                (Context::UdpCheck, "require_reply") => {
                    let hex: String = c.args().map(|w| w.as_str()).collect::<Vec<_>>().join(" ");
                    if hex.is_empty() {
                        udp.require_reply = Some(Vec::new());
                        continue;
                    }
                    match read_hex(&hex.replace(['x', 'X'], "0")) {
                        Some(b) => udp.require_reply = Some(b),
                        None => {
                            lw.general(c.span(), "invalid hex string for UDP_CHECK reply");
                        }
                    }
                }
                (Context::UdpCheck, "min_reply_length") => {
                    if let Some(v) = lw.unsigned(&c, 0, 0, 65535, "keepalived ignores it") {
                        udp.min_reply_length = v;
                    }
                }
                (Context::UdpCheck, "max_reply_length") => {
                    if let Some(v) = lw.unsigned(&c, 0, 0, 65535, "keepalived ignores it") {
                        udp.max_reply_length = v;
                    }
                }
                (Context::FileCheck, "track_file") => {
                    let Some(w) = lw.arg(&c, 0) else { continue };
                    match config.track_files.iter().find(|t| t.name == w.as_str()) {
                        Some(t) => {
                            file = Some(FileCheck {
                                track_file: t.name.clone(),
                                weight: t.weight,
                                reverse: t.weight_reverse,
                            })
                        }
                        None => {
                            lw.general(w.span(), format!("track_file {} not found", w.as_str()));
                        }
                    }
                }
                (Context::FileCheck, "weight") => {
                    let Some(w) = c.arg(0) else {
                        lw.general(c.span(), "track file weight missing");
                        continue;
                    };
                    match read_int(w.as_str(), -(WEIGHT_LIMIT as i64), WEIGHT_LIMIT as i64) {
                        Ok(v) => {
                            let mut rev = false;
                            if let Some(r) = c.arg(1) {
                                match r.as_str() {
                                    "reverse" => rev = true,
                                    "noreverse" => {}
                                    other => {
                                        lw.general(
                                            r.span(),
                                            format!(
                                                "unknown track file weight option `{other}`; keepalived ignores it"
                                            ),
                                        );
                                    }
                                }
                            }
                            file_weight = Some((v as i32, rev));
                        }
                        Err(e) => {
                            lw.general(w.span(), format!("track file weight `{}` {e}", w.as_str()));
                        }
                    }
                }
                (Context::BfdCheck, "name") => {
                    if c.nargs() != 1 {
                        lw.general(c.span(), "BFD_CHECK: no or too many names given");
                        continue;
                    }
                    let n = c.arg(0).expect("nargs == 1").as_str();
                    if !config.extra.iter().any(|r| r.name == "bfd_instance" && r.args.first().is_some_and(|a| a == n))
                    {
                        lw.general(c.span(), format!("BFD_CHECK: unknown BFD instance {n}"));
                        continue;
                    }
                    bfd_name = Some(n.to_owned());
                }
                (Context::BfdCheck, "alpha") => {
                    if let Some(b) = lw.opt_bool(&c) {
                        ch.alpha = Some(b);
                    }
                }
                _ => {
                    let mut ignored = Vec::new();
                    lw.other(&c, ctx, &mut ignored);
                    if let Some(r) = ignored.pop() {
                        // Known to keepalived but not interpreted by lvskit.
                        let _ = r;
                    }
                }
            }
        }
    }
    ch.kind = match ctx {
        Context::TcpCheck => CheckerKind::Tcp,
        Context::PingCheck => CheckerKind::Ping,
        Context::HttpGet | Context::SslGet => {
            if http.urls.is_empty() {
                let dd = lw.general(
                    d.name_span(),
                    format!("{} checker has no urls (with a path); keepalived ignores it", d.name()),
                );
                dd.severity = crate::config::diag::Severity::Error;
                if let Some(k) = &mut dd.keepalived {
                    k.abort = Some(Abort::Crash);
                }
                dd.help = Some(if had_url {
                    "every `url` block needs a `path`; keepalived 2.2.7 then frees the checker and uses it, and crashes"
                        .into()
                } else {
                    "add `url { path / }`; keepalived 2.2.7 then frees the checker and uses it, and crashes".into()
                });
                return false;
            }
            if ctx == Context::HttpGet { CheckerKind::Http(Box::new(http)) } else { CheckerKind::Ssl(Box::new(http)) }
        }
        Context::MiscCheck => match misc {
            Some(path) => CheckerKind::Misc(Box::new(MiscCheck {
                path,
                timeout: misc_timeout,
                dynamic: misc_dynamic,
                user: misc_user,
            })),
            None => {
                lw.general(d.name_span(), "no script path given for MISC_CHECK; keepalived skips it").help =
                    Some("add `misc_path \"/path/to/check args\"`".into());
                return false;
            }
        },
        Context::SmtpCheck => CheckerKind::Smtp(Box::new(smtp)),
        Context::DnsCheck => CheckerKind::Dns(Box::new(dns)),
        Context::UdpCheck => {
            if udp.max_reply_length != 0 && udp.min_reply_length > udp.max_reply_length {
                lw.general(
                    d.name_span(),
                    format!(
                        "UDP_CHECK min_reply_length {} > max_reply_length {}: it will always fail",
                        udp.min_reply_length, udp.max_reply_length
                    ),
                );
            }
            CheckerKind::Udp(Box::new(udp))
        }
        Context::FileCheck => match file {
            Some(mut f) => {
                if let Some((w, r)) = file_weight {
                    f.weight = w;
                    f.reverse = r;
                }
                CheckerKind::File(Box::new(f))
            }
            None => {
                lw.general(d.name_span(), "FILE_CHECK has no track_file; keepalived ignores it");
                return false;
            }
        },
        _ => match bfd_name {
            Some(name) => CheckerKind::Bfd { name },
            None => {
                lw.general(d.name_span(), "BFD_CHECK has no name; keepalived ignores it");
                return false;
            }
        },
    };
    // check_conn_opts: an IPv6 link-local destination needs bind_if.
    if let Some(c) = &ch.conn {
        if let IpAddr::V6(a) = c.dest.ip() {
            if a.segments()[0] & 0xffc0 == 0xfe80 && c.bind_if.is_none() {
                lw.general(
                    d.name_span(),
                    format!("checker link-local address {a} requires a bind_if; keepalived ignores the checker"),
                );
                return false;
            }
        }
    }
    true
}

/// The connection keywords of checkers (`install_checker_common_keywords`
/// with connection keywords). True if `c` was one.
fn conn_keyword<'d>(lw: &mut Lowerer<'_>, c: &Directive<'d>, co: &mut ConnDraft) -> bool {
    match c.name() {
        "connect_ip" => {
            let Some(w) = lw.arg(c, 0) else { return true };
            match stosockaddr(w.as_str(), None) {
                Ok((a, _)) => {
                    if co.bind.is_some_and(|b| b.is_ipv4() != a.is_ipv4()) {
                        lw.general(
                            w.span(),
                            format!(
                                "connect_ip {} does not match the family of bindto; keepalived ignores it",
                                w.as_str()
                            ),
                        );
                    } else {
                        co.dest = SocketAddr::new(a, co.dest.port());
                    }
                }
                Err(_) => {
                    lw.general(w.span(), format!("invalid connect_ip address `{}`; keepalived ignores it", w.as_str()));
                }
            }
        }
        "connect_port" => {
            if let Some(v) = lw.unsigned(c, 0, 1, 65535, "keepalived ignores it") {
                co.dest.set_port(v as u16);
            }
        }
        "bindto" => {
            let Some(w) = lw.arg(c, 0) else { return true };
            match stosockaddr(w.as_str(), None) {
                Ok((a, _)) => {
                    if a.is_ipv4() != co.dest.is_ipv4() {
                        lw.general(
                            w.span(),
                            format!(
                                "bindto {} does not match the family of connect_ip; keepalived ignores it",
                                w.as_str()
                            ),
                        );
                    } else {
                        let port = co.bind.map_or(0, |b| b.port());
                        co.bind = Some(SocketAddr::new(a, port));
                    }
                }
                Err(_) => {
                    lw.general(w.span(), format!("invalid bindto address `{}`; keepalived ignores it", w.as_str()));
                }
            }
        }
        "bind_port" => {
            if let Some(v) = lw.unsigned(c, 0, 1, 65535, "keepalived ignores it") {
                let ip = co.bind.map_or(
                    if co.dest.is_ipv4() {
                        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
                    } else {
                        IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED)
                    },
                    |b| b.ip(),
                );
                co.bind = Some(SocketAddr::new(ip, v as u16));
            }
        }
        "bind_if" => {
            let Some(w) = lw.arg(c, 0) else { return true };
            if w.as_str().len() > 15 {
                lw.general(w.span(), format!("interface name `{}` is too long; keepalived ignores it", w.as_str()));
            } else {
                co.bind_if = Some(w.as_str().to_owned());
            }
        }
        "connect_timeout" => {
            if let Some(v) = lw.timer(c, 0, 1, u32::MAX as u64, "keepalived ignores it") {
                co.timeout = Some(v);
            }
        }
        "fwmark" => {
            if let Some(v) = lw.unsigned(c, 0, 0, u32::MAX, "keepalived ignores it") {
                co.fwmark = Some(v);
            }
        }
        _ => return false,
    }
    true
}

/// The timing keywords every checker but FILE_CHECK and BFD_CHECK has. True
/// if `c` was one.
fn common_keyword<'d>(lw: &mut Lowerer<'_>, c: &Directive<'d>, ch: &mut CheckerDraft) -> bool {
    match c.name() {
        "retry" => {
            if let Some(v) = lw.unsigned(c, 0, 0, u32::MAX, "keepalived ignores it") {
                ch.retry = Some(v);
            }
        }
        "delay_before_retry" => {
            if let Some(v) = lw.timer(c, 0, 0, u64::MAX - 1, "keepalived ignores it") {
                ch.delay_before_retry = Some(v);
            }
        }
        "warmup" => {
            if let Some(v) = lw.timer(c, 0, 0, u64::MAX - 1, "keepalived ignores it") {
                ch.warmup = Some(v);
            }
        }
        "delay_loop" => {
            if let Some(v) = lw.timer(c, 0, 1, u64::MAX - 1, "keepalived ignores it") {
                ch.delay_loop = Some(v);
            }
        }
        "alpha" => {
            if let Some(b) = lw.opt_bool(c) {
                ch.alpha = Some(b);
            }
        }
        "log_all_failures" => {
            if let Some(b) = lw.opt_bool(c) {
                ch.log_all_failures = b;
            }
        }
        _ => return false,
    }
    true
}

fn url<'d>(lw: &mut Lowerer<'_>, d: &Directive<'d>) -> Option<Url> {
    let mut path: Option<String> = None;
    let mut digest = None;
    let mut codes: Vec<std::ops::RangeInclusive<u16>> = Vec::new();
    let mut vhost = None;
    let mut regex: Option<String> = None;
    let mut no_match = false;
    let block: Option<Block<'d>> = lw.block_of(d);
    if let Some(b) = block {
        for c in b.iter() {
            lw.extra_words(&c, Context::Url);
            match c.name() {
                "path" => {
                    if let Some(w) = lw.arg(&c, 0) {
                        path = Some(w.as_str().to_owned());
                    }
                }
                "digest" => {
                    let Some(w) = lw.arg(&c, 0) else { continue };
                    let s = w.as_str();
                    if digest.is_some() {
                        lw.general(w.span(), format!("digest `{s}` is a duplicate; keepalived ignores it"));
                        continue;
                    }
                    if s.len() != 32 {
                        lw.general(w.span(), format!("digest `{s}` should be 32 hex characters, not {}", s.len()))
                            .help = Some("an MD5 digest, as genhash prints it".into());
                        continue;
                    }
                    let mut out = [0u8; 16];
                    let mut ok = true;
                    for (i, o) in out.iter_mut().enumerate() {
                        match u8::from_str_radix(&s[2 * i..2 * i + 2], 16) {
                            Ok(v) => *o = v,
                            Err(_) => ok = false,
                        }
                    }
                    if ok {
                        digest = Some(out);
                    } else {
                        lw.general(w.span(), format!("digest `{s}` has a character that is not a hex digit"));
                    }
                }
                "status_code" => {
                    for w in c.args() {
                        let s = w.as_str();
                        let parsed = match s.split_once('-') {
                            Some((a, b)) => a.parse::<u16>().ok().zip(b.parse::<u16>().ok()),
                            None => s.parse::<u16>().ok().map(|v| (v, v)),
                        };
                        match parsed {
                            Some((a, b)) if (100..=599).contains(&a) && (100..=599).contains(&b) && a <= b => {
                                codes.push(a..=b)
                            }
                            _ => {
                                lw.general(
                                    w.span(),
                                    format!("invalid HTTP status code `{s}`; keepalived ignores it"),
                                )
                                .help = Some("give codes or ranges within 100..=599, like 200 or 200-299".into());
                            }
                        }
                    }
                }
                "virtualhost" => match c.arg(0) {
                    Some(w) => vhost = Some(w.as_str().to_owned()),
                    None => {
                        lw.general(c.span(), "missing HTTP_GET virtualhost name");
                    }
                },
                "regex" => {
                    let words = super::split_quoted_escaped(c.raw());
                    if words.len() == 2 {
                        regex = Some(words[1].clone());
                    }
                }
                "regex_no_match" => no_match = true,
                "regex_options" | "regex_min_offset" | "regex_max_offset" | "regex_stack" => {}
                _ => lw.unknown(&c, Context::Url),
            }
        }
    }
    let Some(path) = path else {
        lw.general(d.name_span(), "HTTP/SSL_GET url has no path; keepalived ignores it").help =
            Some("add `path /...` to the url block".into());
        return None;
    };
    if codes.is_empty() {
        codes.push(200..=299);
    }
    Some(Url {
        path,
        digest,
        status_codes: codes,
        virtualhost: vhost,
        regex: regex.map(|r| (r, no_match)),
        span: d.span(),
    })
}

/// `read_hex_str` (`lib/parser.c`): hex pairs, blanks allowed between.
fn read_hex(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    loop {
        while i < b.len() && (b[i] == b' ' || b[i] == b'\t') {
            i += 1;
        }
        if i >= b.len() {
            break;
        }
        let hi = (b[i] as char).to_digit(16)? as u8;
        i += 1;
        let v = if i < b.len() && b[i] != b' ' {
            let lo = (b[i] as char).to_digit(16)? as u8;
            i += 1;
            hi << 4 | lo
        } else {
            hi
        };
        out.push(v);
    }
    if out.is_empty() { None } else { Some(out) }
}

fn finish_conn(c: ConnDraft, timeout: Duration) -> ConnectOptions {
    ConnectOptions {
        dest: c.dest,
        bind: c.bind,
        bind_if: c.bind_if,
        timeout: c.timeout.unwrap_or(timeout),
        fwmark: c.fwmark,
    }
}

/// How reports name a virtual server.
struct VsName<'a>(&'a VirtualServerKey);

impl std::fmt::Display for VsName<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            VirtualServerKey::Addr(sa) => write!(f, "{sa}"),
            VirtualServerKey::Fwmark(m) => write!(f, "FWM {m}"),
            VirtualServerKey::Group(n) => write!(f, "group {n}"),
        }
    }
}

/// `validate_check_config` (`keepalived/check/check_data.c`): the
/// virtual servers not validated yet, after the reports of those that were
/// (as soon as read).
pub(crate) fn validate(lw: &mut Lowerer<'_>, config: &mut Config, r: LvsReader) {
    lw.diags.extend(r.early);
    for vs in r.vss {
        validate_vs(lw, config, vs);
    }
}

/// `validate_check_config` for one virtual server: appends it to
/// `config.virtual_servers` unless keepalived drops it.
fn validate_vs(lw: &mut Lowerer<'_>, config: &mut Config, mut vs: VsDraft) {
    let g = &config.global;
    let (g_smtp_alert_checker, g_smtp_alert, g_log_all_failures) =
        (g.smtp_alert_checker, g.smtp_alert, g.checker_log_all_failures);
    {
        // The name is formatted only into reports (most virtual servers have
        // none).
        let key = vs.key;
        let name = VsName(&key);
        if vs.rs.is_empty() {
            lw.general(vs.span, format!("virtual server {name} has no real servers; keepalived ignores it")).help =
                Some("add a real_server block".into());
            return;
        }
        let group = match &key {
            VirtualServerKey::Group(n) => config.virtual_server_group(n).cloned(),
            _ => None,
        };
        let is_fwmark = matches!(key, VirtualServerKey::Fwmark(_));
        let group_has_fw =
            group.as_ref().is_some_and(|g| g.entries.iter().any(|e| matches!(e, GroupEntry::Fwmark { .. })));
        let group_has_addr =
            group.as_ref().is_some_and(|g| g.entries.iter().any(|e| matches!(e, GroupEntry::Range { .. })));
        if vs.ha_suspend && (is_fwmark || group_has_fw) {
            lw.general(
                vs.span,
                format!("virtual server {name}: cannot use ha_suspend with fwmarks; keepalived clears it"),
            );
            vs.ha_suspend = false;
        }
        let is_group = matches!(key, VirtualServerKey::Group(_));
        if group_has_addr || (!is_group && !is_fwmark) {
            if vs.protocol.is_none() {
                lw.general(vs.span, format!("virtual server {name}: no protocol set; keepalived uses UDP")).help = Some(
                    "add `protocol TCP` (keepalived sets UDP because that is what the kernel does with protocol 0)"
                        .into(),
                );
                vs.protocol = Some(Protocol::Udp);
            }
            if vs.flags.contains(ServiceFlags::ONEPACKET) && vs.protocol != Some(Protocol::Udp) {
                lw.general(
                    vs.span,
                    format!("virtual server {name}: one-packet scheduling requires UDP; keepalived clears it"),
                );
                vs.flags = vs.flags.without(ServiceFlags::ONEPACKET);
            }
            if vs.persistence_timeout == 0 && !is_group && matches!(key, VirtualServerKey::Addr(sa) if sa.port() == 0) {
                lw.general(vs.span, format!("virtual server {name}: port 0 is only valid for persistent services; keepalived makes it persistent"));
                vs.persistence_timeout = PERSISTENT_TIMEOUT;
            }
        }
        if vs.persistence_timeout == 0 {
            if let Some(gr) = &group {
                if gr.entries.iter().any(|e| matches!(e, GroupEntry::Range { port: 0, .. })) {
                    lw.general(vs.span, format!("virtual server {name}: port 0 is only valid for persistent services; keepalived makes it persistent"));
                    vs.persistence_timeout = PERSISTENT_TIMEOUT;
                }
            }
        }
        if vs.protocol.is_some() && ((is_group && !group_has_addr && group_has_fw) || (!is_group && is_fwmark)) {
            lw.general(
                vs.span,
                format!("virtual server {name}: protocol given for a fwmark service; keepalived ignores it"),
            );
            vs.protocol = None;
        }
        let scheduler = match vs.scheduler.take() {
            Some(s) => s,
            None => {
                lw.general(vs.span, format!("virtual server {name}: no scheduler set; keepalived uses wlc")).help =
                    Some("add `lvs_sched rr` (or another scheduler)".into());
                "wlc".to_owned()
            }
        };
        let vs_smtp = vs.smtp_alert.or(g_smtp_alert_checker).or(g_smtp_alert).unwrap_or(false);
        let mut weight_sum: u64 = 0;
        let mut rss = std::mem::take(&mut vs.rs);
        let mut kept: Vec<RealServer> = Vec::with_capacity(rss.len());
        let mut seen: Vec<(IpAddr, u16)> = Vec::with_capacity(rss.len());
        let mut warned_fwd = false;
        // By reference: the drafts are large, and moving each out costs more
        // than taking the few owned fields.
        for rs in rss.iter_mut() {
            if seen.contains(&(rs.addr, rs.port)) {
                lw.general(
                    rs.span,
                    format!(
                        "virtual server {name}: real server {} is duplicated; keepalived removes the second",
                        SocketAddr::new(rs.addr, rs.port)
                    ),
                );
                continue;
            }
            seen.push((rs.addr, rs.port));
            let forward = match rs.forward {
                Some(f) => f,
                None => {
                    if vs.forward.is_none() && !warned_fwd {
                        lw.general(
                            vs.span,
                            format!("virtual server {name}: no forwarding method set; keepalived uses NAT"),
                        )
                        .help = Some("add `lvs_method DR` (or NAT, TUN)".into());
                        warned_fwd = true;
                    }
                    *vs.forward.get_or_insert(ForwardMethod::Masq)
                }
            };
            let weight = rs.weight.unwrap_or(vs.weight);
            weight_sum += weight as u64;
            let mut port = rs.port;
            // Ports: DR and tunnel servers take the virtual server's port.
            if forward == ForwardMethod::Masq {
                if !is_group && !is_fwmark && port == 0 {
                    if let VirtualServerKey::Addr(sa) = key {
                        port = sa.port();
                    }
                }
            } else if is_fwmark {
                if port != 0 {
                    lw.general(
                        rs.span,
                        format!(
                            "fwmark virtual server {name}: real server {} has a port; keepalived clears it",
                            rs.addr
                        ),
                    );
                    port = 0;
                }
            } else if let VirtualServerKey::Addr(sa) = key {
                if port == 0 {
                    port = sa.port();
                } else if port != sa.port() {
                    lw.general(
                        rs.span,
                        format!(
                            "virtual server {name} and real server {} ports don't match; keepalived uses {}",
                            SocketAddr::new(rs.addr, port),
                            sa.port()
                        ),
                    )
                    .help = Some("DR and TUN real servers receive packets on the virtual server's port".into());
                    port = sa.port();
                }
            } else if let Some(gr) = &group {
                if group_has_fw && port != 0 {
                    lw.general(
                        rs.span,
                        format!("fwmark virtual server {name}: real server {} has a port; it will be ignored", rs.addr),
                    );
                }
                for e in &gr.entries {
                    if let GroupEntry::Range { port: gp, .. } = e {
                        if port != 0 && *gp != port {
                            lw.general(
                                rs.span,
                                format!(
                                    "virtual server {name} and real server {} ports don't match",
                                    SocketAddr::new(rs.addr, port)
                                ),
                            );
                        }
                    }
                }
            }
            let dest = DestConfig {
                addr: rs.addr,
                port,
                forward,
                weight,
                upper_threshold: rs.upper,
                lower_threshold: rs.lower,
            };
            let inhibit = rs.inhibit.unwrap_or(vs.inhibit);
            let delay_loop = rs.delay_loop.unwrap_or(vs.delay_loop);
            let connect_timeout = rs.connect_timeout.unwrap_or(vs.connect_timeout);
            let retry = rs.retry.or(vs.retry);
            let warmup = rs.warmup.or(vs.warmup);
            let dbr = rs.delay_before_retry.or(vs.delay_before_retry);
            let alpha = rs.alpha.unwrap_or(vs.alpha);
            let mut checkers = std::mem::take(&mut rs.checkers)
                .into_iter()
                .map(|c| {
                    let delay = c.delay_loop.unwrap_or(delay_loop);
                    Checker {
                        conn: c.conn.map(|co| finish_conn(co, connect_timeout)).map(|mut co| {
                            // The checker connects to the real server's
                            // final port unless connect_port said otherwise.
                            if co.dest.ip() == rs.addr && co.dest.port() == rs.port {
                                co.dest.set_port(port);
                            }
                            co
                        }),
                        retry: c.retry.or(retry).unwrap_or(c.default_retry),
                        delay_before_retry: c
                            .delay_before_retry
                            .or(dbr)
                            .or(c.default_delay_before_retry)
                            .unwrap_or(delay),
                        warmup: c.warmup.or(warmup).unwrap_or(delay),
                        delay_loop: delay,
                        alpha: c.alpha.unwrap_or(alpha),
                        log_all_failures: c.log_all_failures || g_log_all_failures,
                        kind: c.kind,
                        span: c.span,
                    }
                })
                .collect::<Vec<_>>();
            // Collected in place into the drafts' larger allocation: give
            // the difference back.
            checkers.shrink_to_fit();
            kept.push(RealServer {
                dest,
                inhibit_on_failure: inhibit,
                notify_up: rs.notify_up.take().map(Box::new),
                notify_down: rs.notify_down.take().map(Box::new),
                alpha,
                retry,
                delay_loop,
                connect_timeout,
                delay_before_retry: dbr,
                warmup,
                smtp_alert: rs.smtp_alert.or(g_smtp_alert_checker).or(g_smtp_alert).unwrap_or(true),
                virtualhost: rs.virtualhost.take(),
                checkers,
                extra: std::mem::take(&mut rs.extra),
                span: rs.span,
            });
        }
        let forward = vs.forward.unwrap_or(ForwardMethod::Masq);
        let mut sorry = None;
        if let Some((mut d, fwd, inhibit, span)) = vs.sorry.take() {
            if fwd.is_none() {
                if vs.forward.is_none() && !warned_fwd {
                    lw.general(
                        vs.span,
                        format!("virtual server {name}: no forwarding method set; keepalived uses NAT"),
                    );
                }
                d.forward = forward;
            }
            if d.forward != ForwardMethod::Masq {
                if is_fwmark && d.port != 0 {
                    lw.general(
                        span,
                        format!("virtual server {name}: the sorry server has a port; keepalived clears it"),
                    );
                    d.port = 0;
                } else if let VirtualServerKey::Addr(sa) = key {
                    if d.port == 0 {
                        d.port = sa.port();
                    } else if d.port != sa.port() {
                        lw.general(
                            span,
                            format!(
                                "virtual server {name} and sorry server ports don't match; keepalived uses {}",
                                sa.port()
                            ),
                        );
                        d.port = sa.port();
                    }
                }
            }
            let mut inh = inhibit;
            if let Some(rs) = kept.iter().find(|r| r.dest.addr == d.addr && r.dest.port == d.port) {
                if rs.inhibit_on_failure != inh {
                    lw.general(span, format!("virtual server {name}: the sorry server matches a real server with a different inhibit_on_failure; keepalived follows the real server"));
                    inh = rs.inhibit_on_failure;
                }
            }
            sorry = Some(SorryServer { dest: d, inhibit: inh });
        }
        let mut quorum = vs.quorum;
        if quorum as u64 > weight_sum {
            lw.general(vs.span, format!("quorum {quorum} of {name} exceeds the total weight of its real servers {weight_sum}; keepalived reduces it"));
            quorum = weight_sum as u32;
        }
        let mut hysteresis = vs.hysteresis;
        if hysteresis >= quorum {
            // With a quorum of 0 keepalived's unsigned `quorum - 1` wraps.
            lw.general(
                vs.span,
                format!(
                    "virtual server {name}: hysteresis {hysteresis} >= quorum {quorum}; keepalived uses {}",
                    quorum.wrapping_sub(1)
                ),
            );
            hysteresis = quorum.wrapping_sub(1);
        }
        let family = vs.af.unwrap_or(Family::V4);
        let persistence = (vs.persistence_timeout != 0).then(|| Persistence {
            timeout: vs.persistence_timeout,
            mask: vs.granularity.filter(|m| m.family() == family).unwrap_or(PersistMask::host(family)),
        });
        config.virtual_servers.push(VirtualServer {
            key,
            family,
            protocol: vs.protocol.unwrap_or(Protocol::Tcp),
            scheduler,
            flags: vs.flags,
            hashed: vs.hashed,
            forward,
            persistence,
            persistence_engine: vs.pe_name,
            delay_loop: vs.delay_loop,
            connect_timeout: vs.connect_timeout,
            retry: vs.retry,
            delay_before_retry: vs.delay_before_retry,
            warmup: vs.warmup,
            ha_suspend: vs.ha_suspend,
            alpha: vs.alpha,
            omega: vs.omega,
            inhibit_on_failure: vs.inhibit,
            quorum,
            hysteresis,
            quorum_up: vs.quorum_up,
            quorum_down: vs.quorum_down,
            virtualhost: vs.virtualhost,
            smtp_alert: vs_smtp,
            weight: vs.weight,
            sorry_server: sorry,
            real_servers: kept,
            extra: vs.extra,
            span: vs.span,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first virtual server reserves room for those the rest of the
    /// file holds (`Directive::like_after`): a file of equal ones fills its
    /// vector without growing it; one whose first is small reserves at most
    /// one per 64 bytes left.
    #[test]
    fn virtual_servers_reserved_from_the_first() {
        let vs = |i: u32| {
            format!(
                "virtual_server 192.0.2.{} 80 {{\n  lb_algo rr\n  protocol TCP\n  real_server 198.51.100.1 80 {{\n    weight 1\n  }}\n}}\n",
                i % 250 + 1
            )
        };
        let text: String = (0..200).map(|i| vs(i + 1000)).collect();
        let loaded = crate::config::load_str("/k.conf", &text, &Default::default());
        let vss = &loaded.config.virtual_servers;
        assert_eq!(vss.len(), 200);
        // (The estimate leaves each block's line ending out, and the first
        // block is the shortest, its address ending in one digit: a few
        // over.)
        assert!((200..=210).contains(&vss.capacity()), "capacity {}", vss.capacity());
        let small = "virtual_server 192.0.2.1 80 { real_server 198.51.100.1 80 {} }\n";
        let text = format!("{small}{}", "vrrp_script s { script /bin/true }\n".repeat(100));
        let loaded = crate::config::load_str("/k.conf", &text, &Default::default());
        let vss = &loaded.config.virtual_servers;
        assert_eq!(vss.len(), 1);
        // This bounds over-reserving only (no reservation passes too).
        assert!(vss.capacity() <= (text.len() - small.len()) / 64 + 1, "capacity {}", vss.capacity());
    }

    #[test]
    fn pton4_strict_without_allocating() {
        assert_eq!(pton4("192.0.2.1"), Some(Ipv4Addr::new(192, 0, 2, 1)));
        assert_eq!(pton4("010.0.0.255"), Some(Ipv4Addr::new(10, 0, 0, 255)));
        for bad in ["1.2.3", "1.2.3.4.5", "256.0.0.1", "1..2.3", "1.2.3.", "1.2.3.4a", "1.2.3.0004", ""] {
            assert_eq!(pton4(bad), None, "{bad}");
        }
    }

    #[test]
    fn sockaddrs() {
        assert_eq!(stosockaddr("192.0.2.1", Some("80")), Ok((IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), 80)));
        assert_eq!(stosockaddr("192.0.2.1/24", Some("0")), Ok((IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), 0)));
        assert!(stosockaddr("192.0.2.1", Some("70000")).is_err());
        assert!(stosockaddr("192.0.2", Some("80")).is_err());
        assert!(stosockaddr("2001:db8::1", None).unwrap().0.is_ipv6());
    }

    /// The one-pass IPv4 reading gives what the general reading gives.
    #[test]
    fn sockaddr_fast_path_agrees() {
        fn general(ip: &str) -> Option<IpAddr> {
            let base = ip.bytes().position(|b| b == b'-' || b == b'/').map_or(ip, |i| &ip[..i]);
            if ip.contains(':') { base.parse().ok().map(IpAddr::V6) } else { pton4(base).map(IpAddr::V4) }
        }
        let parts =
            ["1", "192", "0", "256", "010", ".", "..", "-", "/", ":", "24", "-5", "/24", "::", "a", "2001", " "];
        for a in parts {
            for b in parts {
                for c in parts {
                    for d in ["", ".1", ".2.3", "/", ":1", "-9", ".0.0.1"] {
                        let ip = format!("{a}{b}{c}{d}");
                        assert_eq!(stosockaddr(&ip, None).ok().map(|r| r.0), general(&ip), "{ip}");
                    }
                }
            }
        }
        for ip in
            ["192.0.2.1", "192.0.2.1-10", "192.0.2.1/24", "192.0.2.1-2001:db8::1", "2001:db8::1-5", "::ffff:1.2.3.4"]
        {
            assert_eq!(stosockaddr(ip, None).ok().map(|r| r.0), general(ip), "{ip}");
        }
    }

    #[test]
    fn hex() {
        assert_eq!(read_hex("0a 1B c"), Some(vec![0x0a, 0x1b, 0x0c]));
        assert_eq!(read_hex("zz"), None);
    }
}
