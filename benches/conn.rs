//! The connection table at 1 million and 10 million IPv4 connections:
//! insert, lookup hit and miss (uniformly random keys, the worst case for
//! caches), the full packet path on an established connection, state
//! transitions, expiry of a full table, and one against two threads; beside
//! it a `parking_lot::Mutex<HashMap>` doing the same look-ups and inserts.
//!
//! Memory per connection is printed once per size: the growth of the
//! process's resident set while the table is filled (`VmRSS` in
//! `/proc/self/status`), and the table's own count of its heap bytes.
//!
//! `LVSKIT_CONN_BENCH_SIZES` (default `1000000,10000000`) picks the sizes;
//! `LVSKIT_CONN_BENCH_ONLY` a comma-separated subset of `insert`, `lookup`,
//! `process`, `expire`, `threads`, `baseline`.

use std::collections::HashMap;
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use lvskit::ipvs::conn::{ConnTable, ConnTableConfig, Packet, Segment, TcpFlags};
use lvskit::ipvs::{DestConfig, Flow, Protocol, Service, ServiceConfig, ServiceKey};
use parking_lot::Mutex;

const VIP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);

/// The i-th client endpoint: a bijection of i onto (address, port).
#[inline]
fn client(i: u64) -> (u32, u16) {
    let x = (i as u32).wrapping_mul(0x9E37_79B1) ^ 0x5bd1_e995;
    (x, 1024 + (i >> 32) as u16 + (i % 7) as u16)
}

#[inline]
fn flow(i: u64) -> Flow {
    let (a, p) = client(i);
    Flow::new(Protocol::Tcp, IpAddr::V4(Ipv4Addr::from(a)), p, IpAddr::V4(VIP), 80)
}

/// A small fast generator of indexes (wyrand).
struct Rng(u64);

impl Rng {
    #[inline]
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_add(0xa076_1d64_78bd_642f);
        let t = (self.0 as u128).wrapping_mul((self.0 ^ 0xe703_7ed1_a0b4_28db) as u128);
        let r = ((t >> 64) as u64) ^ (t as u64);
        ((r as u128 * n as u128) >> 64) as u64
    }
}

fn service() -> Service {
    let mut svc =
        Service::new(ServiceConfig::new(ServiceKey::addr(Protocol::Tcp, IpAddr::V4(VIP), 80), "rr"), 0).unwrap();
    for k in 0..8u8 {
        svc.add_dest(DestConfig::masq(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 10 + k)), 8080)).unwrap();
    }
    svc
}

fn rss_bytes() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// A table with `n` established connections (SYN then ACK each).
fn filled(n: u64, svc: &mut Service, t0: Instant) -> ConnTable {
    let table = ConnTable::new(ConnTableConfig::default().max_entries(n as usize + 1024), t0).unwrap();
    for i in 0..n {
        let f = flow(i);
        table.process(&mut *svc, &Packet::input(f, Segment::Tcp(TcpFlags::SYN)), t0).unwrap();
        table.process(&mut *svc, &Packet::input(f, Segment::Tcp(TcpFlags::ACK)), t0).unwrap();
    }
    table
}

type BKey = (u8, u32, u16, u32, u16);
type BVal = (u32, u16, u8, u32, u32);

fn baseline(n: u64) -> Mutex<HashMap<BKey, BVal>> {
    let mut m = HashMap::with_capacity(0);
    for i in 0..n {
        let (a, p) = client(i);
        m.insert((6, a, p, u32::from(VIP), 80), (0xc633_640a, 8080, 1, 225_000, 0));
    }
    Mutex::new(m)
}

fn only(part: &str) -> bool {
    std::env::var("LVSKIT_CONN_BENCH_ONLY").map_or(true, |v| v.split(',').any(|p| p == part))
}

fn sizes() -> Vec<u64> {
    std::env::var("LVSKIT_CONN_BENCH_SIZES")
        .unwrap_or_else(|_| "1000000,10000000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect()
}

/// Look-ups from `threads` threads, `iters` in all; returns the wall time.
fn lookups_threads(table: &ConnTable, n: u64, threads: u64, iters: u64, now: Instant) -> Duration {
    let start = Instant::now();
    std::thread::scope(|s| {
        for t in 0..threads {
            s.spawn(move || {
                let mut rng = Rng(0x1234 + t);
                for _ in 0..iters / threads {
                    black_box(table.lookup(&flow(rng.below(n)), now));
                }
            });
        }
    });
    start.elapsed()
}

fn baseline_threads(map: &Mutex<HashMap<BKey, BVal>>, n: u64, threads: u64, iters: u64) -> Duration {
    let start = Instant::now();
    std::thread::scope(|s| {
        for t in 0..threads {
            s.spawn(move || {
                let mut rng = Rng(0x1234 + t);
                for _ in 0..iters / threads {
                    let (a, p) = client(rng.below(n));
                    black_box(map.lock().get(&(6, a, p, u32::from(VIP), 80)).copied());
                }
            });
        }
    });
    start.elapsed()
}

fn bench(c: &mut Criterion) {
    for n in sizes() {
        let label = if n >= 1_000_000 { format!("{}M", n / 1_000_000) } else { n.to_string() };
        let t0 = Instant::now();

        if only("insert") {
            let mut g = c.benchmark_group(format!("conn/{label}"));
            g.sample_size(10).throughput(Throughput::Elements(n));
            g.bench_function("insert", |b| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let mut svc = service();
                        let table =
                            ConnTable::new(ConnTableConfig::default().max_entries(n as usize + 1024), t0).unwrap();
                        let start = Instant::now();
                        for i in 0..n {
                            table.process(&mut svc, &Packet::input(flow(i), Segment::Tcp(TcpFlags::SYN)), t0).unwrap();
                        }
                        total += start.elapsed();
                    }
                    total
                })
            });
            g.finish();
        }

        // One table for the look-up, packet and thread benches.
        let mut svc = service();
        let rss0 = rss_bytes();
        let built = Instant::now();
        let table = filled(n, &mut svc, t0);
        let took = built.elapsed();
        let rss1 = rss_bytes();
        eprintln!(
            "conn/{label}: {n} connections in {:.1} s; resident memory +{:.1} bytes/connection, table heap {:.1} bytes/connection",
            took.as_secs_f64(),
            rss1.saturating_sub(rss0) as f64 / n as f64,
            table.heap_bytes() as f64 / n as f64
        );

        let mut g = c.benchmark_group(format!("conn/{label}"));
        g.throughput(Throughput::Elements(1));
        if only("lookup") {
            let mut rng = Rng(1);
            g.bench_function("lookup_hit", |b| b.iter(|| black_box(table.lookup(&flow(rng.below(n)), t0))));
            let mut rng = Rng(2);
            g.bench_function("lookup_miss", |b| b.iter(|| black_box(table.lookup(&flow(n + rng.below(n)), t0))));
        }
        if only("process") {
            // The whole data-plane path for a packet of an established
            // connection: lock, state machine (no change), timer restart.
            let mut rng = Rng(3);
            g.bench_function("process_hit", |b| {
                b.iter(|| {
                    let p = Packet::input(flow(rng.below(n)), Segment::Tcp(TcpFlags::ACK));
                    black_box(table.process(&mut svc, &p, t0).unwrap())
                })
            });
            // Every packet changes a state: all connections go FIN
            // (ESTABLISHED -> CLOSE_WAIT, one active count less), then SYN
            // (-> SYN_RECV, active again), then ACK (-> ESTABLISHED).
            let mut k = 0u64;
            g.bench_function("state_transition", |b| {
                b.iter(|| {
                    let i = (k % n).wrapping_mul(0x9E37_79B9_7F4A_7C15 | 1) % n;
                    let flags = [TcpFlags::FIN_ACK, TcpFlags::SYN, TcpFlags::ACK][((k / n) % 3) as usize];
                    k += 1;
                    black_box(table.process(&mut svc, &Packet::input(flow(i), Segment::Tcp(flags)), t0).unwrap())
                })
            });
        }
        if only("threads") {
            for threads in [1u64, 2] {
                g.bench_function(format!("lookup_hit_{threads}_thread"), |b| {
                    b.iter_custom(|iters| lookups_threads(&table, n, threads, iters.max(threads), t0))
                });
            }
            let shared = Mutex::new(service());
            for threads in [1u64, 2] {
                g.bench_function(format!("process_hit_{threads}_thread"), |b| {
                    b.iter_custom(|iters| {
                        let start = Instant::now();
                        std::thread::scope(|s| {
                            for t in 0..threads {
                                let (table, shared) = (&table, &shared);
                                s.spawn(move || {
                                    let mut rng = Rng(7 + t);
                                    for _ in 0..iters.max(threads) / threads {
                                        let p = Packet::input(flow(rng.below(n)), Segment::Tcp(TcpFlags::ACK));
                                        black_box(table.process(shared, &p, t0).unwrap());
                                    }
                                });
                            }
                        });
                        start.elapsed()
                    })
                });
            }
        }
        g.finish();
        drop(table);

        if only("baseline") {
            let mut g = c.benchmark_group(format!("baseline_mutex_hashmap/{label}"));
            g.sample_size(10).throughput(Throughput::Elements(n));
            g.bench_function("insert", |b| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let map: Mutex<HashMap<BKey, BVal>> = Mutex::new(HashMap::new());
                        let start = Instant::now();
                        for i in 0..n {
                            let (a, p) = client(i);
                            map.lock().insert((6, a, p, u32::from(VIP), 80), (0xc633_640a, 8080, 1, 225_000, 0));
                        }
                        total += start.elapsed();
                        drop(map);
                    }
                    total
                })
            });
            g.finish();
            let map = baseline(n);
            let mut g = c.benchmark_group(format!("baseline_mutex_hashmap/{label}"));
            g.throughput(Throughput::Elements(1));
            for threads in [1u64, 2] {
                g.bench_function(format!("lookup_hit_{threads}_thread"), |b| {
                    b.iter_custom(|iters| baseline_threads(&map, n, threads, iters.max(threads)))
                });
            }
            g.finish();
        }

        if only("expire") {
            // Every connection due at the same tick: one call expires them all.
            let mut g = c.benchmark_group(format!("conn/{label}"));
            g.sample_size(10).throughput(Throughput::Elements(n));
            g.bench_function("expire_full_table", |b| {
                b.iter_batched(
                    || {
                        let mut svc = service();
                        let table =
                            ConnTable::new(ConnTableConfig::default().max_entries(n as usize + 1024), t0).unwrap();
                        for i in 0..n {
                            table.process(&mut svc, &Packet::input(flow(i), Segment::Tcp(TcpFlags::SYN)), t0).unwrap();
                        }
                        (table, svc)
                    },
                    |(table, _svc)| {
                        let out = table.expire(t0 + Duration::from_secs(60));
                        assert_eq!(out.conns as u64, n);
                    },
                    BatchSize::PerIteration,
                )
            });
            g.finish();
        }
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
