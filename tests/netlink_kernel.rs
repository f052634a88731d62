// lvskit-test: vm
//! The kernel backends against Debian's 6.1 kernel, inside the throw-away VM
//! (`scripts/ipvs-vm`; `IPVS_VM=1` there). Outside the VM every test prints
//! a note and returns.
//!
//! * every IPVS operation through `NetlinkIpvs`, each result checked through
//!   the kernel's own views (`ipvsadm-save -n`, `ipvsadm -Ln --thresholds`,
//!   `/proc/net/ip_vs`) and through lvskit's reads;
//! * one sequence of calls run against `NetlinkIpvs` and `MemoryIpvs`: the
//!   same results and the same errors, call for call; the same for batches
//!   with refused operations, and for addresses (`NetlinkAddresses` and
//!   `MemoryAddresses`);
//! * what the kernel itself refuses when the client-side checks are skipped
//!   (raw requests), so that those checks never hide a kernel rule;
//! * reconciliation from random tables to others: exactly the desired table,
//!   exactly the minimal number of operations, none for unchanged objects;
//! * NAT and DR services carrying TCP between namespaces while weights
//!   change, without a reset, and the DR real-server setup and its undo.
#![cfg(all(feature = "netlink", target_os = "linux"))]

mod backend_support;

use std::fmt::Debug;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::process::Command;

use lvskit::backend::netlink::family::{CmdAttr, DestAttr, IpvsCmd, IpvsMessage, SvcAttr};
use lvskit::backend::netlink::{NetlinkAddresses, NetlinkIpvs};
use lvskit::backend::{
    AddrScope, AddressBackend, AddressEntry, Errno, InterfaceAddress, IpvsBackend, IpvsOp, MemoryAddresses, MemoryIpvs,
};
use lvskit::ipvs::{
    DaemonConfig, DaemonRole, DestConfig, Family, ForwardMethod, PersistMask, Persistence, Protocol, ServiceConfig,
    ServiceFlags, ServiceKey, ServiceSnapshot, Timeouts, TunnelCsum, TunnelKind, TunnelParams,
};

fn in_vm(test: &str) -> bool {
    if std::env::var("IPVS_VM").as_deref() == Ok("1") {
        true
    } else {
        eprintln!("note: {test} needs the IPVS VM (scripts/ipvs-vm); skipped");
        false
    }
}

/// Runs a shell command, panics unless it succeeds, returns its stdout.
fn sh(cmd: &str) -> String {
    let out = Command::new("bash").arg("-c").arg(cmd).output().expect("run bash");
    assert!(out.status.success(), "`{cmd}` failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf-8 output")
}

fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(a, b, c, d))
}

fn v6(s: &str) -> IpAddr {
    IpAddr::V6(s.parse::<Ipv6Addr>().expect("IPv6 literal"))
}

fn tcp(addr: IpAddr, port: u16) -> ServiceKey {
    ServiceKey::addr(Protocol::Tcp, addr, port)
}

fn udp(addr: IpAddr, port: u16) -> ServiceKey {
    ServiceKey::addr(Protocol::Udp, addr, port)
}

/// The interface sync daemons use in the VM (and its MTU, for the memory
/// backend).
const SYNC_IF: &str = "lvsync0";

fn ensure_sync_interface() {
    if !sh(&format!("ip -o link show {SYNC_IF} 2>/dev/null || true")).contains(SYNC_IF) {
        sh(&format!(
            "ip link add {SYNC_IF} type veth peer name lvsync1 && ip addr add 192.0.2.250/24 dev {SYNC_IF} \
             && ip addr add 2001:db8:ffff::250/64 dev {SYNC_IF} nodad \
             && ip link set {SYNC_IF} up && ip link set lvsync1 up"
        ));
    }
}

fn fresh_kernel() -> NetlinkIpvs {
    let mut k = NetlinkIpvs::new().expect("IPVS family");
    k.flush().expect("flush");
    for role in [DaemonRole::Master, DaemonRole::Backup] {
        let _ = k.stop_daemon(role);
    }
    k.set_timeouts(&Timeouts::default()).expect("default timeouts");
    k
}

fn memory_like_vm() -> MemoryIpvs {
    let mut m = MemoryIpvs::new();
    m.add_interface(SYNC_IF, 1500);
    m
}

// ------------------------------------------------------------------ kernel views

/// The sched-flag names `ipvsadm` prints for a scheduler.
fn flag_names(sched: &str, flags: ServiceFlags) -> Vec<&'static str> {
    let mut v = Vec::new();
    let (n1, n2) = match sched {
        "sh" => ("sh-fallback", "sh-port"),
        "mh" => ("mh-fallback", "mh-port"),
        _ => ("flag-1", "flag-2"),
    };
    if flags.contains(ServiceFlags::SCHED1) {
        v.push(n1);
    }
    if flags.contains(ServiceFlags::SCHED2) {
        v.push(n2);
    }
    if flags.contains(ServiceFlags::SCHED3) {
        v.push("flag-3");
    }
    v
}

/// An address as glibc's `inet_ntop` prints it (which writes an
/// IPv4-compatible or -mapped IPv6 address with a dotted tail).
fn ntop(addr: IpAddr) -> String {
    match addr {
        IpAddr::V6(a) => {
            let w = a.segments();
            let o = a.octets();
            if w[..5] == [0; 5] && (w[5] == 0xffff || (w[5] == 0 && w[6] != 0)) {
                let tail = Ipv4Addr::new(o[12], o[13], o[14], o[15]);
                if w[5] == 0xffff { format!("::ffff:{tail}") } else { format!("::{tail}") }
            } else {
                a.to_string()
            }
        }
        IpAddr::V4(a) => a.to_string(),
    }
}

fn ntop_sock(s: SocketAddr) -> String {
    match s.ip() {
        IpAddr::V4(_) => format!("{}:{}", ntop(s.ip()), s.port()),
        IpAddr::V6(_) => format!("[{}]:{}", ntop(s.ip()), s.port()),
    }
}

fn svc_arg(key: &ServiceKey) -> String {
    match key {
        ServiceKey::Addr { protocol, addr, port } => {
            let p = match protocol {
                Protocol::Tcp => "-t",
                Protocol::Udp => "-u",
                Protocol::Sctp => "--sctp-service",
            };
            format!("{p} {}", ntop_sock(SocketAddr::new(*addr, *port)))
        }
        ServiceKey::Fwmark { family: Family::V4, mark } => format!("-f {mark}"),
        ServiceKey::Fwmark { family: Family::V6, mark } => format!("-f {mark} -6"),
    }
}

/// lvskit's view rendered the way `ipvsadm-save -n` (1.31) prints it.
fn render_save(services: &[ServiceSnapshot]) -> Vec<String> {
    let mut lines = Vec::new();
    for s in services {
        let c = &s.config;
        let mut l = format!("-A {} -s {}", svc_arg(&c.key), c.scheduler);
        if let Some(p) = &c.persistence {
            l += &format!(" -p {}", p.timeout);
            match p.mask {
                PersistMask::V4(m) if m != Ipv4Addr::BROADCAST => l += &format!(" -M {m}"),
                PersistMask::V6(plen) if plen != 128 => l += &format!(" -M {plen}"),
                _ => {}
            }
        }
        if let Some(pe) = &c.pe_name {
            l += &format!(" --pe {pe}");
        }
        if c.flags.contains(ServiceFlags::ONEPACKET) {
            l += " -o";
        }
        let names = flag_names(&c.scheduler, c.flags);
        if !names.is_empty() {
            l += &format!(" -b {}", names.join(","));
        }
        lines.push(l);
        for d in &s.dests {
            let dc = &d.config;
            let method = match dc.forward {
                ForwardMethod::Masq => "-m",
                ForwardMethod::Route => "-g",
                ForwardMethod::Tunnel(_) => "-i",
                // ipvsadm has no option for a local-node server and saves it as -g.
                ForwardMethod::Local => "-g",
            };
            let mut l = format!("-a {} -r {} {method} -w {}", svc_arg(&c.key), ntop_sock(dc.socket_addr()), dc.weight);
            if let ForwardMethod::Tunnel(t) = dc.forward {
                l += &format!(" --tun-type {}", t.kind.name());
                if t.kind == TunnelKind::Gue {
                    l += &format!(" --tun-port {}", t.port);
                }
                if t.kind != TunnelKind::Ipip {
                    l += match t.csum {
                        TunnelCsum::NoCsum => " --tun-nocsum",
                        TunnelCsum::Csum => " --tun-csum",
                        TunnelCsum::RemCsum => " --tun-remcsum",
                    };
                }
            }
            lines.push(l);
        }
    }
    lines.sort();
    lines
}

fn kernel_save() -> Vec<String> {
    let mut v: Vec<String> = sh("ipvsadm-save -n").lines().map(str::to_owned).collect();
    v.sort();
    v
}

/// `(service, dest, upper, lower)` from `ipvsadm -Ln --thresholds`.
fn kernel_thresholds() -> Vec<(String, String, u32, u32)> {
    let mut out = Vec::new();
    let mut svc = String::new();
    for line in sh("ipvsadm -Ln --thresholds").lines().skip(3) {
        let f: Vec<&str> = line.split_whitespace().collect();
        if line.starts_with("  ->") {
            out.push((svc.clone(), f[1].to_owned(), f[2].parse().expect("upper"), f[3].parse().expect("lower")));
        } else if f.len() >= 2 {
            svc = format!("{} {}", f[0], f[1]);
        }
    }
    out.sort();
    out
}

fn render_thresholds(services: &[ServiceSnapshot]) -> Vec<(String, String, u32, u32)> {
    let mut out = Vec::new();
    for s in services {
        let svc = match s.config.key {
            ServiceKey::Addr { protocol, addr, port } => {
                format!("{} {}", protocol.name(), ntop_sock(SocketAddr::new(addr, port)))
            }
            ServiceKey::Fwmark { mark, .. } => format!("FWM {mark}"),
        };
        for d in &s.dests {
            let c = &d.config;
            out.push((svc.clone(), ntop_sock(c.socket_addr()), c.upper_threshold, c.lower_threshold));
        }
    }
    out.sort();
    out
}

fn hex_addr(s: &str) -> IpAddr {
    if let Some(inner) = s.strip_prefix('[') {
        v6(inner.trim_end_matches(']'))
    } else {
        IpAddr::V4(Ipv4Addr::from(u32::from_str_radix(s, 16).expect("hex IPv4")))
    }
}

fn hex_sock(s: &str) -> SocketAddr {
    let (a, p) = s.rsplit_once(':').expect("addr:port");
    SocketAddr::new(hex_addr(a), u16::from_str_radix(p, 16).expect("hex port"))
}

/// Each service of `/proc/net/ip_vs` with its real servers in the kernel's
/// list order: `(service, [(dest, forward, weight)])`.
/// A service's name and its real servers `(address, forward, weight)`.
type ProcEntry = (String, Vec<(SocketAddr, String, u32)>);

fn kernel_proc() -> Vec<ProcEntry> {
    let mut out: Vec<ProcEntry> = Vec::new();
    for line in std::fs::read_to_string("/proc/net/ip_vs").expect("/proc/net/ip_vs").lines().skip(3) {
        let f: Vec<&str> = line.split_whitespace().collect();
        if line.starts_with("  ->") {
            let entry = (hex_sock(f[1]), f[2].to_owned(), f[3].parse().expect("weight"));
            out.last_mut().expect("a service first").1.push(entry);
        } else {
            let name = match f[0] {
                "FWM" => format!("FWM {}", u32::from_str_radix(f[1], 16).expect("hex mark")),
                p => format!("{p} {}", hex_sock(f[1])),
            };
            out.push((name, Vec::new()));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn render_proc(services: &[ServiceSnapshot]) -> Vec<ProcEntry> {
    let mut out: Vec<_> = services
        .iter()
        .map(|s| {
            let name = match s.config.key {
                ServiceKey::Addr { protocol, addr, port } => {
                    format!("{} {}", protocol.name(), SocketAddr::new(addr, port))
                }
                ServiceKey::Fwmark { mark, .. } => format!("FWM {mark}"),
            };
            let dests = s
                .dests
                .iter()
                .map(|d| (d.config.socket_addr(), d.config.forward.ipvsadm_name().to_owned(), d.config.weight))
                .collect();
            (name, dests)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// The kernel's three views agree with lvskit's read of the same table.
fn assert_kernel_agrees(k: &mut NetlinkIpvs, at: &str) {
    let ours = k.services().expect("services");
    assert_eq!(render_save(&ours), kernel_save(), "ipvsadm-save -n vs lvskit at {at}");
    assert_eq!(render_thresholds(&ours), kernel_thresholds(), "ipvsadm --thresholds vs lvskit at {at}");
    assert_eq!(render_proc(&ours), kernel_proc(), "/proc/net/ip_vs (list order) vs lvskit at {at}");
    let t = k.timeouts().expect("timeouts");
    assert_eq!(
        sh("ipvsadm -L --timeout").trim(),
        format!("Timeout (tcp tcpfin udp): {} {} {}", t.tcp, t.tcp_fin, t.udp)
    );
}

// ------------------------------------------------------------------ one body, two backends

struct Transcript(Vec<String>);

impl Transcript {
    fn step<T: Debug>(&mut self, label: &str, r: T) {
        if std::env::var_os("LVSKIT_TRACE").is_some() {
            eprintln!("{label}: {r:?}");
        }
        self.0.push(format!("{label}: {r:?}"));
    }
}

fn gue(port: u16, csum: TunnelCsum) -> ForwardMethod {
    ForwardMethod::Tunnel(TunnelParams { kind: TunnelKind::Gue, port, csum })
}

/// Every IPVS call, valid and not, in one sequence. `check` runs after each
/// group of calls (the kernel run compares the kernel's views there).
fn scenario<B: IpvsBackend>(b: &mut B, check: &mut dyn FnMut(&mut B, &str)) -> Vec<String> {
    let mut t = Transcript(Vec::new());
    let web = tcp(v4(192, 0, 2, 1), 80);
    let dns = udp(v4(192, 0, 2, 2), 53);
    let sip = udp(v4(192, 0, 2, 3), 5060);
    let sctp = ServiceKey::addr(Protocol::Sctp, v4(192, 0, 2, 4), 9);
    let allports = tcp(v4(192, 0, 2, 5), 0);
    let web6 = tcp(v6("2001:db8::1"), 443);
    let fwm = ServiceKey::fwmark(Family::V4, 7);
    let fwm6 = ServiceKey::fwmark(Family::V6, 8);
    let missing = tcp(v4(192, 0, 2, 99), 80);

    t.step("info", b.info());
    t.step("timeouts", b.timeouts());
    t.step("set timeouts", b.set_timeouts(&Timeouts { tcp: 100, tcp_fin: 0, udp: 30 }));
    t.step("timeouts after", b.timeouts());
    t.step("timeout too big", b.set_timeouts(&Timeouts { tcp: 8_589_935, tcp_fin: 0, udp: 0 }));
    t.step("timeout at the limit", b.set_timeouts(&Timeouts { tcp: 0, tcp_fin: 8_589_934, udp: 0 }));
    t.step("timeouts unchanged by refusal", b.timeouts());
    check(b, "timeouts");

    // Services of every kind.
    t.step("add web", b.add_service(&ServiceConfig::new(web, "rr")));
    t.step(
        "add dns",
        b.add_service(
            &ServiceConfig::new(dns, "wlc")
                .persistent(Persistence { timeout: 600, mask: PersistMask::V4(Ipv4Addr::new(255, 255, 255, 0)) }),
        ),
    );
    let mut sip_cfg = ServiceConfig::new(sip, "rr").persistent(Persistence::new(Family::V4));
    sip_cfg.pe_name = Some("sip".into());
    sip_cfg.flags = ServiceFlags::ONEPACKET | ServiceFlags::SCHED1 | ServiceFlags::SCHED3;
    t.step("add sip", b.add_service(&sip_cfg));
    t.step("add sctp", b.add_service(&ServiceConfig::new(sctp, "lc")));
    t.step(
        "add all ports",
        b.add_service(&ServiceConfig::new(allports, "wrr").persistent(Persistence::new(Family::V4))),
    );
    t.step(
        "add web6",
        b.add_service(
            &ServiceConfig::new(web6, "sh")
                .flags(ServiceFlags::SH_PORT | ServiceFlags::SH_FALLBACK)
                .persistent(Persistence { timeout: 300, mask: PersistMask::V6(64) }),
        ),
    );
    t.step("add fwm", b.add_service(&ServiceConfig::new(fwm, "mh").flags(ServiceFlags::MH_FALLBACK)));
    t.step("add fwm6", b.add_service(&ServiceConfig::new(fwm6, "none")));
    check(b, "services added");

    // Refused services.
    t.step("add web again", b.add_service(&ServiceConfig::new(web, "wlc")));
    t.step("add twos (not in 6.1)", b.add_service(&ServiceConfig::new(tcp(v4(192, 0, 2, 6), 80), "twos")));
    t.step("add unknown scheduler", b.add_service(&ServiceConfig::new(tcp(v4(192, 0, 2, 6), 80), "nosuch")));
    let mut bad_pe = ServiceConfig::new(udp(v4(192, 0, 2, 6), 80), "rr").persistent(Persistence::new(Family::V4));
    bad_pe.pe_name = Some("nosuch".into());
    t.step("add unknown pe", b.add_service(&bad_pe));
    t.step("add port 0 without persistence", b.add_service(&ServiceConfig::new(tcp(v4(192, 0, 2, 6), 0), "rr")));
    t.step(
        "add v6 with v4 mask",
        b.add_service(&ServiceConfig::new(tcp(v6("2001:db8::6"), 80), "rr").persistent(Persistence::new(Family::V4))),
    );
    t.step(
        "add v6 prefix 0",
        b.add_service(
            &ServiceConfig::new(tcp(v6("2001:db8::6"), 80), "rr")
                .persistent(Persistence { timeout: 10, mask: PersistMask::V6(0) }),
        ),
    );
    t.step(
        "add scheduler name too long",
        b.add_service(&ServiceConfig::new(tcp(v4(192, 0, 2, 6), 80), "abcdefghijklmnop")),
    );
    t.step("add fwmark 0", b.add_service(&ServiceConfig::new(ServiceKey::fwmark(Family::V4, 0), "rr")));
    check(b, "refused services");

    // Edits.
    t.step("edit web", b.edit_service(&ServiceConfig::new(web, "wrr").flags(ServiceFlags::SCHED2)));
    t.step("edit dns: no persistence", b.edit_service(&ServiceConfig::new(dns, "wlc")));
    let mut sip_edit = sip_cfg.clone();
    sip_edit.pe_name = None;
    t.step("edit sip: drop pe", b.edit_service(&sip_edit));
    t.step("edit missing", b.edit_service(&ServiceConfig::new(missing, "rr")));
    t.step("edit to unknown scheduler", b.edit_service(&ServiceConfig::new(web, "nosuch")));
    t.step("web after refused edit", b.service(&web).map(|s| s.config));
    check(b, "edits");

    // Real servers of every kind.
    t.step("add masq", b.add_dest(&web, &DestConfig::masq(v4(198, 51, 100, 1), 8080).weight(3).thresholds(100, 50)));
    t.step("add route", b.add_dest(&web, &DestConfig::route(v4(198, 51, 100, 2), 80)));
    t.step(
        "add ipip",
        b.add_dest(&web, &DestConfig::tunnel(v4(198, 51, 100, 3), 80, TunnelParams::default()).weight(2)),
    );
    t.step("add gue csum", b.add_dest(&web, &DestConfig::new(v4(198, 51, 100, 4), 80, gue(6080, TunnelCsum::Csum))));
    t.step(
        "add gre remcsum",
        b.add_dest(
            &web,
            &DestConfig::tunnel(
                v4(198, 51, 100, 5),
                80,
                TunnelParams { kind: TunnelKind::Gre, port: 0, csum: TunnelCsum::RemCsum },
            ),
        ),
    );
    t.step("add local", b.add_dest(&web, &DestConfig::new(v4(198, 51, 100, 6), 80, ForwardMethod::Local)));
    t.step("add quiescent", b.add_dest(&web, &DestConfig::route(v4(198, 51, 100, 7), 80).weight(0)));
    t.step("add v6 to web6", b.add_dest(&web6, &DestConfig::masq(v6("2001:db8::10"), 443)));
    t.step("add v6 masq to web (mixed)", b.add_dest(&web, &DestConfig::masq(v6("2001:db8::11"), 80)));
    t.step(
        "add v6 tunnel to web (mixed)",
        b.add_dest(&web, &DestConfig::tunnel(v6("2001:db8::11"), 80, TunnelParams::default())),
    );
    t.step("add to fwm", b.add_dest(&fwm, &DestConfig::route(v4(198, 51, 100, 8), 0).weight(5)));
    t.step("add to fwm6", b.add_dest(&fwm6, &DestConfig::route(v6("2001:db8::12"), 0)));
    t.step("add to all ports", b.add_dest(&allports, &DestConfig::route(v4(198, 51, 100, 9), 0)));
    check(b, "real servers added");

    // Refused real servers.
    t.step("add masq again", b.add_dest(&web, &DestConfig::masq(v4(198, 51, 100, 1), 8080)));
    t.step("add to missing", b.add_dest(&missing, &DestConfig::masq(v4(198, 51, 100, 1), 8080)));
    for (label, addr) in [
        ("0.0.0.0", v4(0, 0, 0, 0)),
        ("0.1.2.3", v4(0, 1, 2, 3)),
        ("255.255.255.255", v4(255, 255, 255, 255)),
        ("224.0.0.5", v4(224, 0, 0, 5)),
        ("239.1.1.1", v4(239, 1, 1, 1)),
    ] {
        t.step(&format!("add dest {label}"), b.add_dest(&web, &DestConfig::route(addr, 80)));
    }
    for (label, addr) in
        [("::", "::"), ("ff02::1", "ff02::1"), ("fe80::1234", "fe80::1234"), ("mapped", "::ffff:198.51.100.9")]
    {
        t.step(&format!("add dest {label}"), b.add_dest(&web6, &DestConfig::route(v6(addr), 443)));
    }
    t.step("add dest ::198.51.100.9 (compat)", b.add_dest(&web6, &DestConfig::route(v6("::198.51.100.9"), 443)));
    t.step("add dest fec0::1 (site-local)", b.add_dest(&web6, &DestConfig::route(v6("fec0::1"), 443)));
    t.step("add dest fd00::1 (ULA)", b.add_dest(&web6, &DestConfig::route(v6("fd00::1"), 443)));
    t.step("add dest ::1", b.add_dest(&web6, &DestConfig::route(v6("::1"), 443)));
    t.step("weight 65536", b.add_dest(&web, &DestConfig::route(v4(198, 51, 100, 20), 80).weight(65536)));
    t.step("thresholds reversed", b.add_dest(&web, &DestConfig::route(v4(198, 51, 100, 20), 80).thresholds(5, 6)));
    t.step(
        "upper threshold above INT_MAX",
        b.add_dest(&web, &DestConfig::route(v4(198, 51, 100, 20), 80).thresholds(1 << 31, 0)),
    );
    t.step("gue port 0", b.add_dest(&web, &DestConfig::new(v4(198, 51, 100, 20), 80, gue(0, TunnelCsum::NoCsum))));
    check(b, "refused real servers");

    // Real-server edits and removals.
    t.step(
        "edit masq weight",
        b.edit_dest(&web, &DestConfig::masq(v4(198, 51, 100, 1), 8080).weight(7).thresholds(200, 0)),
    );
    t.step("edit route to masq", b.edit_dest(&web, &DestConfig::masq(v4(198, 51, 100, 2), 80).weight(4)));
    t.step(
        "edit gue port",
        b.edit_dest(&web, &DestConfig::new(v4(198, 51, 100, 4), 80, gue(6090, TunnelCsum::NoCsum))),
    );
    t.step("edit missing dest", b.edit_dest(&web, &DestConfig::masq(v4(198, 51, 100, 50), 80)));
    t.step("edit dest of missing service", b.edit_dest(&missing, &DestConfig::masq(v4(198, 51, 100, 1), 8080)));
    t.step("del route", b.del_dest(&web, SocketAddr::new(v4(198, 51, 100, 6), 80)));
    t.step("del missing dest", b.del_dest(&web, SocketAddr::new(v4(198, 51, 100, 6), 80)));
    t.step("del dest of missing service", b.del_dest(&missing, SocketAddr::new(v4(198, 51, 100, 6), 80)));
    t.step("re-add deleted", b.add_dest(&web, &DestConfig::masq(v4(198, 51, 100, 6), 80)));
    check(b, "real-server edits");

    // Reads.
    t.step("service web", b.service(&web));
    t.step("service missing", b.service(&missing));
    t.step("dests web6", b.dests(&web6));
    t.step("dests missing (empty, as the kernel's dump)", b.dests(&missing));
    t.step("services", b.services());

    // Sync daemons.
    let master = DaemonConfig {
        role: DaemonRole::Master,
        mcast_ifn: SYNC_IF.into(),
        sync_id: 0,
        sync_maxlen: 0,
        mcast_group: None,
        mcast_port: 0,
        mcast_ttl: 0,
    };
    t.step("start master with mixed-family servers", b.start_daemon(&master));
    t.step("del mixed", b.del_dest(&web, SocketAddr::new(v6("2001:db8::11"), 80)));
    t.step("start master", b.start_daemon(&master));
    t.step("start master again", b.start_daemon(&master));
    let backup = DaemonConfig {
        role: DaemonRole::Backup,
        mcast_ifn: SYNC_IF.into(),
        sync_id: 5,
        sync_maxlen: 1200,
        mcast_group: Some(v4(224, 0, 0, 100)),
        mcast_port: 9000,
        mcast_ttl: 2,
    };
    t.step(
        "start backup, group not multicast",
        b.start_daemon(&DaemonConfig { mcast_group: Some(v4(192, 0, 2, 1)), ..backup.clone() }),
    );
    t.step(
        "start backup, no such interface",
        b.start_daemon(&DaemonConfig { mcast_ifn: "nosuch0".into(), ..backup.clone() }),
    );
    t.step(
        "start backup, interface name too long",
        b.start_daemon(&DaemonConfig { mcast_ifn: "a-very-long-ifname".into(), ..backup.clone() }),
    );
    t.step("start backup", b.start_daemon(&backup));
    t.step("daemons", b.daemons());
    t.step(
        "mixed-family server while syncing",
        b.add_dest(&web, &DestConfig::tunnel(v6("2001:db8::11"), 80, TunnelParams::default())),
    );
    t.step("stop master", b.stop_daemon(DaemonRole::Master));
    t.step("stop master again", b.stop_daemon(DaemonRole::Master));
    t.step("daemons after", b.daemons());
    t.step("stop backup", b.stop_daemon(DaemonRole::Backup));
    t.step("backup with small maxlen", b.start_daemon(&DaemonConfig { sync_maxlen: 100, ..backup.clone() }));
    t.step("daemons small maxlen", b.daemons());
    t.step("stop backup again", b.stop_daemon(DaemonRole::Backup));
    t.step(
        "master v6 group",
        b.start_daemon(&DaemonConfig { mcast_group: Some(v6("ff02::81")), sync_maxlen: 9000, ..master.clone() }),
    );
    t.step("daemons v6", b.daemons());
    t.step("stop master v6", b.stop_daemon(DaemonRole::Master));
    check(b, "daemons");

    // Counters, removal, flush.
    t.step("zero web", b.zero(Some(&web)));
    t.step("zero missing", b.zero(Some(&missing)));
    t.step("zero all", b.zero(None));
    t.step("del sctp", b.del_service(&sctp));
    t.step("del sctp again", b.del_service(&sctp));
    t.step("services before flush", b.services().map(|v| v.len()));
    check(b, "removals");
    t.step("flush", b.flush());
    t.step("services after flush", b.services());
    t.step("flush empty", b.flush());
    check(b, "flushed");
    t.0
}

#[test]
fn one_body_both_backends_same_answers() {
    if !in_vm("one_body_both_backends_same_answers") {
        return;
    }
    ensure_sync_interface();
    let mut kernel = fresh_kernel();
    let mut memory = memory_like_vm();
    let mut checks = 0;
    let k = scenario(&mut kernel, &mut |k: &mut NetlinkIpvs, at: &str| {
        assert_kernel_agrees(k, at);
        checks += 1;
    });
    assert!(checks >= 10, "the kernel views were compared {checks} times");
    let m = scenario(&mut memory, &mut |_: &mut MemoryIpvs, _: &str| {});
    for (i, (a, b)) in k.iter().zip(&m).enumerate() {
        assert_eq!(a, b, "step {i} differs between the kernel (left) and memory (right)");
    }
    assert_eq!(k.len(), m.len());
    // The scenario must have met each kind of refusal.
    let text = k.join("\n");
    for errno in ["EEXIST", "ESRCH", "ENOENT", "EINVAL", "ENODEV", "Invalid"] {
        assert!(text.contains(errno), "the scenario never saw {errno}");
    }
}

#[test]
fn daemon_stopped_before_its_thread_ran_is_still_answered() {
    // `IPVS_CMD_DEL_DAEMON` right after `NEW_DAEMON` gets no answer from the
    // kernel (`kthread_stop` returns -EINTR, `netlink_rcv_skb` then sends no
    // acknowledgement); the backend must neither hang nor report a failure.
    if !in_vm("daemon_stopped_before_its_thread_ran_is_still_answered") {
        return;
    }
    ensure_sync_interface();
    let mut k = fresh_kernel();
    let backup = DaemonConfig {
        role: DaemonRole::Backup,
        mcast_ifn: SYNC_IF.into(),
        sync_id: 1,
        sync_maxlen: 0,
        mcast_group: None,
        mcast_port: 0,
        mcast_ttl: 0,
    };
    for _ in 0..20 {
        k.start_daemon(&backup).expect("start");
        k.stop_daemon(DaemonRole::Backup).expect("stop answered");
        assert_eq!(k.daemons().expect("daemons"), Vec::new());
    }
    let batch: Vec<IpvsOp> =
        (0..10).flat_map(|_| [IpvsOp::StartDaemon(backup.clone()), IpvsOp::StopDaemon(DaemonRole::Backup)]).collect();
    let report = k.apply(&batch);
    assert!(report.is_success(), "{report:?}");
    assert_eq!(k.daemons().expect("daemons"), Vec::new());
}

// ------------------------------------------------------------------ the kernel's own refusals

fn raw_service(attrs: Vec<SvcAttr>) -> IpvsMessage {
    IpvsMessage::new(IpvsCmd::NewService, vec![CmdAttr::Service(attrs)])
}

fn key_attrs(port: u16) -> Vec<SvcAttr> {
    let mut a = [0u8; 16];
    a[..4].copy_from_slice(&[192, 0, 2, 77]);
    vec![SvcAttr::Af(2), SvcAttr::Protocol(6), SvcAttr::Addr(a), SvcAttr::Port(port)]
}

#[test]
fn raw_requests_meet_the_kernels_own_rules() {
    if !in_vm("raw_requests_meet_the_kernels_own_rules") {
        return;
    }
    let mut k = fresh_kernel();
    let full = |port: u16, netmask: [u8; 4], af6: bool| {
        let mut v = if af6 {
            let a: Ipv6Addr = "2001:db8::77".parse().unwrap();
            vec![SvcAttr::Af(10), SvcAttr::Protocol(6), SvcAttr::Addr(a.octets()), SvcAttr::Port(port)]
        } else {
            key_attrs(port)
        };
        v.extend([
            SvcAttr::SchedName("rr".into()),
            SvcAttr::Flags { flags: 0, mask: u32::MAX },
            SvcAttr::Timeout(0),
            SvcAttr::Netmask(netmask),
        ]);
        v
    };
    let errno = |r: Result<Vec<IpvsMessage>, lvskit::backend::BackendError>| r.err().and_then(|e| e.errno());

    // The IPv6 trap: the netmask must hold a prefix length in 1..=128 even
    // without persistence, so lvskit sends 128 there.
    assert_eq!(errno(k.request(raw_service(full(80, 0u32.to_ne_bytes(), true)))), Some(Errno::EINVAL));
    assert_eq!(errno(k.request(raw_service(full(80, 129u32.to_ne_bytes(), true)))), Some(Errno::EINVAL));
    k.request(raw_service(full(80, 128u32.to_ne_bytes(), true))).expect("prefix 128 accepted");
    // A full entry needs every attribute.
    let mut no_mask = full(81, [255; 4], false);
    no_mask.pop();
    assert_eq!(errno(k.request(raw_service(no_mask))), Some(Errno::EINVAL));
    // Unknown attributes are ignored by the kernel's lenient parsing.
    let mut extra = full(82, [255; 4], false);
    extra.push(SvcAttr::Other(lvskit::backend::netlink::family::DefaultNla::new(60, vec![1, 2, 3, 4])));
    k.request(raw_service(extra)).expect("unknown attribute ignored");
    // The kernel accepts what ipvsadm (and lvskit's checks) refuse: port 0
    // without persistence.
    k.request(raw_service(full(0, [255; 4], false))).expect("the kernel takes port 0 without persistence");
    // The port travels in network byte order.
    assert!(std::fs::read_to_string("/proc/net/ip_vs").unwrap().contains("C000024D:0052"), "port 82 as 0x0052");

    // Flags with a mask: only the masked bits change.
    let set_flags = |flags: u32, mask: u32| {
        let mut v = key_attrs(82);
        v.extend([
            SvcAttr::SchedName("rr".into()),
            SvcAttr::Flags { flags, mask },
            SvcAttr::Timeout(0),
            SvcAttr::Netmask([255; 4]),
        ]);
        IpvsMessage::new(IpvsCmd::SetService, vec![CmdAttr::Service(v)])
    };
    k.request(set_flags(0x0008 | 0x0010, u32::MAX)).expect("set sched flags 1 and 2");
    k.request(set_flags(0x0004, 0x0004)).expect("set ops only");
    let svc = k.service(&tcp(v4(192, 0, 2, 77), 82)).expect("service");
    assert_eq!(svc.config.flags, ServiceFlags::SCHED1 | ServiceFlags::SCHED2 | ServiceFlags::ONEPACKET);

    // Real servers: the kernel's own checks.
    let svc_key = CmdAttr::Service(key_attrs(82));
    let dest = |addr: [u8; 4], fwd: u32, weight: u32, u: u32, l: u32, extra: Vec<DestAttr>| {
        let mut a = [0u8; 16];
        a[..4].copy_from_slice(&addr);
        let mut v = vec![
            DestAttr::Addr(a),
            DestAttr::Port(80),
            DestAttr::FwdMethod(fwd),
            DestAttr::Weight(weight),
            DestAttr::UThresh(u),
            DestAttr::LThresh(l),
        ];
        v.extend(extra);
        IpvsMessage::new(IpvsCmd::NewDest, vec![svc_key.clone(), CmdAttr::Dest(v)])
    };
    // No address family (as kernels before 3.18 and old clients): the
    // service's family is assumed.
    k.request(dest([198, 51, 100, 1], 0, 1, 0, 0, vec![])).expect("no address family");
    // ipvsadm stops at 65535; the kernel only refuses negative weights.
    k.request(dest([198, 51, 100, 2], 0, 70_000, 0, 0, vec![])).expect("the kernel takes weight 70000");
    assert_eq!(errno(k.request(dest([198, 51, 100, 3], 0, 0x8000_0000, 0, 0, vec![]))), Some(Errno::ERANGE));
    assert_eq!(errno(k.request(dest([198, 51, 100, 3], 0, 1, 5, 6, vec![]))), Some(Errno::ERANGE));
    assert_eq!(errno(k.request(dest([198, 51, 100, 3], 0, 1, 1 << 31, 0, vec![]))), Some(Errno::EINVAL));
    assert_eq!(
        errno(k.request(dest([198, 51, 100, 3], 2, 1, 0, 0, vec![DestAttr::TunType(1), DestAttr::TunPort(0)]))),
        Some(Errno::EINVAL),
        "GUE without a port"
    );
    // Mixed families only with tunnelling.
    let v6dest = |fwd: u32| {
        let a: Ipv6Addr = "2001:db8::5".parse().unwrap();
        let v = vec![
            DestAttr::Addr(a.octets()),
            DestAttr::Port(80),
            DestAttr::AddrFamily(10),
            DestAttr::FwdMethod(fwd),
            DestAttr::Weight(1),
            DestAttr::UThresh(0),
            DestAttr::LThresh(0),
        ];
        IpvsMessage::new(IpvsCmd::NewDest, vec![svc_key.clone(), CmdAttr::Dest(v)])
    };
    assert_eq!(errno(k.request(v6dest(0))), Some(Errno::EINVAL));
    k.request(v6dest(2)).expect("a tunnelled IPv6 server in an IPv4 service");
    assert_eq!(errno(k.request(v6dest(2))), Some(Errno::EEXIST));
    // Unknown address family.
    let bad_af = {
        let mut v = key_attrs(90);
        v[0] = SvcAttr::Af(3);
        IpvsMessage::new(IpvsCmd::DelService, vec![CmdAttr::Service(v)])
    };
    assert_eq!(errno(k.request(bad_af)), Some(Errno::EAFNOSUPPORT));
    // An unknown command.
    assert_eq!(errno(k.request(IpvsMessage::new(IpvsCmd::Other(99), vec![]))), Some(Errno::EOPNOTSUPP));

    let dests = k.dests(&tcp(v4(192, 0, 2, 77), 82)).expect("dests");
    assert_eq!(dests.len(), 3);
    assert!(dests.iter().any(|d| d.config.weight == 70_000));
    // lvskit's checks refuse what ipvsadm refuses, with a typed error.
    let err = k.add_dest(&tcp(v4(192, 0, 2, 77), 82), &DestConfig::masq(v4(198, 51, 100, 9), 80).weight(70_000));
    assert!(matches!(err, Err(lvskit::backend::BackendError::Invalid { .. })), "{err:?}");
    k.flush().expect("flush");
}

// ------------------------------------------------------------------ batches

/// A batch with refusals in it: both backends report the same outcome for
/// each operation and are left with the same table, which is exactly the
/// applied operations' effect.
fn batch_scenario<B: IpvsBackend>(b: &mut B) -> (String, Vec<ServiceSnapshot>) {
    let web = tcp(v4(192, 0, 2, 30), 80);
    let api = tcp(v4(192, 0, 2, 31), 443);
    let ghost = tcp(v4(192, 0, 2, 32), 80);
    b.add_service(&ServiceConfig::new(api, "rr")).expect("setup");
    let ops = vec![
        IpvsOp::AddService(ServiceConfig::new(web, "wlc")),
        IpvsOp::AddDest(web, DestConfig::masq(v4(198, 51, 100, 1), 80)),
        IpvsOp::AddDest(web, DestConfig::masq(v4(198, 51, 100, 2), 80).weight(2)),
        IpvsOp::AddService(ServiceConfig::new(api, "rr")),     // EEXIST
        IpvsOp::AddService(ServiceConfig::new(ghost, "twos")), // ENOENT
        IpvsOp::AddDest(ghost, DestConfig::masq(v4(198, 51, 100, 3), 80)), // ESRCH (its service failed)
        IpvsOp::AddDest(web, DestConfig::masq(v4(198, 51, 100, 1), 80)), // EEXIST
        IpvsOp::AddDest(web, DestConfig::masq(v4(198, 51, 100, 4), 80).weight(70_000)), // Invalid
        IpvsOp::EditDest(web, DestConfig::masq(v4(198, 51, 100, 2), 80).weight(9)),
        IpvsOp::DelDest(api, SocketAddr::new(v4(198, 51, 100, 1), 80)), // ENOENT
        IpvsOp::AddDest(api, DestConfig::route(v4(198, 51, 100, 5), 443)),
        IpvsOp::SetTimeouts(Timeouts { tcp: 0, tcp_fin: 0, udp: 9_000_000 }), // EINVAL
        IpvsOp::Zero(Some(ghost)),                                            // ESRCH
        IpvsOp::EditService(ServiceConfig::new(api, "wrr")),
    ];
    let report = b.apply(&ops);
    (format!("{report:?}"), b.services().expect("services"))
}

#[test]
fn batch_with_refusals_same_outcomes_and_table() {
    if !in_vm("batch_with_refusals_same_outcomes_and_table") {
        return;
    }
    for batch_size in [1, 3, 64] {
        let mut k = fresh_kernel();
        k.set_batch_size(batch_size);
        let (kr, kt) = batch_scenario(&mut k);
        let (mr, mt) = batch_scenario(&mut memory_like_vm());
        assert_eq!(kr, mr, "batch outcomes, batch size {batch_size}");
        assert_eq!(kt, mt, "table after the batch, batch size {batch_size}");
        assert_kernel_agrees(&mut k, "after the batch");
        assert!(kr.contains("Applied") && kr.contains("EEXIST") && kr.contains("Invalid"), "{kr}");
    }
}

// ------------------------------------------------------------------ addresses

const ADDR_IF: &str = "lvaddr0";

/// The address scenario for both backends; `ifindex` is the test
/// interface's index (the same in both).
fn address_scenario<B: AddressBackend>(b: &mut B, check: &mut dyn FnMut(&mut B, &str)) -> Vec<String> {
    let mut t = Transcript(Vec::new());
    let idx = b.link_index(ADDR_IF).expect("test interface");
    t.step("link nosuch", b.link_index("nosuch0"));
    t.step("link name too long", b.link_index("a-very-long-ifname"));
    let a = |addr: IpAddr, plen: u8| InterfaceAddress::new(idx, addr, plen);
    t.step("add primary", b.add_address(&a(v4(192, 0, 2, 10), 24).label("lvaddr0:1")));
    t.step("add secondary, default label", b.add_address(&a(v4(192, 0, 2, 11), 24)));
    t.step("add duplicate", b.add_address(&a(v4(192, 0, 2, 10), 24)));
    t.step("add same address /32", b.add_address(&a(v4(192, 0, 2, 10), 32)));
    t.step("add same subnet, other scope", b.add_address(&a(v4(192, 0, 2, 12), 24).scope(AddrScope::Link)));
    t.step("add host scope", b.add_address(&a(v4(198, 51, 100, 1), 32).scope(AddrScope::Host)));
    t.step("add with broadcast", b.add_address(&a(v4(203, 0, 113, 1), 24).broadcast(Ipv4Addr::new(203, 0, 113, 255))));
    t.step("add noprefixroute", b.add_address(&a(v4(203, 0, 113, 50), 28).noprefixroute()));
    t.step("add v6 nodad", b.add_address(&a(v6("2001:db8::1"), 64).nodad()));
    t.step("add v6 other prefix", b.add_address(&a(v6("2001:db8::1"), 128).nodad()));
    t.step("add v6 vip", b.add_address(&InterfaceAddress::vip(idx, v6("2001:db8::100"))));
    t.step("add v6 link-local", b.add_address(&a(v6("fe80::1"), 64).nodad()));
    t.step("add v6 with dad", b.add_address(&a(v6("2001:db8::2"), 64)));
    t.step("add on no interface", b.add_address(&InterfaceAddress::new(999_999, v4(192, 0, 2, 20), 24)));
    t.step("add prefix 33", b.add_address(&a(v4(192, 0, 2, 20), 33)));
    t.step("add label on v6", b.add_address(&a(v6("2001:db8::3"), 64).label("x")));
    t.step("add label too long", b.add_address(&a(v4(192, 0, 2, 20), 24).label("lvaddr0:0123456789")));
    t.step("add nodad on v4", b.add_address(&a(v4(192, 0, 2, 20), 24).nodad()));
    t.step("list", listing(b.addresses(Some(idx))));
    t.step("has vip", b.has_address(idx, v6("2001:db8::100")));
    check(b, "added");
    t.step("del wrong label", b.del_address(&a(v4(192, 0, 2, 10), 24).label("lvaddr0:9")));
    t.step("del wrong prefix", b.del_address(&a(v4(192, 0, 2, 10), 16)));
    t.step("del missing", b.del_address(&a(v4(192, 0, 2, 99), 24)));
    t.step("del on no interface", b.del_address(&InterfaceAddress::new(999_999, v4(192, 0, 2, 10), 24)));
    t.step("del primary (takes its secondary)", b.del_address(&a(v4(192, 0, 2, 10), 24).label("lvaddr0:1")));
    t.step("del v6", b.del_address(&a(v6("2001:db8::1"), 64)));
    t.step("del v6 again", b.del_address(&a(v6("2001:db8::1"), 64)));
    t.step("del v6 wrong prefix", b.del_address(&a(v6("2001:db8::100"), 64)));
    t.step("del v6 vip", b.del_address(&InterfaceAddress::vip(idx, v6("2001:db8::100"))));
    t.step("has vip after", b.has_address(idx, v6("2001:db8::100")));
    t.step("list after", listing(b.addresses(Some(idx))));
    check(b, "removed");
    t.0
}

/// A listing without the `tentative` flag (duplicate address detection
/// runs only in the kernel).
fn listing(
    r: Result<Vec<AddressEntry>, lvskit::backend::BackendError>,
) -> Result<Vec<AddressEntry>, lvskit::backend::BackendError> {
    r.map(|v| {
        v.into_iter()
            .map(|mut e| {
                e.flags.0 &= !lvskit::backend::AddrFlags::TENTATIVE;
                e
            })
            .collect()
    })
}

/// `ip -o addr show dev` as `(address/prefix, scope, label)`, sorted.
fn kernel_addrs() -> Vec<(String, String, String)> {
    let mut v: Vec<_> = sh(&format!("ip -o addr show dev {ADDR_IF}"))
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let scope = f.iter().position(|w| *w == "scope").map(|i| f[i + 1].to_owned()).unwrap_or_default();
            // The IPv4 label is the word that ends with the "\\" separator.
            let label = if f[2] == "inet" {
                f.iter().find(|w| w.ends_with('\\')).map(|w| w.trim_end_matches('\\').to_owned()).unwrap_or_default()
            } else {
                String::new()
            };
            (f[3].to_owned(), scope, label)
        })
        .collect();
    v.sort();
    v
}

fn render_addrs(entries: &[AddressEntry]) -> Vec<(String, String, String)> {
    let mut v: Vec<_> = entries
        .iter()
        .map(|e| {
            let a = &e.address;
            (format!("{}/{}", a.addr, a.prefix_len), a.scope.to_string(), a.label.clone().unwrap_or_default())
        })
        .collect();
    v.sort();
    v
}

#[test]
fn addresses_one_body_both_backends() {
    if !in_vm("addresses_one_body_both_backends") {
        return;
    }
    let _ = sh(&format!("ip link del {ADDR_IF} 2>/dev/null || true"));
    // Kept down: no link-local address appears, and DAD does not run.
    sh(&format!("ip link add {ADDR_IF} type veth peer name lvaddr1"));
    let ifindex: u32 = sh(&format!("cat /sys/class/net/{ADDR_IF}/ifindex")).trim().parse().expect("ifindex");
    let mut kernel = NetlinkAddresses::new().expect("rtnetlink");
    let mut checks = 0;
    let k = address_scenario(&mut kernel, &mut |b: &mut NetlinkAddresses, at: &str| {
        let ours = b.addresses(Some(ifindex)).expect("list");
        assert_eq!(render_addrs(&ours), kernel_addrs(), "ip addr vs lvskit at {at}");
        checks += 1;
    });
    assert_eq!(checks, 2);
    let mut memory = MemoryAddresses::new();
    memory.add_link_with_index(ADDR_IF, ifindex);
    let m = address_scenario(&mut memory, &mut |_: &mut MemoryAddresses, _: &str| {});
    for (i, (a, b)) in k.iter().zip(&m).enumerate() {
        assert_eq!(a, b, "address step {i} differs between the kernel (left) and memory (right)");
    }
    assert_eq!(k.len(), m.len());
    let text = k.join("\n");
    for errno in ["EEXIST", "EADDRNOTAVAIL", "ENODEV", "EINVAL", "Invalid"] {
        assert!(text.contains(errno), "the address scenario never saw {errno}");
    }
    sh(&format!("ip link del {ADDR_IF}"));
}

// ------------------------------------------------------------------ reconcile

#[test]
fn reconcile_any_table_to_any_other_in_the_kernel() {
    use backend_support::{Counting, minimal_ops, sample_states, shape_of_desired, shape_of_table};
    use lvskit::backend::{DesiredState, ReconcileOptions, reconcile};
    if !in_vm("reconcile_any_table_to_any_other_in_the_kernel") {
        return;
    }
    let mut states = sample_states(24);
    states.insert(0, DesiredState::new());
    states.push(DesiredState::new());
    let mut k = Counting::new(fresh_kernel());
    let opts = ReconcileOptions::default();
    let mut total_ops = 0;
    for (i, to) in states.iter().enumerate() {
        k.reset();
        let before = shape_of_table(&k.inner.services().expect("read"));
        let report = reconcile(to, &mut k, &opts).unwrap_or_else(|e| panic!("pair {i}: {e}"));
        let want = minimal_ops(&before, &shape_of_desired(to));
        assert_eq!(report.ops.len(), want, "pair {i}: minimal operations");
        assert_eq!((k.batch_ops, k.writes, k.batches), (want, 0, usize::from(want > 0)), "pair {i}: calls");
        assert_eq!(shape_of_table(&k.inner.services().expect("read")), shape_of_desired(to), "pair {i}");
        assert_kernel_agrees(&mut k.inner, &format!("pair {i}"));
        k.reset();
        let again = reconcile(to, &mut k, &opts).expect("again");
        assert!(again.ops.is_empty(), "pair {i}: second pass {:?}", again.ops);
        assert_eq!((k.batches, k.all_writes()), (0, 0), "pair {i}: no write for an unchanged table");
        total_ops += want;
    }
    assert!(total_ops > 100, "the pairs exercised {total_ops} operations");
}

#[test]
fn large_reconcile_in_many_datagrams() {
    use lvskit::backend::{DesiredService, DesiredState, ReconcileOptions, Reconciler, reconcile};
    if !in_vm("large_reconcile_in_many_datagrams") {
        return;
    }
    let mut k = fresh_kernel();
    k.set_batch_size(37);
    let desired: DesiredState = (0..300u16)
        .map(|i| {
            let key = tcp(v4(192, 0, 2, 1 + (i / 200) as u8), 1000 + i);
            let dests = (1..=4).map(|d| DestConfig::masq(v4(198, 51, 100, d), 8080).weight(u32::from(d))).collect();
            DesiredService::new(ServiceConfig::new(key, "wlc"), dests)
        })
        .collect();
    let report = reconcile(&desired, &mut k, &ReconcileOptions::default()).expect("apply");
    assert_eq!(report.ops.len(), 1500);
    assert_eq!(sh("ipvsadm-save -n | wc -l").trim(), "1500");
    // One server of one service changes: one operation, no read.
    let mut r = Reconciler::new(k, ReconcileOptions::default()).expect("read");
    let key = tcp(v4(192, 0, 2, 1), 1042);
    let mut one = desired.get(&key).expect("service").clone();
    one.dests[2] = one.dests[2].weight(77);
    let rep = r.apply_service(&one).expect("one change");
    assert_eq!(rep.ops.len(), 1);
    assert!(sh("ipvsadm-save -n").contains("-a -t 192.0.2.1:1042 -r 198.51.100.3:8080 -m -w 77"));
    r.backend().flush().expect("flush");
}

// ------------------------------------------------------------------ traffic

/// Helper processes: the test binary re-runs itself inside a namespace with
/// `LVSKIT_HELPER` set and this test selected. Without the variable this is
/// a no-op: it is an entry point, not a test.
#[test]
fn zz_helper_process() {
    let Ok(spec) = std::env::var("LVSKIT_HELPER") else { return };
    let args: Vec<&str> = spec.split_whitespace().collect();
    match args[0] {
        "echo" => helper::echo(args[1], &args[2..]),
        "client" => helper::client(&args[1..]),
        "dr" => helper::dr(&args[1..]),
        other => panic!("unknown helper {other}"),
    }
}

mod helper {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::{IpAddr, TcpListener, TcpStream};
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    use lvskit::backend::netlink::NetlinkAddresses;
    use lvskit::backend::{AddressBackend, DrSetup};

    /// Echo servers on each `addr:port`: every line comes back prefixed with
    /// this server's name.
    pub fn echo(name: &str, listen: &[&str]) {
        let mut threads = Vec::new();
        for addr in listen {
            let l = TcpListener::bind(addr).unwrap_or_else(|e| panic!("bind {addr}: {e}"));
            let name = name.to_owned();
            threads.push(std::thread::spawn(move || {
                for conn in l.incoming() {
                    let Ok(mut conn) = conn else { continue };
                    let name = name.clone();
                    std::thread::spawn(move || {
                        let mut r = BufReader::new(conn.try_clone().expect("clone"));
                        let mut line = String::new();
                        while r.read_line(&mut line).map(|n| n > 0).unwrap_or(false) {
                            if conn.write_all(format!("{name} {line}").as_bytes()).is_err() {
                                break;
                            }
                            line.clear();
                        }
                    });
                }
            }));
        }
        println!("READY");
        for t in threads {
            let _ = t.join();
        }
    }

    fn exchange(conn: &mut BufReader<TcpStream>, msg: &str) -> Result<String, String> {
        conn.get_mut().write_all(format!("{msg}\n").as_bytes()).map_err(|e| format!("write: {e}"))?;
        let mut line = String::new();
        match conn.read_line(&mut line) {
            Ok(0) => Err("closed".into()),
            Ok(_) => Ok(line.split_whitespace().next().unwrap_or("").to_owned()),
            Err(e) => Err(format!("read: {e}")),
        }
    }

    /// `client VIP:PORT CONNS SECONDS`: CONNS long connections exchanging a
    /// line every 20 ms, and a new short connection every 50 ms, for
    /// SECONDS. Prints `LONG i server rounds errors`, `NEW ms server` and
    /// `ERR ...` lines.
    pub fn client(args: &[&str]) {
        let (target, conns, secs) =
            (args[0].to_owned(), args[1].parse::<usize>().unwrap(), args[2].parse::<u64>().unwrap());
        let start = Instant::now();
        let until = start + Duration::from_secs(secs);
        let out = Arc::new(Mutex::new(Vec::<String>::new()));
        let mut threads = Vec::new();
        for i in 0..conns {
            let (target, out) = (target.clone(), Arc::clone(&out));
            threads.push(std::thread::spawn(move || {
                let addr: std::net::SocketAddr = target.parse().expect("target");
                let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
                stream.set_read_timeout(Some(Duration::from_secs(10))).ok();
                let mut conn = BufReader::new(stream);
                let (mut server, mut rounds, mut errors) = (String::new(), 0, Vec::new());
                while Instant::now() < until {
                    match exchange(&mut conn, &format!("long{i} {rounds}")) {
                        Ok(s) if server.is_empty() || s == server => server = s,
                        Ok(s) => errors.push(format!("server changed from {server} to {s}")),
                        Err(e) => {
                            errors.push(e);
                            break;
                        }
                    }
                    rounds += 1;
                    std::thread::sleep(Duration::from_millis(20));
                }
                let mut o = out.lock().unwrap();
                o.push(format!("LONG {i} {server} {rounds} {}", errors.len()));
                for e in errors {
                    o.push(format!("ERR long{i}: {e}"));
                }
            }));
        }
        let mut n = 0;
        while Instant::now() < until {
            let t = super::wall_ms();
            let addr: std::net::SocketAddr = target.parse().expect("target");
            let line = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
                .map_err(|e| format!("connect: {e}"))
                .and_then(|s| {
                    s.set_read_timeout(Some(Duration::from_secs(10))).ok();
                    let mut c = BufReader::new(s);
                    let r = exchange(&mut c, &format!("new{n}"));
                    let _ = c.get_mut().shutdown(std::net::Shutdown::Both);
                    r
                });
            let mut o = out.lock().unwrap();
            match line {
                Ok(server) => o.push(format!("NEW {t} {server}")),
                Err(e) => o.push(format!("ERR new{n} at {t} ms: {e}")),
            }
            drop(o);
            n += 1;
            std::thread::sleep(Duration::from_millis(50));
        }
        for t in threads {
            let _ = t.join();
        }
        for line in out.lock().unwrap().iter() {
            println!("{line}");
        }
    }

    /// `dr VIP...`: the DR real-server setup in this namespace; reports the
    /// sysctls and lo's addresses, waits for stdin to close, undoes, and
    /// reports again.
    pub fn dr(vips: &[&str]) {
        let vips: Vec<IpAddr> = vips.iter().map(|v| v.parse().expect("VIP")).collect();
        let mut addrs = NetlinkAddresses::new().expect("rtnetlink");
        let report = |addrs: &mut NetlinkAddresses, tag: &str| {
            let s: Vec<String> = lvskit::backend::dr::IPV4_SYSCTLS
                .iter()
                .map(|(p, _)| std::fs::read_to_string(format!("/proc/sys/{p}")).expect("sysctl").trim().to_owned())
                .collect();
            let lo = addrs.link_index("lo").expect("lo");
            let on_lo: Vec<String> = addrs
                .addresses(Some(lo))
                .expect("list")
                .iter()
                .map(|e| format!("{}/{}", e.address.addr, e.address.prefix_len))
                .collect();
            println!("{tag} sysctl={} lo={}", s.join(","), on_lo.join(","));
        };
        report(&mut addrs, "BEFORE");
        let setup = DrSetup::apply(&mut addrs, &vips).expect("DR setup");
        report(&mut addrs, "SETUP");
        let mut sink = Vec::new();
        let _ = std::io::stdin().read_to_end(&mut sink);
        setup.undo(&mut addrs).expect("undo");
        report(&mut addrs, "UNDONE");
    }
}

/// A helper process running in namespace `ns`.
struct Helper {
    child: std::process::Child,
    out: std::io::BufReader<std::process::ChildStdout>,
    seen: Vec<String>,
}

impl Helper {
    fn spawn(ns: &str, spec: &str, stdin: bool) -> Helper {
        let exe = std::env::current_exe().expect("test binary");
        let mut child = Command::new("ip")
            .args(["netns", "exec", ns])
            .arg(exe)
            .args(["--exact", "zz_helper_process", "--nocapture", "--test-threads=1"])
            .env("LVSKIT_HELPER", spec)
            .stdin(if stdin { std::process::Stdio::piped() } else { std::process::Stdio::null() })
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .expect("spawn helper");
        let out = std::io::BufReader::new(child.stdout.take().expect("stdout"));
        Helper { child, out, seen: Vec::new() }
    }

    /// Reads stdout lines until one starts with `prefix`.
    fn wait_for(&mut self, prefix: &str) -> String {
        use std::io::BufRead;
        loop {
            let mut line = String::new();
            assert!(self.out.read_line(&mut line).expect("helper output") > 0, "helper ended before {prefix}");
            let line = Self::strip(&line);
            self.seen.push(line.clone());
            if line.starts_with(prefix) {
                return line;
            }
        }
    }

    /// Closes stdin, waits for the end, and returns every stdout line.
    fn finish(mut self) -> Vec<String> {
        use std::io::BufRead;
        drop(self.child.stdin.take());
        for line in self.out.lines() {
            self.seen.push(Self::strip(&line.expect("helper output")));
        }
        let status = self.child.wait().expect("helper");
        assert!(status.success(), "helper failed: {status:?}");
        self.seen
    }

    /// The helper's first line follows libtest's `test zz_helper_process ... `.
    fn strip(line: &str) -> String {
        let line = line.trim();
        line.rsplit_once("zz_helper_process ... ").map_or(line, |(_, rest)| rest).to_owned()
    }

    fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Milliseconds of the wall clock, which the helpers and the test share.
fn wall_ms() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_millis()
}

/// The lab: the VM's root namespace is the director; `lvc` the client on
/// 203.0.113.0/24; `lvr1` and `lvr2` real servers on their own links
/// (198.51.100.0/28 and 198.51.100.16/28), routed through the director.
struct Lab;

impl Lab {
    fn up() -> Lab {
        Lab::down();
        sh("set -e
            sysctl -qw net.ipv4.ip_forward=1
            ip netns add lvc; ip netns add lvr1; ip netns add lvr2
            ip link add lvc0 type veth peer name eth0 netns lvc
            ip addr add 203.0.113.1/24 dev lvc0; ip link set lvc0 up
            ip -n lvc addr add 203.0.113.2/24 dev eth0; ip -n lvc link set eth0 up; ip -n lvc link set lo up
            ip -n lvc route add default via 203.0.113.1
            for i in 1 2; do
              n=$(( (i - 1) * 16 ))
              ip link add lvr$i type veth peer name eth0 netns lvr$i
              ip addr add 198.51.100.$((n + 1))/28 dev lvr$i; ip link set lvr$i up
              sysctl -qw net.ipv4.conf.lvr$i.accept_local=1
              ip -n lvr$i addr add 198.51.100.$((n + 2))/28 dev eth0; ip -n lvr$i link set eth0 up
              ip -n lvr$i link set lo up; ip -n lvr$i route add default via 198.51.100.$((n + 1))
            done");
        Lab
    }

    fn down() {
        let _ = sh("ip netns del lvc 2>/dev/null; ip netns del lvr1 2>/dev/null; ip netns del lvr2 2>/dev/null; \
                    ip link del lvc0 2>/dev/null; true");
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        Lab::down();
    }
}

struct ClientReport {
    long: Vec<(String, usize, usize)>,
    new: Vec<(u128, String)>,
    errors: Vec<String>,
}

fn parse_client(lines: &[String]) -> ClientReport {
    let mut r = ClientReport { long: Vec::new(), new: Vec::new(), errors: Vec::new() };
    for l in lines {
        let f: Vec<&str> = l.split_whitespace().collect();
        match f.first() {
            Some(&"LONG") => r.long.push((f[2].to_owned(), f[3].parse().unwrap(), f[4].parse().unwrap())),
            Some(&"NEW") => r.new.push((f[1].parse().unwrap(), f[2].to_owned())),
            Some(&"ERR") => r.errors.push(l.clone()),
            _ => {}
        }
    }
    r
}

#[test]
fn nat_and_dr_carry_tcp_across_weight_changes_without_a_reset() {
    use lvskit::backend::{DesiredService, DesiredState, ReconcileOptions, Reconciler};
    use std::time::Duration;
    if !in_vm("nat_and_dr_carry_tcp_across_weight_changes_without_a_reset") {
        return;
    }
    let _lab = Lab::up();
    let mut addrs = NetlinkAddresses::new().expect("rtnetlink");
    let lvc0 = addrs.link_index("lvc0").expect("lvc0");
    let nat_vip = v4(203, 0, 113, 100);
    let dr_vip = v4(203, 0, 113, 200);
    for vip in [nat_vip, dr_vip] {
        addrs.add_address(&InterfaceAddress::vip(lvc0, vip)).expect("VIP on the director");
    }
    // Real servers: DR setup in each, then echo servers on 8080 (NAT) and 80 (DR).
    let mut dr = Vec::new();
    let mut servers = Vec::new();
    for ns in ["lvr1", "lvr2"] {
        let mut h = Helper::spawn(ns, "dr 203.0.113.200", true);
        let setup = h.wait_for("SETUP");
        assert!(setup.contains("sysctl=1,2,1,2") && setup.contains("203.0.113.200/32"), "{ns}: {setup}");
        dr.push(h);
        let mut s = Helper::spawn(ns, &format!("echo {ns} 0.0.0.0:8080 0.0.0.0:80"), false);
        s.wait_for("READY");
        servers.push(s);
    }
    let (rs1, rs2) = (v4(198, 51, 100, 2), v4(198, 51, 100, 18));
    let nat = tcp(nat_vip, 80);
    let drk = tcp(dr_vip, 80);
    let state = |w1: u32, w2: u32| -> DesiredState {
        [
            DesiredService::new(
                ServiceConfig::new(nat, "wrr"),
                vec![DestConfig::masq(rs1, 8080).weight(w1), DestConfig::masq(rs2, 8080).weight(w2)],
            ),
            DesiredService::new(
                ServiceConfig::new(drk, "wrr"),
                vec![DestConfig::route(rs1, 80).weight(w1), DestConfig::route(rs2, 80).weight(w2)],
            ),
        ]
        .into_iter()
        .collect()
    };
    let mut r = Reconciler::new(fresh_kernel(), ReconcileOptions::default()).expect("read");
    assert_eq!(r.apply(&state(1, 1)).expect("services").ops.len(), 6);

    // Traffic for 6 s on both services; weights change at 2 s and 4 s.
    let clients: Vec<Helper> = ["203.0.113.100:80", "203.0.113.200:80"]
        .iter()
        .map(|t| Helper::spawn("lvc", &format!("client {t} 6 6"), false))
        .collect();
    std::thread::sleep(Duration::from_secs(2));
    let rep = r.apply(&state(0, 1)).expect("rs1 to weight 0");
    assert_eq!(rep.ops.len(), 2, "one edit per service: {:?}", rep.ops);
    let quiesced_at = wall_ms();
    std::thread::sleep(Duration::from_secs(2));
    let before_restore = wall_ms();
    let rep = r.apply(&state(3, 1)).expect("rs1 back to weight 3");
    assert_eq!(rep.ops.len(), 2);
    let restored_at = wall_ms();

    for (c, name) in clients.into_iter().zip(["NAT", "DR"]) {
        let report = parse_client(&c.finish());
        if std::env::var_os("LVSKIT_TRACE").is_some() {
            let phase = |t: u128| {
                if t < quiesced_at {
                    0
                } else if t < restored_at {
                    1
                } else {
                    2
                }
            };
            let mut counts = std::collections::BTreeMap::new();
            for (t, s) in &report.new {
                *counts.entry((phase(*t), s.clone())).or_insert(0) += 1;
            }
            eprintln!("{name}: long {:?}; new per (phase, server) {counts:?}", report.long);
        }
        assert!(report.errors.is_empty(), "{name}: {:?}", report.errors);
        assert_eq!(report.long.len(), 6, "{name}: every long connection reported");
        for (server, rounds, errors) in &report.long {
            assert_eq!(*errors, 0, "{name}: long connection on {server}");
            assert!(*rounds >= 20, "{name}: only {rounds} round trips on {server}");
        }
        assert!(report.long.iter().any(|l| l.0 == "lvr1"), "{name}: a long connection on rs1 kept through weight 0");
        assert!(report.new.len() >= 20, "{name}: {} new connections", report.new.len());
        // While rs1 is at weight 0 (with a margin for the clocks of two
        // processes), no new connection goes to it.
        // A new connection is stamped just before it connects: one stamped
        // after the quiesce returned saw weight 0; the last second before
        // the restore is left out, for a client thread delayed between its
        // stamp and its SYN on this loaded, emulated machine.
        let during: Vec<_> =
            report.new.iter().filter(|(t, _)| *t > quiesced_at && *t + 1000 < before_restore).collect();
        assert!(!during.is_empty(), "{name}: new connections while rs1 was quiesced");
        assert!(during.iter().all(|(_, s)| s == "lvr2"), "{name}: {during:?}");
        assert!(report.new.iter().any(|(t, s)| *t > restored_at && s == "lvr1"), "{name}: rs1 back in use");
    }
    // Counters: the kernel's view (ipvsadm --stats --exact) and lvskit's.
    std::thread::sleep(Duration::from_millis(2500));
    let ours = r.backend().services().expect("services");
    let stats = sh("ipvsadm -Ln --stats --exact");
    for s in &ours {
        let ServiceKey::Addr { addr, port, .. } = s.config.key else { continue };
        assert!(s.stats.conns >= 26, "{}: {} connections", s.config.key, s.stats.conns);
        let line = format!("{}:{}", addr, port);
        let kernel_line = stats.lines().find(|l| l.contains(&line)).expect("service in --stats");
        let f: Vec<u64> = kernel_line.split_whitespace().skip(2).map(|x| x.parse().expect("number")).collect();
        assert_eq!(f[0], s.stats.conns, "{line}: conns");
        assert_eq!(f[1], s.stats.in_pkts, "{line}: in packets");
        assert_eq!(f[3], s.stats.in_bytes, "{line}: in bytes");
        for d in &s.dests {
            assert!(d.stats.conns > 0, "{}: no connection", d.config.addr);
        }
    }
    r.backend().zero(None).expect("zero");
    std::thread::sleep(Duration::from_millis(300));
    assert!(r.backend().services().expect("services").iter().all(|s| s.stats.conns == 0));

    for s in servers {
        s.kill();
    }
    for (h, ns) in dr.into_iter().zip(["lvr1", "lvr2"]) {
        let lines = h.finish();
        let before = lines.iter().find(|l| l.starts_with("BEFORE")).expect("before");
        let undone = lines.iter().find(|l| l.starts_with("UNDONE")).expect("undone");
        assert_eq!(before.replace("BEFORE", ""), undone.replace("UNDONE", ""), "{ns}: the undo restores everything");
    }
    r.backend().flush().expect("flush");
}
