//! schedsim: every IPVS scheduler on one simulated pool, side by side.
//!
//! ```text
//! cargo run --release --example schedsim [-- OPTIONS]   (--help lists them)
//! ```
//!
//! The default scenario: six real servers of weights 5 3 3 2 1 1 behind one
//! service, 200 000 connections from 5 000 clients, each open for a random
//! time (about 2 000 open at once). Server 2 fails (it is removed, as
//! keepalived removes a failed real server) after 40% of the connections and
//! comes back after 70%. For every scheduler schedsim prints:
//!
//! * `load share`: the share of connections each server got while all were
//!   up, against its share of the weights;
//! * `moved`: of the clients that were not on the failing server, the share
//!   whose first connection after the failure went to another server than
//!   their last one before it (what the failure cost in affinity);
//! * `none`: connections that found no server;
//! * `ns/pick`: the time of one `Service::schedule`, measured afterwards on
//!   the final state with 1 000 000 picks.
//!
//! Everything is deterministic for a given `--seed` (timings aside).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use lvskit::ipvs::sched::{NAMES, SchedParams};
use lvskit::ipvs::{Dest, DestConfig, Flow, Protocol, Service, ServiceConfig, ServiceFlags, ServiceKey};
use rand::rngs::StdRng;
use rand::{Rng, RngExt, SeedableRng};

const HELP: &str = "\
schedsim: every IPVS scheduler on one simulated pool, side by side

usage: cargo run --release --example schedsim [-- OPTIONS]

  --weights W,W,...    real server weights, in the order they are added (default 5,3,3,2,1,1)
  --flows N            connections to schedule (default 200000)
  --clients N          distinct clients (addresses in 198.18.0.0/15; default 5000)
  --open N             mean number of connections open at once (default 2000); each
                       lasts an exponentially distributed number of arrivals
  --fail K             server (1-based, in the order added) that fails; 0 for none (default 2)
  --fail-at F          fraction of the flows after which it fails (default 0.4)
  --recover-at F       fraction after which it comes back (default 0.7)
  --sched A,B,...      schedulers to run (default: all fourteen)
  --flags F,...        scheduler flags for all (e.g. sh-port,sh-fallback; default none)
  --seed N             seed for the flows and for twos (default 1)
  --help               this text

Columns: load share per server while all are up (percent, against the weight share);
moved = clients (not on the failing server) whose first connection after the failure
went elsewhere than their last before it; none = connections that found no server;
ns/pick = one Service::schedule, measured on the final state.";

struct Opts {
    weights: Vec<u32>,
    flows: u32,
    clients: u32,
    open: f64,
    fail: usize,
    fail_at: f64,
    recover_at: f64,
    scheds: Vec<String>,
    flags: ServiceFlags,
    seed: u64,
}

fn parse() -> Result<Option<Opts>, String> {
    let mut o = Opts {
        weights: vec![5, 3, 3, 2, 1, 1],
        flows: 200_000,
        clients: 5000,
        open: 2000.0,
        fail: 2,
        fail_at: 0.4,
        recover_at: 0.7,
        scheds: NAMES.iter().map(|s| s.to_string()).collect(),
        flags: ServiceFlags::EMPTY,
        seed: 1,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        if a == "--help" || a == "-h" {
            return Ok(None);
        }
        let v = it.next().ok_or_else(|| format!("{a} needs a value"))?;
        let num = |what: &str| v.parse::<f64>().map_err(|_| format!("{what} {v:?} is not a number"));
        match a.as_str() {
            "--weights" => {
                o.weights = v
                    .split(',')
                    .map(|w| w.trim().parse::<u32>())
                    .collect::<Result<_, _>>()
                    .map_err(|_| format!("--weights {v:?}: expected comma-separated numbers"))?;
                if o.weights.is_empty() || o.weights.len() > 250 {
                    return Err("--weights: between 1 and 250 servers".into());
                }
            }
            "--flows" => o.flows = num("--flows")? as u32,
            "--clients" => o.clients = (num("--clients")? as u32).clamp(1, 1 << 17),
            "--open" => o.open = num("--open")?.max(1.0),
            "--fail" => o.fail = num("--fail")? as usize,
            "--fail-at" => o.fail_at = num("--fail-at")?,
            "--recover-at" => o.recover_at = num("--recover-at")?,
            "--sched" => {
                o.scheds = v.split(',').map(str::to_owned).collect();
                if let Some(bad) = o.scheds.iter().find(|s| !NAMES.contains(&s.as_str())) {
                    return Err(format!("unknown scheduler {bad:?} (known: {})", NAMES.join(" ")));
                }
            }
            "--flags" => {
                for f in v.split(',').filter(|f| !f.is_empty()) {
                    o.flags |= ServiceFlags::from_name(f).ok_or_else(|| format!("unknown flag {f:?}"))?;
                }
            }
            "--seed" => o.seed = num("--seed")? as u64,
            other => return Err(format!("unknown option {other}")),
        }
    }
    if o.fail > o.weights.len() {
        return Err(format!("--fail {}: there are only {} servers", o.fail, o.weights.len()));
    }
    if !(0.0..=1.0).contains(&o.fail_at) || !(o.fail_at..=1.0).contains(&o.recover_at) {
        return Err("need 0 <= --fail-at <= --recover-at <= 1".into());
    }
    Ok(Some(o))
}

/// What one scheduler's run produced.
struct Report {
    share: Vec<f64>,
    moved: f64,
    none: u32,
    ns_per_pick: f64,
}

fn server(k: usize) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(198, 51, 100, k as u8 + 1)), 80)
}

fn simulate(o: &Opts, sched: &str) -> Result<Report, String> {
    let vip = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    let params = SchedParams { seed: o.seed, ..SchedParams::default() };
    let cfg = ServiceConfig::new(ServiceKey::addr(Protocol::Tcp, vip, 80), sched).flags(o.flags);
    let mut svc = Service::with_params(cfg, params).map_err(|e| e.to_string())?;
    for (k, &w) in o.weights.iter().enumerate() {
        let a = server(k);
        svc.add_dest(DestConfig::masq(a.ip(), a.port()).weight(w)).map_err(|e| e.to_string())?;
    }
    let index: HashMap<SocketAddr, usize> = (0..o.weights.len()).map(|k| (server(k), k)).collect();
    let mut rng = StdRng::seed_from_u64(o.seed);
    let mut open: BinaryHeap<Reverse<(u64, usize)>> = BinaryHeap::new();
    let mut held: Vec<Option<Arc<Dest>>> = Vec::new();
    let mut free: Vec<usize> = Vec::new();
    let (fail_at, recover_at) = ((o.flows as f64 * o.fail_at) as u32, (o.flows as f64 * o.recover_at) as u32);
    let mut healthy = vec![0u64; o.weights.len()];
    let mut last_before: HashMap<u32, usize> = HashMap::new();
    let mut first_after: HashMap<u32, usize> = HashMap::new();
    let mut failed: Option<Arc<Dest>> = None;
    let mut none = 0;
    let start = Instant::now();
    let mut probe = Vec::with_capacity(4096);
    for t in 0..o.flows {
        if o.fail > 0 && t == fail_at {
            failed = Some(svc.del_dest(server(o.fail - 1)).map_err(|e| e.to_string())?);
        }
        if t == recover_at {
            if let Some(d) = failed.take() {
                let cfg = d.config();
                svc.restore_dest(d, cfg).map_err(|e| e.to_string())?;
            }
        }
        while let Some(&Reverse((end, slot))) = open.peek() {
            if end > t as u64 {
                break;
            }
            open.pop();
            if let Some(d) = held[slot].take() {
                d.unbind_conn(true);
            }
            free.push(slot);
        }
        let client = rng.random_range(0..o.clients);
        let src = IpAddr::V4(Ipv4Addr::from(0xC612_0000 + client));
        let flow = Flow::new(Protocol::Tcp, src, 1024 + (rng.next_u32() % 64000) as u16, vip, 80);
        if probe.len() < probe.capacity() {
            probe.push(flow);
        }
        let Some(d) = svc.schedule(&flow, start) else {
            none += 1;
            continue;
        };
        let k = index[&d.socket_addr()];
        d.bind_conn(true);
        if t < fail_at || o.fail == 0 {
            healthy[k] += 1;
        }
        if o.fail > 0 && t < fail_at {
            last_before.insert(client, k);
        } else if o.fail > 0 && t < recover_at {
            first_after.entry(client).or_insert(k);
        }
        // An exponentially distributed lifetime, in arrivals.
        let u: f64 = (rng.next_u32() as f64 + 1.0) / (u32::MAX as f64 + 2.0);
        let end = t as u64 + 1 + (-u.ln() * o.open) as u64;
        let slot = free.pop().unwrap_or_else(|| {
            held.push(None);
            held.len() - 1
        });
        held[slot] = Some(Arc::clone(d));
        open.push(Reverse((end, slot)));
    }
    let total: u64 = healthy.iter().sum();
    let share = healthy.iter().map(|&c| 100.0 * c as f64 / total.max(1) as f64).collect();
    let (mut stayed, mut moved) = (0u32, 0u32);
    for (client, before) in &last_before {
        if *before == o.fail.wrapping_sub(1) {
            continue;
        }
        if let Some(after) = first_after.get(client) {
            if after == before {
                stayed += 1;
            } else {
                moved += 1;
            }
        }
    }
    // Pick cost on the final state (no binds: the counters stay as they are).
    let picks = 1_000_000u32;
    let t0 = Instant::now();
    let mut hits = 0u32;
    for i in 0..picks {
        hits += svc.schedule(&probe[i as usize % probe.len().max(1)], start).is_some() as u32;
    }
    let ns_per_pick = t0.elapsed().as_nanos() as f64 / picks as f64;
    std::hint::black_box(hits);
    Ok(Report { share, moved: 100.0 * moved as f64 / (moved + stayed).max(1) as f64, none, ns_per_pick })
}

fn main() -> ExitCode {
    let o = match parse() {
        Ok(Some(o)) => o,
        Ok(None) => {
            println!("{HELP}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("schedsim: {e}\n(schedsim --help lists the options)");
            return ExitCode::from(2);
        }
    };
    let wsum: u32 = o.weights.iter().sum();
    let wshare: Vec<String> =
        o.weights.iter().map(|&w| format!("{:5.1}", 100.0 * w as f64 / wsum.max(1) as f64)).collect();
    println!(
        "schedsim: {} servers (weights {}), {} connections from {} clients, about {} open at once",
        o.weights.len(),
        o.weights.iter().map(|w| w.to_string()).collect::<Vec<_>>().join(" "),
        o.flows,
        o.clients,
        o.open
    );
    if o.fail > 0 {
        println!(
            "server {} fails after {:.0}% of the connections and comes back after {:.0}%",
            o.fail,
            100.0 * o.fail_at,
            100.0 * o.recover_at
        );
    }
    println!();
    let servers: Vec<String> = (1..=o.weights.len()).map(|k| format!("{:>5}", format!("s{k}"))).collect();
    println!(
        "{:<7} {:>8} {:>7} {:>7}   load share % while all up: {}",
        "sched",
        "ns/pick",
        "moved",
        "none",
        servers.join(" ")
    );
    println!("{:<7} {:>8} {:>7} {:>7}   {:>26} {}", "", "", "", "", "weight share %:", wshare.join(" "));
    for sched in &o.scheds {
        match simulate(&o, sched) {
            Ok(r) => {
                let share: Vec<String> = r.share.iter().map(|s| format!("{s:5.1}")).collect();
                let moved = if o.fail > 0 { format!("{:6.1}%", r.moved) } else { "-".into() };
                println!(
                    "{:<7} {:>8.1} {:>7} {:>7}   {:>26} {}",
                    sched,
                    r.ns_per_pick,
                    moved,
                    r.none,
                    "",
                    share.join(" ")
                );
            }
            Err(e) => {
                eprintln!("schedsim: {sched}: {e}");
                return ExitCode::from(1);
            }
        }
    }
    println!(
        "\nnotes: ovf takes a weight as the most active connections a server may have; dh, lblc and\n\
         lblcr choose by destination address and are meant for firewall-mark services in front of\n\
         caches (here every connection goes to one VIP); fo sends everything to the heaviest server."
    );
    ExitCode::SUCCESS
}
