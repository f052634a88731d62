//! The connection table at 1 million and 10 million IPv4 connections, and
//! beside it a `parking_lot::Mutex<HashMap>` (std's keyed SipHash) doing the
//! same work for every operation measured.
//!
//! Operations (group `conn/<size>`, baseline group
//! `baseline_mutex_hashmap/<size>`):
//! * `insert`: a SYN for each of `size` new flows into an empty table
//!   (baseline: insert the same entries).
//! * `lookup_hit` / `lookup_miss`: one [`ConnTable::lookup`] per call, keys
//!   uniformly random over the table (the worst case for caches); each call
//!   waits for its own cache miss.
//! * `lookup_dest_hit`: one [`ConnTable::lookup_dest`] per call (the
//!   server only, no `ConnEntry`), same keys.
//! * `lookup_hit_batch256` / `lookup_miss_batch256`: [`ConnTable::lookup_batch`]
//!   over 256 flows, which prefetches ahead so that misses overlap
//!   (throughput is per flow); `lookup_dest_hit_batch256` the same with
//!   [`ConnTable::lookup_dest_batch`] (the server only).
//! * `process_hit` (and `_batch256`): the whole data-plane path for a packet
//!   of an established connection (lock, state machine, timer restart);
//!   baseline: lock, find, set state and timer fields.
//! * `state_transition`: every packet changes a connection's state and its
//!   server's active count (baseline: the same fields and counter).
//! * `expire_full_table`: every connection due at once, one `expire` call
//!   (baseline: `retain` on the map, dropping the counts).
//! * `*_{1,2}_thread`: look-ups and packets (single and batched) from one
//!   and from two threads at once, all sharing one table (baseline: one map).
//!
//! Flows are generated before the timed loops (a table of 64 Ki random
//! indexes per run), so key generation is not measured. Memory per
//! connection is printed once per size: the table's own count of its heap
//! bytes ([`ConnTable::heap_bytes`] / [`ConnTable::len`]) and the growth of
//! the process's resident set while the table is filled.
//!
//! `LVSKIT_CONN_BENCH_SIZES` (default `1000000,10000000`) picks the sizes;
//! `LVSKIT_CONN_BENCH_ONLY` a comma-separated subset of `insert`, `lookup`,
//! `process`, `expire`, `threads`, `baseline`.

use std::collections::HashMap;
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{BatchSize, BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main};
use lvskit::ipvs::conn::{ConnTable, ConnTableConfig, Packet, Segment, TcpFlags};
use lvskit::ipvs::{DestConfig, Flow, Protocol, Service, ServiceConfig, ServiceKey};
use parking_lot::Mutex;

const VIP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
/// Pre-generated keys per run (a power of two).
const KEYS: usize = 1 << 16;
const BATCH: usize = 256;
/// Ticks per second, as the table counts (for the baseline's timer fields).
const HZ: u32 = 250;

/// The i-th client endpoint: a bijection of i onto (address, port).
#[inline]
fn client(i: u64) -> (u32, u16) {
    let x = (i as u32).wrapping_mul(0x9E37_79B1) ^ 0x5bd1_e995;
    (x, 1024 + (i >> 32) as u16 + (i % 7) as u16)
}

fn flow(i: u64) -> Flow {
    let (a, p) = client(i);
    Flow::new(Protocol::Tcp, IpAddr::V4(Ipv4Addr::from(a)), p, IpAddr::V4(VIP), 80)
}

/// A small fast generator of indexes (wyrand).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_add(0xa076_1d64_78bd_642f);
        let t = (self.0 as u128).wrapping_mul((self.0 ^ 0xe703_7ed1_a0b4_28db) as u128);
        let r = ((t >> 64) as u64) ^ (t as u64);
        ((r as u128 * n as u128) >> 64) as u64
    }
}

/// `KEYS` random indexes in `base..base + n`.
fn indexes(seed: u64, base: u64, n: u64) -> Vec<u64> {
    let mut rng = Rng(seed);
    (0..KEYS).map(|_| base + rng.below(n)).collect()
}

fn flows(idx: &[u64]) -> Vec<Flow> {
    idx.iter().map(|&i| flow(i)).collect()
}

fn packets(idx: &[u64], flags: TcpFlags) -> Vec<Packet> {
    idx.iter().map(|&i| Packet::input(flow(i), Segment::Tcp(flags))).collect()
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

fn config(n: u64) -> ConnTableConfig {
    ConnTableConfig::default().max_entries(n as usize + 1024)
}

/// A table with `n` established connections (SYN then ACK each).
fn filled(n: u64, svc: &mut Service, t0: Instant) -> ConnTable {
    let table = ConnTable::new(config(n), t0).unwrap();
    for i in 0..n {
        let f = flow(i);
        table.process(&mut *svc, &Packet::input(f, Segment::Tcp(TcpFlags::SYN)), t0).unwrap();
        table.process(&mut *svc, &Packet::input(f, Segment::Tcp(TcpFlags::ACK)), t0).unwrap();
    }
    table
}

// ---- the baseline: what a straightforward implementation keeps ----

type BKey = (u8, u32, u16, u32, u16);

/// The baseline's entry: server, state, flags and timer, as lvskit keeps.
#[derive(Clone, Copy)]
struct BVal {
    daddr: u32,
    dport: u16,
    dest: u8,
    state: u8,
    active: bool,
    timeout: u32,
    last_used: u32,
}

/// The baseline: a map under one mutex, and the servers' active/inactive
/// counters beside it (atomics, as lvskit's).
struct Baseline {
    map: Mutex<HashMap<BKey, BVal>>,
    active: [AtomicU32; 8],
    inactive: [AtomicU32; 8],
}

fn bkey(f: &Flow) -> BKey {
    let IpAddr::V4(c) = f.src else { unreachable!() };
    let IpAddr::V4(v) = f.dst else { unreachable!() };
    (f.protocol.number(), u32::from(c), f.src_port, u32::from(v), f.dst_port)
}

impl Baseline {
    fn new() -> Self {
        Baseline { map: Mutex::new(HashMap::new()), active: Default::default(), inactive: Default::default() }
    }

    fn insert(&self, f: &Flow, k: u64, now: u32) {
        let d = (k % 8) as u8;
        self.map.lock().insert(
            bkey(f),
            BVal {
                daddr: 0xc633_640a + d as u32,
                dport: 8080,
                dest: d,
                state: 3, // SYN_RECV
                active: true,
                timeout: 60 * HZ,
                last_used: now,
            },
        );
        self.active[d as usize].fetch_add(1, Relaxed);
    }

    fn filled(n: u64) -> Self {
        let b = Baseline::new();
        b.map.lock().reserve(n as usize);
        for i in 0..n {
            b.insert(&flow(i), i, 0);
        }
        b
    }

    fn lookup(&self, f: &Flow) -> Option<(u32, u16)> {
        self.map.lock().get(&bkey(f)).map(|v| (v.daddr, v.dport))
    }

    /// A packet on an established connection: find it, refresh its state
    /// and timer.
    fn process(&self, f: &Flow, now: u32) -> Option<(u32, u16)> {
        let mut m = self.map.lock();
        let v = m.get_mut(&bkey(f))?;
        v.state = 1; // ESTABLISHED
        v.timeout = 900 * HZ;
        v.last_used = now;
        Some((v.daddr, v.dport))
    }

    /// A packet that moves a connection to `state`, active or not.
    fn transition(&self, f: &Flow, state: u8, active: bool, timeout: u32, now: u32) -> Option<(u32, u16)> {
        let mut m = self.map.lock();
        let v = m.get_mut(&bkey(f))?;
        if v.active != active {
            let d = v.dest as usize;
            if active {
                self.active[d].fetch_add(1, Relaxed);
                self.inactive[d].fetch_sub(1, Relaxed);
            } else {
                self.active[d].fetch_sub(1, Relaxed);
                self.inactive[d].fetch_add(1, Relaxed);
            }
            v.active = active;
        }
        v.state = state;
        v.timeout = timeout;
        v.last_used = now;
        Some((v.daddr, v.dport))
    }

    /// Expires every entry due by `now`: a scan of the whole map.
    fn expire(&self, now: u32) -> usize {
        let mut n = 0;
        self.map.lock().retain(|_, v| {
            if v.last_used.wrapping_add(v.timeout).wrapping_sub(now) as i32 > 0 {
                return true;
            }
            let d = v.dest as usize;
            if v.active {
                self.active[d].fetch_sub(1, Relaxed);
            } else {
                self.inactive[d].fetch_sub(1, Relaxed);
            }
            n += 1;
            false
        });
        n
    }
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

/// Where thread `t` starts in the one key table all thread counts share:
/// thread 1 half-way round from thread 0. One and two threads thus touch
/// the same keys (the same cache and TLB footprint) and two threads never
/// look up the same key at the same moment. (Before, each thread had its
/// own table of random keys, so two threads touched twice the slots one
/// did: the comparison mixed scaling with a larger working set.)
fn first(t: u64) -> usize {
    (t as usize * (KEYS / 2)) & (KEYS - 1)
}

/// Runs `work(thread, count)` on `threads` threads at once, `iters` calls
/// in all; returns the wall time.
fn on_threads(threads: u64, iters: u64, work: impl Fn(u64, u64) + Sync) -> Duration {
    let per = iters.div_ceil(threads);
    let start = Instant::now();
    std::thread::scope(|s| {
        for t in 0..threads {
            let work = &work;
            s.spawn(move || work(t, per));
        }
    });
    start.elapsed()
}

/// Benches `f(k)` for `k` stepping by `step` round the key table.
fn cycling<R>(g: &mut BenchmarkGroup<'_, WallTime>, name: &str, step: usize, mut f: impl FnMut(usize) -> R) {
    let mut k = 0usize;
    g.bench_function(name, |b| {
        b.iter(|| {
            k = (k + step) & (KEYS - 1);
            black_box(f(k))
        })
    });
}

/// Benches `work(first key, count)` as `<name>_1_thread` and
/// `<name>_2_thread`: see [`on_threads`] and [`first`].
fn threaded(g: &mut BenchmarkGroup<'_, WallTime>, name: &str, work: impl Fn(usize, u64) + Sync) {
    for threads in [1u64, 2] {
        g.bench_function(format!("{name}_{threads}_thread"), |b| {
            b.iter_custom(|iters| on_threads(threads, iters, |t, count| work(first(t), count)))
        });
    }
}

/// Benches `f(k)` for one key after another from each thread's first: see
/// [`threaded`].
fn threaded_keys<R>(g: &mut BenchmarkGroup<'_, WallTime>, name: &str, f: impl Fn(usize) -> R + Sync) {
    threaded(g, name, |o, count| {
        for j in 0..count as usize {
            black_box(f((o + j) & (KEYS - 1)));
        }
    });
}

/// Benches `work(batch, out)` over successive batches of up to `BATCH`
/// items of `items` from each thread's first key, with one output buffer
/// per thread (kept observable after each batch): see [`threaded`].
fn threaded_batches<T: Sync, O>(
    g: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    items: &[T],
    work: impl Fn(&[T], &mut Vec<O>) + Sync,
) {
    threaded(g, name, |o, count| {
        let mut out = Vec::with_capacity(BATCH);
        let mut j = o;
        let mut done = 0u64;
        while done < count {
            j = (j + BATCH) & (KEYS - 1);
            let m = (count - done).min(BATCH as u64) as usize;
            work(&items[j..j + m], &mut out);
            black_box(&out);
            done += m as u64;
        }
    });
}

fn bench(c: &mut Criterion) {
    for n in sizes() {
        let label = if n >= 1_000_000 { format!("{}M", n / 1_000_000) } else { n.to_string() };
        let t0 = Instant::now();
        let hit_idx = indexes(0x1234, 0, n);
        let miss_idx = indexes(0x9876, n, n);
        let hits = flows(&hit_idx);
        let miss_flows = flows(&miss_idx);
        let acks = packets(&hit_idx, TcpFlags::ACK);

        if only("insert") {
            let mut g = c.benchmark_group(format!("conn/{label}"));
            g.sample_size(10).throughput(Throughput::Elements(n));
            let syns: Vec<Packet> =
                (0..n.min(KEYS as u64)).map(|i| Packet::input(flow(i), Segment::Tcp(TcpFlags::SYN))).collect();
            g.bench_function("insert", |b| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let mut svc = service();
                        let table = ConnTable::new(config(n), t0).unwrap();
                        let start = Instant::now();
                        for i in 0..n {
                            // The flow is built here: inserts are not
                            // repeatable, so they cannot come from a table.
                            let p = if (i as usize) < syns.len() {
                                syns[i as usize]
                            } else {
                                Packet::input(flow(i), Segment::Tcp(TcpFlags::SYN))
                            };
                            black_box(table.process(&mut svc, &p, t0).unwrap());
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
            "conn/{label}: {} entries in {:.1} s; table heap {:.1} bytes/connection (heap_bytes/len), \
             resident memory +{:.1} bytes/connection",
            table.len(),
            took.as_secs_f64(),
            table.heap_bytes() as f64 / table.len() as f64,
            rss1.saturating_sub(rss0) as f64 / n as f64,
        );

        let mut g = c.benchmark_group(format!("conn/{label}"));
        if only("lookup") {
            g.throughput(Throughput::Elements(1));
            cycling(&mut g, "lookup_hit", 1, |k| table.lookup(&hits[k], t0));
            cycling(&mut g, "lookup_dest_hit", 1, |k| table.lookup_dest(&hits[k]));
            cycling(&mut g, "lookup_miss", 1, |k| table.lookup(&miss_flows[k], t0).is_none());
            g.throughput(Throughput::Elements(BATCH as u64));
            let mut out = Vec::with_capacity(BATCH);
            cycling(&mut g, "lookup_hit_batch256", BATCH, |k| {
                table.lookup_batch(&hits[k..k + BATCH], t0, &mut out);
                out.last().map(|e| e.as_ref().map(|e| e.dest))
            });
            cycling(&mut g, "lookup_miss_batch256", BATCH, |k| {
                table.lookup_batch(&miss_flows[k..k + BATCH], t0, &mut out);
                out.last().map(Option::is_none)
            });
            let mut dests = Vec::with_capacity(BATCH);
            cycling(&mut g, "lookup_dest_hit_batch256", BATCH, |k| {
                table.lookup_dest_batch(&hits[k..k + BATCH], &mut dests);
                dests.last().copied().flatten()
            });
        }
        if only("process") {
            g.throughput(Throughput::Elements(1));
            cycling(&mut g, "process_hit", 1, |k| table.process(&mut svc, &acks[k], t0).unwrap());
            g.throughput(Throughput::Elements(BATCH as u64));
            let mut out = Vec::with_capacity(BATCH);
            cycling(&mut g, "process_hit_batch256", BATCH, |k| {
                table.process_batch(&mut svc, &acks[k..k + BATCH], t0, &mut out);
                out.len()
            });
            // Every packet changes a state: all connections go FIN
            // (ESTABLISHED -> CLOSE_WAIT, one active count less), then SYN
            // (-> SYN_RECV, active again), then ACK (-> ESTABLISHED). The
            // order within a round is a fixed permutation of the table.
            g.throughput(Throughput::Elements(1));
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
            g.throughput(Throughput::Elements(1));
            threaded_keys(&mut g, "lookup_hit", |k| table.lookup(&hits[k], t0));
            threaded_keys(&mut g, "lookup_dest_hit", |k| table.lookup_dest(&hits[k]));
            threaded_batches(&mut g, "lookup_hit_batch256", &hits, |flows, out| {
                table.lookup_batch(flows, t0, out);
            });
            threaded_batches(&mut g, "lookup_dest_hit_batch256", &hits, |flows, out| {
                table.lookup_dest_batch(flows, out);
            });
            let shared = Mutex::new(service());
            threaded_keys(&mut g, "process_hit", |k| table.process(&shared, &acks[k], t0).unwrap());
            threaded_batches(&mut g, "process_hit_batch256", &acks, |pkts, out| {
                table.process_batch(&shared, pkts, t0, out);
            });
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
                        let base = Baseline::new();
                        let start = Instant::now();
                        for i in 0..n {
                            base.insert(&flow(i), i, 0);
                        }
                        total += start.elapsed();
                        drop(base);
                    }
                    total
                })
            });
            g.finish();
            let base = Baseline::filled(n);
            let mut g = c.benchmark_group(format!("baseline_mutex_hashmap/{label}"));
            g.throughput(Throughput::Elements(1));
            cycling(&mut g, "lookup_hit", 1, |k| base.lookup(&hits[k]));
            cycling(&mut g, "lookup_miss", 1, |k| base.lookup(&miss_flows[k]).is_none());
            cycling(&mut g, "process_hit", 1, |k| base.process(&hits[k], 1));
            let mut k = 0u64;
            g.bench_function("state_transition", |b| {
                b.iter(|| {
                    let i = (k % n).wrapping_mul(0x9E37_79B9_7F4A_7C15 | 1) % n;
                    let step = ((k / n) % 3) as usize;
                    let (state, active, timeout) =
                        [(7u8, false, 60 * HZ), (3, true, 60 * HZ), (1, true, 900 * HZ)][step];
                    k += 1;
                    black_box(base.transition(&flow(i), state, active, timeout, 1))
                })
            });
            threaded_keys(&mut g, "lookup_hit", |k| base.lookup(&hits[k]));
            threaded_keys(&mut g, "process_hit", |k| base.process(&hits[k], 1));
            g.finish();
            drop(base);
            if only("expire") {
                let mut g = c.benchmark_group(format!("baseline_mutex_hashmap/{label}"));
                g.sample_size(10).throughput(Throughput::Elements(n));
                g.bench_function("expire_full_table", |b| {
                    b.iter_batched(
                        || Baseline::filled(n),
                        |base| {
                            assert_eq!(base.expire(60 * HZ) as u64, n);
                            base // dropped untimed
                        },
                        BatchSize::PerIteration,
                    )
                });
                g.finish();
            }
        }

        if only("expire") {
            // Every connection due at the same tick: one call expires them all.
            let mut g = c.benchmark_group(format!("conn/{label}"));
            g.sample_size(10).throughput(Throughput::Elements(n));
            g.bench_function("expire_full_table", |b| {
                b.iter_batched(
                    || {
                        let mut svc = service();
                        let table = ConnTable::new(config(n), t0).unwrap();
                        for i in 0..n {
                            table.process(&mut svc, &Packet::input(flow(i), Segment::Tcp(TcpFlags::SYN)), t0).unwrap();
                        }
                        (table, svc)
                    },
                    |(table, svc)| {
                        let out = table.expire(t0 + Duration::from_secs(60));
                        assert_eq!(out.conns as u64, n);
                        (table, svc) // dropped untimed
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
