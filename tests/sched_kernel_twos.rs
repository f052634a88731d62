// lvskit-test: vm
// lvskit-vm-env: IPVS_VM_KERNEL_SUITE=bookworm-backports
//! Kernel agreement for `twos`, by distribution: the scheduler draws from the
//! kernel's RNG, so its sequence cannot be matched, but the shares it gives
//! each server can.
//!
//! Inside the VM with Debian's 6.12 kernel (the first with `ip_vs_twos`;
//! this file asks `scripts/ipvs-vm` for it), a twos service with servers of
//! weights 1, 2 and 5, a weight-0 server and one with an upper threshold of
//! 3 gets 240 connections that stay open, over IPv4 and IPv6. lvskit's twos
//! (seeded RNG) replays the same run. Both must leave the weight-0 server
//! empty, stop the thresholded one at 3, and give every other server the
//! same share within 10 connections (the loaded-pair comparison keeps both
//! close to the weight shares, 30/60/150). And since a least-connection
//! scheduler would do that too, both must also show twos's randomness in the
//! same measure: the fraction of picks that went to a server other than the
//! least loaded one (per weight) at that moment, within 0.12 of each other
//! (0 for wlc; for 240 random picks the standard deviation is about 0.03).

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Instant;

use common::vmlab::{Fam, Lab, SERVER_PORTS, conn_table_with, helper_main, in_vm, sh};
use lvskit::ipvs::sched::SchedParams;
use lvskit::ipvs::{DestConfig, Flow, Protocol, Service, ServiceConfig, ServiceKey};

#[test]
#[ignore = "helper process of the VM tests, started by them inside a network namespace"]
fn vm_helper() {
    helper_main();
}

const CONNS: u16 = 240;

/// `(server, weight, upper threshold)`.
const SERVERS: [(u8, u32, u32); 5] = [(1, 1, 0), (2, 2, 0), (3, 5, 0), (4, 0, 0), (5, 4, 3)];

fn run(lab: &mut Lab, fam: Fam, rport: u16, next_port: &mut u16) -> Result<String, String> {
    let vip = SocketAddr::new(fam.vip(), 80);
    sh("ipvsadm", &["-C"]);
    sh("ipvsadm", &["-A", "-t", &vip.to_string(), "-s", "twos"]);
    let params = SchedParams { seed: 2012, ..SchedParams::default() };
    let mut svc =
        Service::with_params(ServiceConfig::new(ServiceKey::addr(Protocol::Tcp, vip.ip(), 80), "twos"), params)
            .map_err(|e| e.to_string())?;
    for (k, w, u) in SERVERS {
        let cfg = DestConfig::masq(fam.server(k), rport).weight(w).thresholds(u, 0);
        sh(
            "ipvsadm",
            &[
                "-a",
                "-t",
                &vip.to_string(),
                "-r",
                &cfg.socket_addr().to_string(),
                "-m",
                "-w",
                &w.to_string(),
                "-x",
                &u.to_string(),
            ],
        );
        svc.add_dest(cfg).map_err(|e| e.to_string())?;
    }
    let mut ours: HashMap<SocketAddr, u32> = HashMap::new();
    let mut our_seq = Vec::new();
    let mut srcs = Vec::new();
    for i in 0..CONNS {
        let src = SocketAddr::new(fam.client((i % 40) as u8), *next_port);
        *next_port += 1;
        if !lab.connect(src, vip) {
            return Err(format!("connection {i} refused"));
        }
        srcs.push(src);
        let flow = Flow::new(Protocol::Tcp, src.ip(), src.port(), vip.ip(), 80);
        let d = svc.schedule(&flow, Instant::now()).ok_or("lvskit found no server")?.clone();
        d.bind_conn(false);
        d.activate_conn();
        *ours.entry(d.socket_addr()).or_default() += 1;
        our_seq.push(d.socket_addr());
    }
    let table = conn_table_with(&srcs);
    lab.close_all();
    let mut kernel: HashMap<SocketAddr, u32> = HashMap::new();
    let mut kernel_seq = Vec::new();
    for src in &srcs {
        let d = table.get(src).ok_or_else(|| format!("{src} not in ipvsadm -Lnc"))?;
        *kernel.entry(*d).or_default() += 1;
        kernel_seq.push(*d);
    }
    let mut report = String::new();
    let mut bad = false;
    for (k, w, u) in SERVERS {
        let a = SocketAddr::new(fam.server(k), rport);
        let (kc, oc) = (kernel.get(&a).copied().unwrap_or(0), ours.get(&a).copied().unwrap_or(0));
        report.push_str(&format!("  {a} weight {w} upper {u}: kernel {kc} lvskit {oc}\n"));
        bad |= match (w, u) {
            (0, _) => kc != 0 || oc != 0,
            (_, u) if u > 0 => kc != u || oc != u,
            _ => kc.abs_diff(oc) > 10,
        };
    }
    let (kf, of) = (non_greedy(fam, rport, &kernel_seq), non_greedy(fam, rport, &our_seq));
    report.push_str(&format!("  picks not to a least loaded server: kernel {kf:.3} lvskit {of:.3}\n"));
    bad |= (kf - of).abs() > 0.12;
    if bad { Err(format!("twos shares differ ({fam:?}):\n{report}")) } else { Ok(report) }
}

/// The fraction of picks in `seq` that went to a server whose active
/// connections per weight were above the lowest among the servers that
/// could take it (weight above 0, below its upper threshold).
fn non_greedy(fam: Fam, rport: u16, seq: &[SocketAddr]) -> f64 {
    let mut active: HashMap<SocketAddr, u32> = HashMap::new();
    let mut count = 0;
    for pick in seq {
        let ratio = |a: &SocketAddr, w: u32| active.get(a).copied().unwrap_or(0) as f64 / w as f64;
        let usable = SERVERS.iter().filter_map(|&(k, w, u)| {
            let a = SocketAddr::new(fam.server(k), rport);
            (w > 0 && (u == 0 || active.get(&a).copied().unwrap_or(0) < u)).then_some((a, w))
        });
        let min = usable.map(|(a, w)| ratio(&a, w)).fold(f64::INFINITY, f64::min);
        let w = SERVERS.iter().find(|&&(k, _, _)| SocketAddr::new(fam.server(k), rport) == *pick).map_or(1, |s| s.1);
        if ratio(pick, w) > min + 1e-9 {
            count += 1;
        }
        *active.entry(*pick).or_default() += 1;
    }
    count as f64 / seq.len() as f64
}

#[test]
fn twos_shares_match_the_kernel() {
    if !in_vm("twos_shares_match_the_kernel") {
        return;
    }
    let kernel = sh("uname", &["-r"]);
    assert!(kernel.starts_with("6.12."), "expected the 6.12 kernel (IPVS_VM_KERNEL_SUITE), got {kernel}");
    let mut lab = Lab::start();
    let mut port = 20000;
    for (n, fam) in [Fam::V4, Fam::V6].into_iter().enumerate() {
        match run(&mut lab, fam, SERVER_PORTS.start + n as u16, &mut port) {
            Ok(report) => eprintln!("ok: twos ({fam:?}), {CONNS} connections\n{report}"),
            Err(e) => panic!("{e}"),
        }
    }
}
