// lvskit-test: vm
//! Kernel agreement: lvskit's schedulers choose the real server the kernel's
//! IPVS chooses, connection after connection.
//!
//! Inside the VM (Debian's 6.1 kernel, `scripts/ipvs-vm`), each scenario
//! programs a service with `ipvsadm`, opens real TCP connections from a
//! client namespace to it (see `common/vmlab.rs`), adds, edits and removes
//! real servers and closes connections midway, and reads which server the
//! kernel gave every connection from `ipvsadm -Lnc`. The same steps drive an
//! lvskit [`Service`] (its counters changed the way the kernel's are: bound
//! inactive then activated once established, deactivated at the client's
//! FIN). Every choice must match, and so must the final list order, weights
//! and active/inactive counters (`ipvsadm -Ln --nosort`).
//!
//! Covered: rr, wrr, lc, wlc, sed, nq, fo, ovf with unequal weights and a
//! server added, quiesced (weight 0), removed and restored midway; wlc with
//! an upper threshold (overload) and its edit; sh with and without
//! `sh-port`, with `sh-fallback` and a weight-0 server; mh with and without
//! `mh-port`, with `mh-fallback`; dh, lblc and lblcr on a firewall-mark
//! service across many destination addresses; all of them over IPv4 and
//! IPv6. twos is in `sched_kernel_twos.rs` (6.12 kernel).
//!
//! Finally `examples/schedtrace.rs` is run on the flows of a fixed set of
//! servers behind a firewall-mark service, for every scheduler, and its
//! output must be the kernel's choices line for line.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use common::vmlab::{Fam, Lab, SERVER_PORTS, conn_table_with, helper_main, in_vm, kernel_dests, sh, sh_in};
use lvskit::ipvs::{Dest, DestConfig, Family, Flow, Protocol, Service, ServiceConfig, ServiceFlags, ServiceKey};

#[test]
#[ignore = "helper process of the VM tests, started by them inside a network namespace"]
fn vm_helper() {
    helper_main();
}

/// One step of a scenario, applied to the kernel and to lvskit alike.
#[derive(Debug, Clone, Copy)]
enum Step {
    /// Add real server `k` with a weight (`ipvsadm -a`).
    Add(u8, u32),
    /// Add real server `k` with weight, upper and lower thresholds.
    AddT(u8, u32, u32, u32),
    /// Set server `k`'s weight (`ipvsadm -e`).
    Weight(u8, u32),
    /// Set server `k`'s weight, upper and lower thresholds.
    EditT(u8, u32, u32, u32),
    /// Remove server `k` (`ipvsadm -d`).
    Del(u8),
    /// Open a connection from client address `c` to destination `d` (the
    /// VIP for address services; marked address `d` for fwmark services).
    Conn(u8, u8),
    /// Close the `i`-th connection of the scenario.
    Close(usize),
}

use Step::*;

struct Scenario {
    name: String,
    sched: &'static str,
    flags: &'static [&'static str],
    fwmark: bool,
    steps: Vec<Step>,
}

/// Connections from clients `from..from + n`, to destinations `dst(i)`.
fn conns(from: u8, n: u8, dst: impl Fn(u8) -> u8) -> Vec<Step> {
    (0..n).map(|i| Conn((from + i) % 40, dst(i))).collect()
}

/// The load- and order-based schedulers' run: unequal weights, a server
/// added, quiesced, removed and restored midway, and some connections
/// closed (inactive).
fn basic(sched: &'static str) -> Scenario {
    let mut s = vec![Add(1, 3), Add(2, 1), Add(3, 2)];
    s.extend(conns(0, 9, |_| 0));
    s.extend([Close(1), Close(4), Add(4, 4)]);
    s.extend(conns(9, 8, |_| 0));
    s.push(Weight(2, 0));
    s.extend(conns(17, 6, |_| 0));
    s.extend([Close(10), Del(3)]);
    s.extend(conns(23, 8, |_| 0));
    s.extend([Weight(2, 2), Add(3, 1)]);
    s.extend(conns(31, 7, |_| 0));
    Scenario { name: format!("{sched} basic"), sched, flags: &[], fwmark: false, steps: s }
}

/// wlc with an upper threshold: server 1 overloads at 2 connections; an
/// edit raising the threshold re-evaluates the flag.
fn thresholds() -> Scenario {
    let mut s = vec![AddT(1, 4, 2, 0), Add(2, 1)];
    s.extend(conns(0, 6, |_| 0));
    s.push(EditT(1, 4, 5, 0));
    s.extend(conns(6, 6, |_| 0));
    s.extend([Close(0), Close(2), EditT(1, 4, 3, 1)]);
    s.extend(conns(12, 5, |_| 0));
    Scenario { name: "wlc thresholds".into(), sched: "wlc", flags: &[], fwmark: false, steps: s }
}

/// Source/Maglev hashing: many client addresses, repeated; a weight-0
/// server; a server removed and another added.
fn hashing(sched: &'static str, flags: &'static [&'static str]) -> Scenario {
    let mut s = vec![Add(1, 1), Add(2, 3), Add(3, 1), Add(4, 2)];
    s.extend(conns(0, 14, |_| 0));
    s.extend(conns(0, 5, |_| 0)); // the same clients again (new ports)
    s.push(Weight(2, 0));
    s.extend(conns(0, 14, |_| 0));
    s.extend([Del(4), Add(5, 2), Weight(2, 3)]);
    s.extend(conns(20, 14, |_| 0));
    Scenario { name: format!("{sched} {}", flags.join(",")), sched, flags, fwmark: false, steps: s }
}

/// Destination-based schedulers on a firewall-mark service: many
/// destinations, repeated, under load; a server quiesced, removed, added.
fn locality(sched: &'static str) -> Scenario {
    let mut s = vec![Add(1, 1), Add(2, 2), Add(3, 1)];
    s.extend(conns(0, 12, |i| i % 6));
    s.extend(conns(12, 10, |i| i % 4));
    s.push(Weight(2, 0));
    s.extend(conns(22, 8, |i| i % 8));
    s.extend([Close(0), Close(3), Del(3), Add(4, 3)]);
    s.extend(conns(30, 16, |i| i % 10));
    Scenario { name: format!("{sched} fwmark"), sched, flags: &[], fwmark: true, steps: s }
}

fn scenarios() -> Vec<Scenario> {
    let mut v: Vec<Scenario> = ["rr", "wrr", "lc", "wlc", "sed", "nq", "fo", "ovf"].into_iter().map(basic).collect();
    v.push(thresholds());
    for flags in [&[][..], &["sh-port"], &["sh-fallback"], &["sh-fallback", "sh-port"]] {
        v.push(hashing("sh", flags));
    }
    for flags in [&[][..], &["mh-port"], &["mh-fallback", "mh-port"]] {
        v.push(hashing("mh", flags));
    }
    for sched in ["dh", "lblc", "lblcr"] {
        v.push(locality(sched));
    }
    v
}

/// What one connection got.
struct Outcome {
    step: usize,
    src: SocketAddr,
    dst: SocketAddr,
    lvskit: Option<SocketAddr>,
    kernel_refused: bool,
}

fn run(lab: &mut Lab, sc: &Scenario, fam: Fam, rport: u16, next_port: &mut u16) -> Result<usize, String> {
    let label = format!("{} ({fam:?})", sc.name);
    // The kernel: ipvsadm commands are batched (`ipvsadm -R`, one process)
    // until a connection needs them in effect.
    let mut batch = Batch::default();
    batch.push(&["-C".to_string()]);
    let vip = SocketAddr::new(fam.vip(), 80);
    let svc_args: Vec<String> = if sc.fwmark {
        let mut a = vec!["-f".to_string(), "1".into()];
        a.extend(fam.fwm_flag().map(String::from));
        a
    } else {
        vec!["-t".into(), vip.to_string()]
    };
    let mut add_svc = vec!["-A".to_string()];
    add_svc.extend(svc_args.iter().cloned());
    add_svc.extend(["-s".into(), sc.sched.into()]);
    if !sc.flags.is_empty() {
        add_svc.extend(["-b".into(), sc.flags.join(",")]);
    }
    batch.push(&add_svc);
    // lvskit.
    let key = if sc.fwmark {
        ServiceKey::fwmark(if fam == Fam::V4 { Family::V4 } else { Family::V6 }, 1)
    } else {
        ServiceKey::addr(Protocol::Tcp, vip.ip(), 80)
    };
    let flags = sc.flags.iter().fold(ServiceFlags::EMPTY, |f, n| f | ServiceFlags::from_name(n).unwrap());
    let mut svc = Service::new(ServiceConfig::new(key, sc.sched).flags(flags), 1).map_err(|e| e.to_string())?;
    let mut trash: Vec<Arc<Dest>> = Vec::new();

    let mut outcomes: Vec<Outcome> = Vec::new();
    let mut bound: Vec<Option<Arc<Dest>>> = Vec::new();
    for (i, step) in sc.steps.iter().enumerate() {
        match *step {
            Add(k, w) | AddT(k, w, _, _) => {
                let (u, l) = if let AddT(_, _, u, l) = *step { (u, l) } else { (0, 0) };
                let cfg = DestConfig::masq(fam.server(k), rport).weight(w).thresholds(u, l);
                batch.push(&dest_args("-a", &svc_args, &cfg));
                match trash.iter().position(|d| d.socket_addr() == cfg.socket_addr()) {
                    // The kernel revives a removed server from its trash.
                    Some(p) => svc.restore_dest(trash.remove(p), cfg).map_err(|e| e.to_string())?,
                    None => drop(svc.add_dest(cfg).map_err(|e| e.to_string())?),
                }
            }
            Weight(k, w) | EditT(k, w, _, _) => {
                let old = svc.dest(SocketAddr::new(fam.server(k), rport)).ok_or("edit of a missing server")?.config();
                let (u, l) =
                    if let EditT(_, _, u, l) = *step { (u, l) } else { (old.upper_threshold, old.lower_threshold) };
                let cfg = old.weight(w).thresholds(u, l);
                batch.push(&dest_args("-e", &svc_args, &cfg));
                svc.edit_dest(cfg).map_err(|e| e.to_string())?;
            }
            Del(k) => {
                let a = SocketAddr::new(fam.server(k), rport);
                let mut args = vec!["-d".to_string()];
                args.extend(svc_args.iter().cloned());
                args.extend(["-r".into(), a.to_string()]);
                batch.push(&args);
                trash.push(svc.del_dest(a).map_err(|e| e.to_string())?);
            }
            Conn(c, d) => {
                batch.flush();
                let src = SocketAddr::new(fam.client(c), *next_port);
                *next_port += 1;
                let dst = if sc.fwmark { SocketAddr::new(fam.marked(d), 80) } else { vip };
                let t = Instant::now();
                let ok = lab.connect(src, dst);
                if t.elapsed().as_millis() > 300 {
                    eprintln!("slow connect {src} -> {dst}: {:?}", t.elapsed());
                }
                let mut flow = Flow::new(Protocol::Tcp, src.ip(), src.port(), dst.ip(), 80);
                if sc.fwmark {
                    flow = flow.with_fwmark(1);
                }
                let pick = svc.schedule(&flow, Instant::now()).cloned();
                if let Some(d) = &pick {
                    // The kernel binds a new connection inactive and counts
                    // it active once the handshake completes.
                    d.bind_conn(false);
                    d.activate_conn();
                }
                outcomes.push(Outcome {
                    step: i,
                    src,
                    dst,
                    lvskit: pick.as_ref().map(|d| d.socket_addr()),
                    kernel_refused: !ok,
                });
                bound.push(if ok { pick } else { None });
            }
            Close(n) => {
                batch.flush();
                let o = outcomes.get(n).ok_or("close of a connection not opened")?;
                if !o.kernel_refused {
                    lab.close(o.src);
                }
                if let Some(d) = bound[n].take() {
                    d.deactivate_conn();
                }
            }
        }
    }

    batch.flush();
    // Compare every choice.
    let want: Vec<SocketAddr> = outcomes.iter().filter(|o| !o.kernel_refused).map(|o| o.src).collect();
    let table = conn_table_with(&want);
    let kernel_list = kernel_dests();
    lab.close_all();
    let mut report = Vec::new();
    for (n, o) in outcomes.iter().enumerate() {
        let kernel = table.get(&o.src).copied();
        if o.kernel_refused && kernel.is_some() {
            report.push(format!("  conn {n}: refused but listed as {kernel:?}"));
        }
        let mark = if kernel == o.lvskit { " " } else { "X" };
        report.push(format!(
            "{mark} conn {n:2} (step {:2}) {} -> {}: kernel {} lvskit {}",
            o.step,
            o.src,
            o.dst,
            show(kernel),
            show(o.lvskit)
        ));
    }
    let mismatches = report.iter().filter(|l| l.starts_with('X') || l.contains("refused but")).count();
    // Compare the servers: list order, weight, counters.
    let kernel: Vec<String> =
        kernel_list.iter().map(|(a, w, act, inact)| format!("{a} w{w} a{act} i{inact}")).collect();
    let ours: Vec<String> = svc
        .dests()
        .iter()
        .map(|d| format!("{} w{} a{} i{}", d.socket_addr(), d.weight(), d.active_conns(), d.inactive_conns()))
        .collect();
    if mismatches > 0 || kernel != ours {
        return Err(format!(
            "{label}: {mismatches} of {} choices differ\n{}\nkernel servers: {kernel:?}\nlvskit servers: {ours:?}",
            outcomes.len(),
            report.join("\n")
        ));
    }
    Ok(outcomes.len())
}

fn show(a: Option<SocketAddr>) -> String {
    a.map_or_else(|| "none".into(), |a| a.to_string())
}

/// ipvsadm commands waiting to be run together by `ipvsadm -R`.
#[derive(Default)]
struct Batch(String);

impl Batch {
    fn push(&mut self, args: &[String]) {
        self.0.push_str(&args.join(" "));
        self.0.push('\n');
    }

    fn flush(&mut self) {
        if !self.0.is_empty() {
            sh_in("ipvsadm", &["-R"], &std::mem::take(&mut self.0));
        }
    }
}

fn dest_args(op: &str, svc_args: &[String], cfg: &DestConfig) -> Vec<String> {
    let mut a = vec![op.to_string()];
    a.extend(svc_args.iter().cloned());
    a.extend(["-r".into(), cfg.socket_addr().to_string(), "-m".into(), "-w".into(), cfg.weight.to_string()]);
    a.extend(["-x".into(), cfg.upper_threshold.to_string(), "-y".into(), cfg.lower_threshold.to_string()]);
    a
}

#[test]
fn schedulers_choose_what_the_kernel_chooses() {
    if !in_vm("schedulers_choose_what_the_kernel_chooses") {
        return;
    }
    let kernel = sh("uname", &["-r"]);
    assert!(kernel.starts_with("6.1."), "expected Debian's 6.1 kernel, got {kernel}");
    let t = Instant::now();
    let mut lab = Lab::start();
    eprintln!("lab up in {:?}", t.elapsed());
    let mut port = 20000;
    let mut failures = Vec::new();
    let mut total = 0;
    let only = std::env::var("LVSKIT_SCHED_ONLY").unwrap_or_default();
    let all = scenarios();
    assert!(2 * all.len() <= SERVER_PORTS.len());
    for (n, sc) in all.iter().enumerate().filter(|(_, s)| only.is_empty() || s.name.starts_with(&only)) {
        for fam in [Fam::V4, Fam::V6] {
            let rport = SERVER_PORTS.start + 2 * n as u16 + (fam == Fam::V6) as u16;
            let t = Instant::now();
            match run(&mut lab, sc, fam, rport, &mut port) {
                Ok(n) => {
                    total += n;
                    eprintln!("ok: {} ({fam:?}), {n} connections in {:?}", sc.name, t.elapsed());
                }
                Err(e) => failures.push(e),
            }
        }
    }
    if only.is_empty() {
        let base = SERVER_PORTS.start + 2 * all.len() as u16;
        for (n, (sched, flags, fam)) in SCHEDTRACE_RUNS.iter().enumerate() {
            let t = Instant::now();
            match schedtrace_run(&mut lab, sched, flags, *fam, base + n as u16, &mut port) {
                Ok(()) => eprintln!("ok: schedtrace {sched} {} ({fam:?}) in {:?}", flags.join(","), t.elapsed()),
                Err(e) => failures.push(e),
            }
        }
    }
    assert!(failures.is_empty(), "{} scenario(s) disagree:\n\n{}", failures.len(), failures.join("\n\n"));
    eprintln!("{total} connections, every choice as the kernel's");
}

/// schedtrace runs checked against the kernel: scheduler, flags, family.
const SCHEDTRACE_RUNS: [(&str, &[&str], Fam); 16] = [
    ("rr", &[], Fam::V4),
    ("wrr", &[], Fam::V4),
    ("lc", &[], Fam::V4),
    ("wlc", &[], Fam::V4),
    ("sed", &[], Fam::V4),
    ("nq", &[], Fam::V4),
    ("fo", &[], Fam::V4),
    ("ovf", &[], Fam::V4),
    ("sh", &["sh-port"], Fam::V4),
    ("sh", &["sh-fallback"], Fam::V6),
    ("dh", &[], Fam::V4),
    ("dh", &[], Fam::V6),
    ("mh", &[], Fam::V4),
    ("mh", &["mh-port"], Fam::V6),
    ("lblc", &[], Fam::V4),
    ("lblcr", &[], Fam::V6),
];

/// The built `schedtrace` example (cargo builds examples with the tests).
fn schedtrace_bin() -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    let bin = exe.parent().unwrap().parent().unwrap().join("examples").join("schedtrace");
    assert!(bin.exists(), "{} is missing: build the examples first (cargo test builds them)", bin.display());
    bin
}

/// Four servers (one of weight 0) behind firewall mark 1, 16 connections
/// to 8 marked destinations; schedtrace's output must be the kernel's.
fn schedtrace_run(
    lab: &mut Lab,
    sched: &str,
    flags: &[&str],
    fam: Fam,
    rport: u16,
    next_port: &mut u16,
) -> Result<(), String> {
    let mut batch = Batch::default();
    batch.push(&["-C".to_string()]);
    let mut svc = vec!["-f", "1"];
    svc.extend(fam.fwm_flag());
    let mut add = vec!["-A"];
    add.extend(&svc);
    add.extend(["-s", sched]);
    let joined = flags.join(",");
    if !flags.is_empty() {
        add.extend(["-b", &joined]);
    }
    batch.push(&add.iter().map(|a| a.to_string()).collect::<Vec<_>>());
    let servers: Vec<(SocketAddr, u32)> =
        [(1, 2), (2, 1), (3, 0), (4, 3)].iter().map(|&(k, w)| (SocketAddr::new(fam.server(k), rport), w)).collect();
    let mut trace_args: Vec<String> = vec!["--scheduler".into(), sched.into()];
    if !flags.is_empty() {
        trace_args.extend(["--flags".into(), joined.clone()]);
    }
    for (a, w) in &servers {
        let mut args: Vec<String> = vec!["-a".into()];
        args.extend(svc.iter().map(|s| s.to_string()));
        args.extend(["-r".into(), a.to_string(), "-m".into(), "-w".into(), w.to_string()]);
        batch.push(&args);
        trace_args.extend(["--server".into(), format!("{a}:{w}")]);
    }
    batch.flush();
    let mut flows = String::new();
    let mut srcs = Vec::new();
    for i in 0..16u8 {
        let src = SocketAddr::new(fam.client(i % 9), *next_port);
        *next_port += 1;
        let dst = SocketAddr::new(fam.marked(i % 8), 80);
        let ok = lab.connect(src, dst);
        flows.push_str(&format!("tcp {} {} {} 80\n", src.ip(), src.port(), dst.ip()));
        srcs.push((src, ok));
    }
    let want: Vec<SocketAddr> = srcs.iter().filter(|(_, ok)| *ok).map(|(s, _)| *s).collect();
    let table = conn_table_with(&want);
    lab.close_all();
    let file = std::env::temp_dir().join(format!("schedtrace-{sched}-{fam:?}.flows"));
    std::fs::write(&file, &flows).unwrap();
    let out = std::process::Command::new(schedtrace_bin()).arg(&file).args(&trace_args).output().unwrap();
    if !out.status.success() {
        return Err(format!("schedtrace {trace_args:?} failed: {}", String::from_utf8_lossy(&out.stderr)));
    }
    let printed: Vec<String> = String::from_utf8_lossy(&out.stdout).lines().map(String::from).collect();
    let kernel: Vec<String> = srcs
        .iter()
        .map(|(src, ok)| match table.get(src) {
            Some(d) if *ok => d.to_string(),
            _ => "none".into(),
        })
        .collect();
    if printed != kernel {
        return Err(format!(
            "schedtrace {sched} {joined} ({fam:?}) disagrees with the kernel:\nflows:\n{flows}kernel:    {kernel:?}\nschedtrace: {printed:?}"
        ));
    }
    Ok(())
}
