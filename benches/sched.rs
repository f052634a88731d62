//! Scheduler benchmarks (criterion).
//!
//! * `pick/<sched>/<n>`: one `Service::schedule` for a new flow, with `n`
//!   real servers whose counters are preset (and do not change), for every
//!   scheduler; `pick/<sched>-scan/<n>` the kernel's literal O(n) scan for
//!   lc, wlc, sed and nq.
//! * `pick_conn/<sched>/<n>`: what a balancer does per new connection with a
//!   load-based scheduler: pick, bind the connection to the chosen server,
//!   and close the oldest of `4 n` open connections; the index (default) and
//!   the kernel's literal scan (`-scan`) do the same work and choose the same
//!   servers (`tests/sched_props.rs`).
//! * `mh_build/1000`: building mh's 4093-slot table for 1 000 servers.
//!
//! mh at 10 000 servers uses the kernel's 65521-slot table (more servers than
//! 4093 slots make the kernel refuse to rebuild).

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use lvskit::ipvs::sched::{self, SchedParams};
use lvskit::ipvs::{Dest, DestConfig, Family, Flow, Protocol, Service, ServiceConfig, ServiceFlags, ServiceKey};

const SIZES: [usize; 4] = [8, 64, 1024, 10_000];

/// A tiny deterministic generator for the bench's inputs.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u32 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 33) as u32
    }
}

/// A firewall-mark service with `n` servers of mixed weights (1..=8) on
/// 198.51.100.1-250, ports 1024 and up.
fn service(name: &str, n: usize, literal_scan: bool) -> Service {
    let mh_table_size = if n > 4093 { 65521 } else { 4093 };
    let params = SchedParams { seed: 7, literal_scan, mh_table_size, ..SchedParams::default() };
    let flags = ServiceFlags::from_name("sh-port").unwrap();
    let mut svc =
        Service::with_params(ServiceConfig::new(ServiceKey::fwmark(Family::V4, 1), name).flags(flags), params)
            .expect("service");
    let mut rng = Lcg(n as u64);
    for i in 0..n {
        let addr = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1 + (i % 250) as u8));
        let port = 1024 + (i / 250) as u16;
        svc.add_dest(DestConfig::masq(addr, port).weight(1 + rng.next() % 8)).expect("server");
    }
    svc
}

/// 4096 flows from varied clients to 64 destinations.
fn flows() -> Vec<Flow> {
    let mut rng = Lcg(42);
    (0..4096)
        .map(|_| {
            let src = IpAddr::V4(Ipv4Addr::from(0xCB00_7100 | (rng.next() & 0xff)));
            let dst = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 128 + (rng.next() % 64) as u8));
            Flow::new(Protocol::Tcp, src, 1024 + (rng.next() % 60000) as u16, dst, 80).with_fwmark(1)
        })
        .collect()
}

fn preset_counters(svc: &Service) {
    let mut rng = Lcg(9);
    for d in svc.dests() {
        d.set_conns(rng.next() % 100, rng.next() % 100);
    }
}

fn bench_pick(c: &mut Criterion) {
    let flows = flows();
    let now = Instant::now();
    let mut g = c.benchmark_group("pick");
    for &n in &SIZES {
        for name in sched::NAMES {
            let mut svc = service(name, n, false);
            preset_counters(&svc);
            let mut i = 0;
            g.bench_function(BenchmarkId::new(*name, n), |b| {
                b.iter(|| {
                    i = (i + 1) & 4095;
                    black_box(svc.schedule(black_box(&flows[i]), now).is_some())
                })
            });
        }
        for name in ["lc", "wlc", "sed", "nq"] {
            let mut svc = service(name, n, true);
            preset_counters(&svc);
            let mut i = 0;
            g.bench_function(BenchmarkId::new(format!("{name}-scan"), n), |b| {
                b.iter(|| {
                    i = (i + 1) & 4095;
                    black_box(svc.schedule(black_box(&flows[i]), now).is_some())
                })
            });
        }
    }
    g.finish();
}

/// One new connection: pick, bind, and close the oldest open one.
struct Churn {
    svc: Service,
    /// Open connections: like a connection table, each holds its server.
    ring: Vec<Arc<Dest>>,
    cap: usize,
    head: usize,
    flow: usize,
}

impl Churn {
    fn new(name: &str, n: usize, literal_scan: bool) -> Self {
        let mut c = Churn {
            svc: service(name, n, literal_scan),
            ring: Vec::with_capacity(4 * n),
            cap: 4 * n,
            head: 0,
            flow: 0,
        };
        // Fill to the steady state before measuring.
        let flows = flows();
        for _ in 0..4 * n {
            c.step(&flows, Instant::now());
        }
        c
    }

    #[inline]
    fn step(&mut self, flows: &[Flow], now: Instant) -> bool {
        self.flow = (self.flow + 1) & 4095;
        let Some(d) = self.svc.schedule(&flows[self.flow], now) else { return false };
        d.bind_conn(true);
        let d = Arc::clone(d);
        if self.ring.len() < self.cap {
            self.ring.push(d);
        } else {
            let old = std::mem::replace(&mut self.ring[self.head], d);
            old.unbind_conn(true);
            self.head = (self.head + 1) % self.cap;
        }
        true
    }
}

fn bench_pick_conn(c: &mut Criterion) {
    let flows = flows();
    let now = Instant::now();
    let mut g = c.benchmark_group("pick_conn");
    for &n in &SIZES {
        for name in ["lc", "wlc", "sed", "nq"] {
            for scan in [false, true] {
                let mut churn = Churn::new(name, n, scan);
                let id = if scan { format!("{name}-scan") } else { name.to_string() };
                g.bench_function(BenchmarkId::new(id, n), |b| b.iter(|| black_box(churn.step(&flows, now))));
            }
        }
    }
    g.finish();
}

fn bench_mh_build(c: &mut Criterion) {
    let svc = service("rr", 1000, false);
    let dests = svc.dests().to_vec();
    c.bench_function("mh_build/1000", |b| {
        b.iter(|| {
            let mut mh = sched::new("mh", &SchedParams::default()).unwrap();
            mh.set_family(Family::V4);
            mh.init(black_box(&dests));
            mh
        })
    });
}

fn config() -> Criterion {
    Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = benches;
    config = config();
    targets = bench_pick, bench_pick_conn, bench_mh_build
}
criterion_main!(benches);
