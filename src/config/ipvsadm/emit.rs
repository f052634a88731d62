//! Writing rules: `ipvsadm -S [-n]` (`print_service_entry` with
//! `FMT_RULE`) and full command lines.

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};

use super::list::{sort_dests, sort_services};
use super::services;
use crate::backend::IpvsOp;
use crate::ipvs::{
    DaemonRole, DestConfig, Family, ForwardMethod, PersistMask, Protocol, ServiceConfig, ServiceFlags, ServiceKey,
    ServiceSnapshot, TunnelCsum, TunnelKind,
};

/// `addrport_to_anyname`: `ADDR:PORT` (`[ADDR]:PORT` for IPv6), the port as
/// a service name unless `numeric`. Addresses are always numeric.
pub(crate) fn addr_port(addr: IpAddr, port: u16, proto: Protocol, numeric: bool) -> String {
    let p = if numeric {
        port.to_string()
    } else {
        services::name_of(port, services::proto_name(proto)).map_or_else(|| port.to_string(), str::to_owned)
    };
    match addr {
        IpAddr::V4(a) => format!("{a}:{p}"),
        IpAddr::V6(a) => format!("[{a}]:{p}"),
    }
}

/// The service part of a rule: `-t ADDR:PORT`, `-u ...`, `--sctp-service
/// ...`, `-f MARK [-6]`. `ipvsadm -S` prints the mark with `%d`, so marks
/// above 2^31 come out negative (`signed_mark`), which `ipvsadm -R` then
/// refuses; command lines print them as they are read.
pub(crate) fn service_switch_with(key: &ServiceKey, numeric: bool, signed_mark: bool) -> String {
    match *key {
        ServiceKey::Fwmark { family, mark } => {
            let m = if signed_mark { (mark as i32).to_string() } else { mark.to_string() };
            if family == Family::V6 { format!("-f {m} -6") } else { format!("-f {m}") }
        }
        ServiceKey::Addr { protocol, addr, port } => {
            let sw = match protocol {
                Protocol::Tcp => "-t",
                Protocol::Udp => "-u",
                Protocol::Sctp => "--sctp-service",
            };
            format!("{sw} {}", addr_port(addr, port, protocol, numeric))
        }
    }
}

pub(crate) fn service_switch(key: &ServiceKey, numeric: bool) -> String {
    service_switch_with(key, numeric, false)
}

/// The protocol whose service names a key's ports take (TCP for marks).
pub(crate) fn key_proto(key: &ServiceKey) -> Protocol {
    match key {
        ServiceKey::Addr { protocol, .. } => *protocol,
        ServiceKey::Fwmark { .. } => Protocol::Tcp,
    }
}

/// `print_sched_flags`: the scheduler flags by the names the scheduler uses.
pub(crate) fn sched_flags(sched: &str, flags: ServiceFlags) -> String {
    let mut v: Vec<&str> = Vec::new();
    let (f1, f2) = match sched {
        "sh" => ("sh-fallback", "sh-port"),
        "mh" => ("mh-fallback", "mh-port"),
        _ => ("flag-1", "flag-2"),
    };
    if flags.contains(ServiceFlags::SCHED1) {
        v.push(f1);
    }
    if flags.contains(ServiceFlags::SCHED2) {
        v.push(f2);
    }
    if flags.contains(ServiceFlags::SCHED3) {
        v.push("flag-3");
    }
    v.join(",")
}

/// The options of `-A`/`-E` after the service: `-s SCHED [-p T [-M MASK]]
/// [--pe PE] [-o] [-b FLAGS]`, in ipvsadm's order.
fn service_options(s: &ServiceConfig) -> String {
    let mut out = format!(" -s {}", s.scheduler);
    if let Some(p) = &s.persistence {
        let _ = write!(out, " -p {}", p.timeout);
        match p.mask {
            PersistMask::V4(m) if m != std::net::Ipv4Addr::BROADCAST => {
                let _ = write!(out, " -M {m}");
            }
            PersistMask::V6(n) if n != 128 => {
                let _ = write!(out, " -M {n}");
            }
            _ => {}
        }
    }
    if let Some(pe) = &s.pe_name {
        let _ = write!(out, " --pe {pe}");
    }
    if s.flags.contains(ServiceFlags::ONEPACKET) {
        out.push_str(" -o");
    }
    if s.flags.intersects(ServiceFlags::SCHED_FLAGS) {
        let _ = write!(out, " -b {}", sched_flags(&s.scheduler, s.flags));
    }
    out
}

/// `fwd_switch` and, for tunnels, ipvsadm 1.31's `--tun-*` options.
fn forward_options(f: ForwardMethod) -> String {
    match f {
        ForwardMethod::Masq => "-m".into(),
        ForwardMethod::Route | ForwardMethod::Local => "-g".into(),
        ForwardMethod::Tunnel(t) => {
            let mut s = format!("-i --tun-type {}", t.kind.name());
            if t.kind == TunnelKind::Gue {
                let _ = write!(s, " --tun-port {}", t.port);
            }
            if t.kind != TunnelKind::Ipip {
                s.push_str(match t.csum {
                    TunnelCsum::NoCsum => " --tun-nocsum",
                    TunnelCsum::Csum => " --tun-csum",
                    TunnelCsum::RemCsum => " --tun-remcsum",
                });
            }
            s
        }
    }
}

fn dest_rule(key: &ServiceKey, d: &DestConfig, numeric: bool, signed_mark: bool) -> String {
    // ipvsadm -S splits the method and the weight around `-w` for
    // tunnels: `-i -w 1 --tun-type ...`.
    let fwd = forward_options(d.forward);
    let (sw, tail) = fwd.split_once(' ').map_or((fwd.as_str(), ""), |(a, b)| (a, b));
    let mut s = format!(
        "-a {} -r {} {sw} -w {}",
        service_switch_with(key, numeric, signed_mark),
        addr_port(d.addr, d.port, key_proto(key), numeric),
        d.weight
    );
    if !tail.is_empty() {
        s.push(' ');
        s.push_str(tail);
    }
    s
}

/// `ipvsadm -S` (`numeric`: `-S -n`): every service and its real servers,
/// in ipvsadm's order. Like ipvsadm 1.31, thresholds are not saved and
/// firewall marks above 2^31 are written negative (so `ipvsadm -R`, and
/// [`parse_rules`](super::parse_rules), refuse them).
pub fn save(services: &[ServiceSnapshot], numeric: bool) -> String {
    let mut out = String::new();
    for s in sort_services(services) {
        let _ = writeln!(out, "-A {}{}", service_switch_with(&s.config.key, numeric, true), service_options(&s.config));
        for d in sort_dests(&s.dests) {
            let _ = writeln!(out, "{}", dest_rule(&s.config.key, &d.config, numeric, true));
        }
    }
    out
}

/// The `ipvsadm` command line that performs `op` (without the program
/// name), thresholds included. `parse_args` reads it back as `op`.
pub fn command_line(op: &IpvsOp, numeric: bool) -> String {
    match op {
        IpvsOp::AddService(s) => format!("-A {}{}", service_switch(&s.key, numeric), service_options(s)),
        IpvsOp::EditService(s) => format!("-E {}{}", service_switch(&s.key, numeric), service_options(s)),
        IpvsOp::DelService(k) => format!("-D {}", service_switch(k, numeric)),
        IpvsOp::AddDest(k, d) | IpvsOp::EditDest(k, d) => {
            let mut s = dest_rule(k, d, numeric, false);
            if matches!(op, IpvsOp::EditDest(..)) {
                s.replace_range(0..2, "-e");
            }
            if d.upper_threshold != 0 {
                let _ = write!(s, " -x {}", d.upper_threshold);
            }
            if d.lower_threshold != 0 {
                let _ = write!(s, " -y {}", d.lower_threshold);
            }
            s
        }
        IpvsOp::DelDest(k, a) => {
            let a: &SocketAddr = a;
            format!("-d {} -r {}", service_switch(k, numeric), addr_port(a.ip(), a.port(), key_proto(k), numeric))
        }
        IpvsOp::SetTimeouts(t) => format!("--set {} {} {}", t.tcp, t.tcp_fin, t.udp),
        IpvsOp::StartDaemon(d) => {
            let mut s = format!(
                "--start-daemon {} --mcast-interface {} --syncid {}",
                if d.role == DaemonRole::Master { "master" } else { "backup" },
                d.mcast_ifn,
                d.sync_id
            );
            if d.sync_maxlen != 0 {
                let _ = write!(s, " --sync-maxlen {}", d.sync_maxlen);
            }
            if let Some(g) = d.mcast_group {
                let _ = write!(s, " --mcast-group {g}");
            }
            if d.mcast_port != 0 {
                let _ = write!(s, " --mcast-port {}", d.mcast_port);
            }
            if d.mcast_ttl != 0 {
                let _ = write!(s, " --mcast-ttl {}", d.mcast_ttl);
            }
            s
        }
        IpvsOp::StopDaemon(r) => {
            format!("--stop-daemon {}", if *r == DaemonRole::Master { "master" } else { "backup" })
        }
        IpvsOp::Zero(None) => "-Z".into(),
        IpvsOp::Zero(Some(k)) => format!("-Z {}", service_switch(k, numeric)),
        IpvsOp::Flush => "-C".into(),
    }
}
