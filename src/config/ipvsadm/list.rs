//! `ipvsadm -L` renderings (`list_all`, `print_title`,
//! `print_service_entry`, `print_largenum`, `list_timeout`, `list_daemon`
//! in `ipvsadm.c`), and ipvsadm's order of services and real servers.
//!
//! ipvsadm sorts with `qsort` and comparison functions that subtract
//! unsigned 32-bit values and read the difference as a signed `int`
//! (`ipvs_cmp_services`, `ipvs_cmp_dests` in `libipvs.c`), so two
//! addresses (or marks) more than 2^31 apart compare the "wrong" way round
//! and the comparison is not even transitive. glibc 2.36's `qsort` is a
//! top-down merge sort (`msort_with_tmp`); lvskit runs the same merge with
//! the same comparison, so the order matches ipvsadm's for the same input
//! order. Where the comparison goes round in a cycle (firewall marks 0, 42
//! and 2^31+2, say: each "less" than the next), the result depends on the
//! order the kernel hands the services over in, which follows its hash
//! table and changes from boot to boot: lvskit then sorts the order it is
//! given, as ipvsadm would for that dump.

use std::fmt::Write as _;
use std::net::IpAddr;

use super::emit::{addr_port, key_proto, sched_flags};
use super::{ListFormat, ListOptions};
use crate::ipvs::{
    DaemonConfig, DaemonRole, DestSnapshot, Family, ForwardMethod, IpvsInfo, PersistMask, Protocol, ServiceFlags,
    ServiceKey, ServiceSnapshot, Timeouts,
};

/// glibc's `msort_with_tmp`: split in halves (the first `n / 2` long), sort
/// each, merge taking from the first half while `cmp(a, b) <= 0`.
fn msort<T: Clone>(v: &mut [T], cmp: &impl Fn(&T, &T) -> i64) {
    let n = v.len();
    if n <= 1 {
        return;
    }
    let n1 = n / 2;
    msort(&mut v[..n1], cmp);
    msort(&mut v[n1..], cmp);
    let mut out: Vec<T> = Vec::with_capacity(n);
    let (mut i, mut j) = (0, n1);
    while i < n1 && j < n {
        if cmp(&v[i], &v[j]) <= 0 {
            out.push(v[i].clone());
            i += 1;
        } else {
            out.push(v[j].clone());
            j += 1;
        }
    }
    out.extend_from_slice(&v[i..n1]);
    out.extend_from_slice(&v[j..n]);
    v.clone_from_slice(&out);
}

/// `(int)(a - b)` on unsigned 32-bit values, as C computes it.
fn diff32(a: u32, b: u32) -> i64 {
    a.wrapping_sub(b) as i32 as i64
}

/// An address's 32-bit words in host order (one for IPv4).
fn words(a: IpAddr) -> Vec<u32> {
    match a {
        IpAddr::V4(v) => vec![u32::from(v)],
        IpAddr::V6(v) => v.octets().chunks(4).map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]])).collect(),
    }
}

fn addr_cmp(a: IpAddr, b: IpAddr) -> i64 {
    let (wa, wb) = (words(a), words(b));
    if wa.len() == 1 || wb.len() == 1 {
        return diff32(wa[0], wb[0]);
    }
    for k in 0..4 {
        let r = diff32(wa[k], wb[k]);
        if r != 0 {
            return r;
        }
    }
    0
}

fn af(f: Family) -> i64 {
    f.af() as i64
}

/// `ipvs_cmp_services`: mark, family, protocol, address, port.
fn cmp_services(a: &ServiceSnapshot, b: &ServiceSnapshot) -> i64 {
    let parts = |k: &ServiceKey| -> (u32, Family, i64, Option<IpAddr>, u16) {
        match *k {
            ServiceKey::Fwmark { family, mark } => (mark, family, Protocol::Tcp.number() as i64, None, 0),
            ServiceKey::Addr { protocol, addr, port } => {
                (0, Family::of(addr), protocol.number() as i64, Some(addr), port)
            }
        }
    };
    let (ma, fa, pa, aa, qa) = parts(&a.config.key);
    let (mb, fb, pb, ab, qb) = parts(&b.config.key);
    let r = diff32(ma, mb);
    if r != 0 {
        return r;
    }
    let r = af(fa) - af(fb);
    if r != 0 {
        return r;
    }
    let r = pa - pb;
    if r != 0 {
        return r;
    }
    let r = match (aa, ab) {
        (Some(x), Some(y)) => addr_cmp(x, y),
        _ => 0,
    };
    if r != 0 {
        return r;
    }
    qa as i64 - qb as i64
}

/// `ipvs_cmp_dests`: address, then port.
fn cmp_dests(a: &DestSnapshot, b: &DestSnapshot) -> i64 {
    let r = addr_cmp(a.config.addr, b.config.addr);
    if r != 0 {
        return r;
    }
    a.config.port as i64 - b.config.port as i64
}

/// Services in ipvsadm's listing order.
pub fn sort_services(services: &[ServiceSnapshot]) -> Vec<ServiceSnapshot> {
    let mut v = services.to_vec();
    msort(&mut v, &cmp_services);
    v
}

/// Real servers in ipvsadm's listing order.
pub fn sort_dests(dests: &[DestSnapshot]) -> Vec<DestSnapshot> {
    let mut v = dests.to_vec();
    msort(&mut v, &cmp_dests);
    v
}

/// `print_largenum`: 9 columns; above 10^8 abbreviated with K, M, G, T
/// unless `exact`.
fn largenum(out: &mut String, i: u64, exact: bool) {
    if exact {
        let len = i.to_string().len();
        let w = if len <= 8 { 9 } else { len + 1 };
        let _ = write!(out, "{i:>w$}");
        return;
    }
    let _ = if i < 100_000_000 {
        write!(out, "{i:>9}")
    } else if i < 1_000_000_000 {
        write!(out, "{:>8}K", i / 1000)
    } else if i < 100_000_000_000 {
        write!(out, "{:>8}M", i / 1_000_000)
    } else if i < 100_000_000_000_000 {
        write!(out, "{:>8}G", i / 1_000_000_000)
    } else {
        write!(out, "{:>8}T", i / 1_000_000_000_000)
    };
}

/// The service column: `TCP  ADDR:PORT`, `SCTP ADDR:PORT`, `FWM  MARK`,
/// `FWM  MARK IPv6` (IPv4 names cut at 33 characters).
fn service_name(key: &ServiceKey, numeric: bool) -> String {
    match *key {
        // ipvsadm prints the mark with `%d`.
        ServiceKey::Fwmark { family: Family::V4, mark } => format!("FWM  {}", mark as i32),
        ServiceKey::Fwmark { family: Family::V6, mark } => format!("FWM  {} IPv6", mark as i32),
        ServiceKey::Addr { protocol, addr, port } => {
            let mut s = format!("{:<4} {}", protocol.name(), addr_port(addr, port, protocol, numeric));
            if addr.is_ipv4() {
                truncate(&mut s, 33);
            }
            s
        }
    }
}

fn truncate(s: &mut String, n: usize) {
    if s.len() > n {
        let mut k = n;
        while !s.is_char_boundary(k) {
            k -= 1;
        }
        s.truncate(k);
    }
}

fn title(out: &mut String, format: ListFormat) {
    match format {
        ListFormat::Stats => {
            let _ = writeln!(
                out,
                "{:<33} {:>8} {:>8} {:>8} {:>8} {:>8}\n  -> RemoteAddress:Port",
                "Prot LocalAddress:Port", "Conns", "InPkts", "OutPkts", "InBytes", "OutBytes"
            );
        }
        ListFormat::Rate => {
            let _ = writeln!(
                out,
                "{:<33} {:>8} {:>8} {:>8} {:>8} {:>8}\n  -> RemoteAddress:Port",
                "Prot LocalAddress:Port", "CPS", "InPPS", "OutPPS", "InBPS", "OutBPS"
            );
        }
        ListFormat::Thresholds => {
            let _ = writeln!(
                out,
                "{:<33} {:<10} {:<10} {:<10} {:<10}\n  -> RemoteAddress:Port",
                "Prot LocalAddress:Port", "Uthreshold", "Lthreshold", "ActiveConn", "InActConn"
            );
        }
        ListFormat::PersistentConn => {
            let _ = writeln!(
                out,
                "{:<33} {:<9} {:<11} {:<10} {:<10}\n  -> RemoteAddress:Port",
                "Prot LocalAddress:Port", "Weight", "PersistConn", "ActiveConn", "InActConn"
            );
        }
        ListFormat::Default => {
            out.push_str("Prot LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n");
        }
    }
}

fn service_entry(out: &mut String, s: &ServiceSnapshot, o: &ListOptions) {
    let name = service_name(&s.config.key, o.numeric);
    let c = &s.config;
    match o.format {
        ListFormat::Stats => {
            let _ = write!(out, "{name:<33}");
            for v in [s.stats.conns, s.stats.in_pkts, s.stats.out_pkts, s.stats.in_bytes, s.stats.out_bytes] {
                largenum(out, v, o.exact);
            }
        }
        ListFormat::Rate => {
            let _ = write!(out, "{name:<33}");
            for v in [s.rates.cps, s.rates.in_pps, s.rates.out_pps, s.rates.in_bps, s.rates.out_bps] {
                largenum(out, v, o.exact);
            }
        }
        _ => {
            let _ = write!(out, "{name} {}", c.scheduler);
            if c.flags.intersects(ServiceFlags::SCHED_FLAGS) {
                let _ = write!(out, " ({})", sched_flags(&c.scheduler, c.flags));
            }
            if let Some(p) = &c.persistence {
                let _ = write!(out, " persistent {}", p.timeout);
                match p.mask {
                    PersistMask::V4(m) if m != std::net::Ipv4Addr::BROADCAST => {
                        let _ = write!(out, " mask {m}");
                    }
                    PersistMask::V6(n) if n != 128 => {
                        let _ = write!(out, " mask {n}");
                    }
                    _ => {}
                }
                if let Some(pe) = &c.pe_name {
                    let _ = write!(out, " pe {pe}");
                }
            }
            if c.flags.contains(ServiceFlags::ONEPACKET) {
                out.push_str(" ops");
            }
        }
    }
    out.push('\n');
    let proto = key_proto(&c.key);
    let dests = if o.nosort { s.dests.clone() } else { sort_dests(&s.dests) };
    for d in &dests {
        let mut dname = addr_port(d.config.addr, d.config.port, proto, o.numeric);
        if c.key.family() != Family::V6 {
            truncate(&mut dname, 28);
        }
        match o.format {
            ListFormat::Stats => {
                let _ = write!(out, "  -> {dname:<28}");
                for v in [d.stats.conns, d.stats.in_pkts, d.stats.out_pkts, d.stats.in_bytes, d.stats.out_bytes] {
                    largenum(out, v, o.exact);
                }
                out.push('\n');
            }
            ListFormat::Rate => {
                let _ = write!(out, "  -> {dname:<28} {:>8} {:>8} {:>8}", d.rates.cps, d.rates.in_pps, d.rates.out_pps);
                largenum(out, d.rates.in_bps, o.exact);
                largenum(out, d.rates.out_bps, o.exact);
                out.push('\n');
            }
            ListFormat::Thresholds => {
                let _ = writeln!(
                    out,
                    "  -> {dname:<28} {:<10} {:<10} {:<10} {:<10}",
                    d.config.upper_threshold, d.config.lower_threshold, d.active_conns, d.inactive_conns
                );
            }
            ListFormat::PersistentConn => {
                let _ = writeln!(
                    out,
                    "  -> {dname:<28} {:<9} {:<11} {:<10} {:<10}",
                    d.config.weight, d.persistent_conns, d.active_conns, d.inactive_conns
                );
            }
            ListFormat::Default => {
                let fwd = match d.config.forward {
                    ForwardMethod::Masq => "Masq",
                    ForwardMethod::Local => "Local",
                    ForwardMethod::Tunnel(_) => "Tunnel",
                    ForwardMethod::Route => "Route",
                };
                let _ = writeln!(
                    out,
                    "  -> {dname:<28} {fwd:<7} {:<6} {:<10} {:<10}",
                    d.config.weight, d.active_conns, d.inactive_conns
                );
            }
        }
    }
}

/// `ipvsadm -L` over `services`: the version header (unless one service was
/// asked for), the title of the chosen columns, then each service and its
/// real servers, sorted as ipvsadm sorts them unless `nosort`. With
/// `service` set, only that service is shown (nothing if it is not there;
/// ipvsadm prints "No such service" and fails).
pub fn list(info: &IpvsInfo, services: &[ServiceSnapshot], o: &ListOptions) -> String {
    let mut out = String::new();
    if let Some(key) = &o.service {
        let Some(s) = services.iter().find(|s| s.config.key == *key) else { return out };
        title(&mut out, o.format);
        service_entry(&mut out, s, o);
        return out;
    }
    let v = info.version;
    let _ = writeln!(
        out,
        "IP Virtual Server version {}.{}.{} (size={})",
        (v >> 16) & 0xff,
        (v >> 8) & 0xff,
        v & 0xff,
        info.conn_tab_size
    );
    title(&mut out, o.format);
    let sorted = if o.nosort { services.to_vec() } else { sort_services(services) };
    for s in &sorted {
        service_entry(&mut out, s, o);
    }
    out
}

/// `ipvsadm -L --timeout`.
pub fn list_timeout(t: &Timeouts) -> String {
    format!("Timeout (tcp tcpfin udp): {} {} {}\n", t.tcp, t.tcp_fin, t.udp)
}

/// `ipvsadm -L --daemon` (ipvsadm 1.31's line, with the parameters the
/// kernel reports).
pub fn list_daemons(daemons: &[DaemonConfig]) -> String {
    let mut out = String::new();
    for d in daemons {
        let role = if d.role == DaemonRole::Master { "master" } else { "backup" };
        let group = d.mcast_group.map_or_else(|| "224.0.0.81".to_owned(), |g| g.to_string());
        let _ = writeln!(
            out,
            "{role} sync daemon (mcast={}, syncid={}, maxlen={}, group={group}, port={}, ttl={})",
            d.mcast_ifn, d.sync_id, d.sync_maxlen, d.mcast_port, d.mcast_ttl
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn largenum_like_ipvsadm() {
        let f = |i: u64, exact: bool| {
            let mut s = String::new();
            largenum(&mut s, i, exact);
            s
        };
        assert_eq!(f(0, false), "        0");
        assert_eq!(f(99_999_999, false), " 99999999");
        assert_eq!(f(100_000_000, false), "  100000K");
        assert_eq!(f(1_234_567_890, false), "    1234M");
        assert_eq!(f(123_456_789_012, false), "     123G");
        assert_eq!(f(123_456_789_012_345, false), "     123T");
        assert_eq!(f(1_234_567_890, true), " 1234567890");
        assert_eq!(f(12, true), "       12");
    }

    #[test]
    fn merge_sort_is_glibcs() {
        // Plain order for a consistent comparison.
        let mut v = vec![5, 3, 9, 1, 3, 7];
        msort(&mut v, &|a: &i64, b: &i64| a - b);
        assert_eq!(v, [1, 3, 3, 5, 7, 9]);
        // The wrap-around: 10.0.0.1 - 192.0.2.1 as a signed int is positive.
        assert!(addr_cmp("10.0.0.1".parse().unwrap(), "192.0.2.1".parse().unwrap()) > 0);
        assert!(addr_cmp("192.0.2.1".parse().unwrap(), "198.51.100.1".parse().unwrap()) < 0);
        assert!(diff32(1, 0x8000_0002) > 0);
    }

    /// ipvsadm prints a firewall mark as a signed int in listings and
    /// `-S` output, so `ipvsadm -R` (and lvskit) cannot read such a line
    /// back. (Recorded with ipvsadm 1.31 for `-A -f 2147483650 -s rr`,
    /// `-a -f 2147483650 -r 198.51.100.52 -m`.)
    #[test]
    fn marks_above_2_pow_31_come_out_negative() {
        use crate::backend::{IpvsBackend, MemoryIpvs};
        let mut ipvs = MemoryIpvs::new();
        for line in ["-A -f 2147483650 -s rr", "-a -f 2147483650 -r 198.51.100.52 -m"] {
            let Ok(super::super::Command::Op(op)) =
                super::super::parse_args(&line.split_whitespace().collect::<Vec<_>>())
            else {
                panic!("{line}")
            };
            ipvs.execute(&op).expect(line);
        }
        let services = ipvs.services().expect("services");
        let saved = super::super::save(&services, true);
        assert_eq!(saved, "-A -f -2147483646 -s rr\n-a -f -2147483646 -r 198.51.100.52:0 -m -w 1\n");
        let err = super::super::parse_rules(&saved).expect_err("ipvsadm -R refuses a negative mark");
        assert_eq!(err.errors.len(), 2, "{err}");
        let listed =
            list(&ipvs.info().expect("info"), &services, &ListOptions { numeric: true, ..ListOptions::default() });
        assert!(listed.contains("\nFWM  -2147483646 rr\n"), "{listed}");
        // Commands keep the mark unsigned, so they read back.
        let again = super::super::parse_args(&["-A", "-f", "2147483650"]);
        assert!(matches!(again, Ok(super::super::Command::Op(crate::backend::IpvsOp::AddService(_)))), "{again:?}");
    }
}
