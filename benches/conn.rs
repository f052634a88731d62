//! The connection table at 1 million and 10 million IPv4 connections, and
//! beside it a `parking_lot::Mutex<HashMap>` (std's keyed SipHash) doing the
//! same work for every operation measured.
//!
//! Operations (group `conn/<size>`, baseline group
//! `baseline_mutex_hashmap/<size>`):
//! * `insert`: a SYN for each of `size` new flows into an empty table that
//!   grows as they come (baseline: insert the same entries). The table of
//!   the look-up, packet, transition and thread benches is sized up front
//!   for its `size` connections; `expire_full_table` fills tables that
//!   grow.
//! * `lookup_hit` / `lookup_miss`: one [`ConnTable::lookup`] per call, keys
//!   uniformly random over the table (the worst case for caches); each call
//!   waits for its own cache miss (baseline: the same `ConnEntry`, built
//!   from its map entry after the lock).
//! * `lookup_hit_tick`: `lookup_hit` with its `now` converted once
//!   ([`ConnTable::tick`]) instead of on every call, as a data plane reading
//!   the clock once per burst does (the baseline takes its time as a plain
//!   `u32` tick, for look-ups and packets alike).
//! * `lookup_dest_hit`: one [`ConnTable::lookup_dest`] per call (the
//!   server only, no `ConnEntry`), same keys (baseline: the server only).
//! * `lookup_hit_batch256` / `lookup_miss_batch256`: [`ConnTable::lookup_batch`]
//!   over 256 flows, which prefetches ahead so that misses overlap
//!   (throughput is per flow); `lookup_dest_hit_batch256` the same with
//!   [`ConnTable::lookup_dest_batch`] (the server only). Baseline: the
//!   same answers for the same 256 flows, its lock taken once per batch.
//! * `process_hit` (and `_batch256`): the whole data-plane path for a packet
//!   of an established connection (lock, state machine, timer restart);
//!   baseline: lock, find, check the server, the kernel's TCP state table
//!   (lvskit's `tcp::next_state`), the server's counts, the new state's
//!   timeout, and the same `Verdict` (its `_batch256` takes its lock once
//!   per batch). `process_hit_tick` is `process_hit` given a
//!   [`lvskit::ipvs::conn::Tick`]. Before any size is measured,
//!   `same_answers` checks on a small table that both give the same
//!   verdicts, entries, servers and server counts.
//! * `state_transition`: every packet changes a connection's state and its
//!   server's active count (baseline: the same packets through its
//!   `process`).
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
//! The two goals that are ratios (two threads against one, lvskit against
//! the baseline at two threads) are also measured apart from criterion, in
//! the `paired` step: on a host whose memory speed drifts within minutes, a
//! ratio of two criterion figures taken minutes apart mixes the code with
//! the drift. That step alternates timed runs of every operation, one and
//! two threads, lvskit and baseline, round after round, takes each ratio
//! within a round and prints its median and range (see [`paired`]).
//!
//! The `machine` step prints what the machine itself does with a buffer the
//! size of the table's heap (see [`machine`]): one read's latency, and how
//! many independent reads it completes per second, alone or with 50 to 200
//! other instructions each, on one thread and on two. These bound what any
//! one-call look-up and any two-thread run can reach on that machine.
//!
//! The `processes` step measures the one-call look-ups (`lookup_hit`,
//! `lookup_hit_tick`, `lookup_dest_hit`) in several fresh processes, one
//! after another, each with its own table of `size` connections (see
//! [`processes`]): on a virtual machine the host backs each process's memory
//! anew, and a one-call look-up, which waits for its own cache miss, moves
//! with that placement far more than with the code.
//!
//! `LVSKIT_CONN_BENCH_SIZES` (default `1000000,10000000`) picks the sizes;
//! `LVSKIT_CONN_BENCH_ONLY` a comma-separated subset of `insert`, `lookup`,
//! `process`, `expire`, `threads`, `machine`, `paired`, `processes`,
//! `baseline`; `LVSKIT_CONN_BENCH_PROCESSES` (default 9) sets how many
//! processes that step starts per size (`LVSKIT_CONN_BENCH_CHILD` is set by
//! that step for its children: set by hand, it makes the binary one child);
//! `LVSKIT_CONN_BENCH_PAIRED_ROUNDS` (default 7) and
//! `LVSKIT_CONN_BENCH_PAIRED_OPS` (default 2 000 000) size the paired step.

use std::cell::RefCell;
use std::collections::HashMap;
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering::Relaxed};
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{BatchSize, BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main};
use lvskit::ipvs::conn::{
    ConnEntry, ConnState, ConnTable, ConnTableConfig, Direction, DropReason, Forward, HZ, Packet, Segment, TcpFlags,
    TcpState, Verdict, tcp,
};
use lvskit::ipvs::{DestConfig, Flow, ForwardMethod, Protocol, Service, ServiceConfig, ServiceKey};
use parking_lot::Mutex;

const VIP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
/// Pre-generated keys per run (a power of two).
const KEYS: usize = 1 << 16;
const BATCH: usize = 256;
/// The seed of the hit keys, shared by the criterion steps and the
/// children of [`processes`] so that both look up the same keys.
const HIT_SEED: u64 = 0x1234;
/// The first of the service's eight servers, 198.51.100.10 (the others
/// follow it).
const FIRST_SERVER: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 10);

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
        svc.add_dest(DestConfig::masq(IpAddr::V4(Ipv4Addr::from(u32::from(FIRST_SERVER) + k as u32)), 8080)).unwrap();
    }
    svc
}

/// Bytes of the field `key` (e.g. `VmRSS:`) of the `/proc` file at `path`,
/// which gives it in kB; 0 if absent.
fn proc_bytes(path: &str, key: &str) -> u64 {
    let s = std::fs::read_to_string(path).unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

fn rss_bytes() -> u64 {
    proc_bytes("/proc/self/status", "VmRSS:")
}

fn config(n: u64) -> ConnTableConfig {
    ConnTableConfig::default().max_entries(n as usize + 1024)
}

/// A table with `n` established connections (SYN then ACK each), sized up
/// front for them (`ConnTableConfig::capacity`), as a director that knows
/// its load sizes it: the same slots per shard as growth would reach at
/// these sizes, but all of them on huge pages (see `huge_pages`).
fn filled(n: u64, svc: &mut Service, t0: Instant) -> ConnTable {
    let table = ConnTable::new(config(n).capacity(n as usize), t0).unwrap();
    for i in 0..n {
        let f = flow(i);
        table.process(&mut *svc, &Packet::input(f, Segment::Tcp(TcpFlags::SYN)), t0).unwrap();
        table.process(&mut *svc, &Packet::input(f, Segment::Tcp(TcpFlags::ACK)), t0).unwrap();
    }
    table
}

// ---- the baseline: what a straightforward implementation keeps ----

type BKey = (u8, u32, u16, u32, u16);

/// The baseline's entry: server, state and timer, as lvskit keeps.
#[derive(Clone, Copy)]
struct BVal {
    daddr: u32,
    dport: u16,
    dest: u8,
    state: TcpState,
    timeout: u32,
    last_used: u32,
}

/// The baseline: a map under one mutex, and beside it what lvskit keeps
/// per server (whether it is available, its active and inactive counts;
/// atomics, as lvskit's). Its operations do the work lvskit's do, with the
/// same public pieces of lvskit (the TCP state table, the state timeouts,
/// the `Verdict` and `ConnEntry` it returns), and keep their lock only
/// while they read or write the map.
struct Baseline {
    map: Mutex<HashMap<BKey, BVal>>,
    available: [AtomicBool; 8],
    active: [AtomicU32; 8],
    inactive: [AtomicU32; 8],
}

fn bkey(f: &Flow) -> BKey {
    let IpAddr::V4(c) = f.src else { unreachable!() };
    let IpAddr::V4(v) = f.dst else { unreachable!() };
    (f.protocol.number(), u32::from(c), f.src_port, u32::from(v), f.dst_port)
}

/// The counts a state moves, as lvskit's (`TcpState::is_active`).
fn count(active: &AtomicU32, inactive: &AtomicU32, state: TcpState, by: i32) {
    let c = if state.is_active() { active } else { inactive };
    if by > 0 {
        c.fetch_add(1, Relaxed);
    } else {
        c.fetch_sub(1, Relaxed);
    }
}

impl Baseline {
    fn new() -> Self {
        Baseline {
            map: Mutex::new(HashMap::new()),
            available: std::array::from_fn(|_| AtomicBool::new(true)),
            active: Default::default(),
            inactive: Default::default(),
        }
    }

    /// The `k`-th new connection, `f`, in `state` since `now`, to the server
    /// lvskit's round-robin gives it in the bench's service: the servers are
    /// listed newest first (the kernel adds a server at the head of its
    /// service's list), so the first goes to the last added, 198.51.100.17.
    fn insert(&self, f: &Flow, k: u64, now: u32, state: TcpState) {
        let d = 7 - (k % 8) as u8;
        let v = BVal {
            daddr: u32::from(FIRST_SERVER) + d as u32,
            dport: 8080,
            dest: d,
            state,
            timeout: state.default_timeout_secs() * HZ,
            last_used: now,
        };
        self.map.lock().insert(bkey(f), v);
        count(&self.active[d as usize], &self.inactive[d as usize], state, 1);
    }

    /// `n` connections in `state` (lvskit's bench tables: established for
    /// the look-ups and packets, SYN_RECV for the expiry).
    fn filled(n: u64, state: TcpState) -> Self {
        let b = Baseline::new();
        b.map.lock().reserve(n as usize);
        for i in 0..n {
            b.insert(&flow(i), i, 0, state);
        }
        b
    }

    /// What [`ConnTable::lookup`] returns: the whole entry as listed.
    fn lookup(&self, f: &Flow, now: u32) -> Option<ConnEntry> {
        let v = *self.map.lock().get(&bkey(f))?;
        Some(entry(f, &v, now))
    }

    /// What [`ConnTable::lookup_dest`] returns: the server only.
    fn lookup_dest(&self, f: &Flow) -> Option<SocketAddr> {
        let v = *self.map.lock().get(&bkey(f))?;
        Some(server(&v))
    }

    /// What [`ConnTable::process`] does with a client's TCP packet of a
    /// known connection: check its server, move its state by the kernel's
    /// table, move the server's counts when the state's class changes,
    /// restart its timer with the new state's timeout, and return the
    /// forwarding verdict. (Like lvskit's, with the `conn_reuse_mode` and
    /// `expire_nodest_conn` cases left out: no packet here meets them.)
    fn process(&self, p: &Packet, now: u32) -> Option<Verdict> {
        let found = self.step(&mut self.map.lock(), p, now)?;
        Some(verdict(&p.flow, found))
    }

    /// The map's part of [`process`](Self::process), under the lock: the
    /// entry after the packet, or why it is dropped.
    #[inline]
    fn step(&self, m: &mut HashMap<BKey, BVal>, p: &Packet, now: u32) -> Option<Result<BVal, DropReason>> {
        let (Direction::Input, Segment::Tcp(flags)) = (p.direction, p.segment) else { return None };
        let v = m.get_mut(&bkey(&p.flow))?;
        let d = v.dest as usize;
        if !self.available[d].load(Relaxed) {
            return Some(Err(DropReason::DestUnavailable));
        }
        let new = tcp::next_state(false, 0, flags, v.state);
        if new.is_active() != v.state.is_active() {
            count(&self.active[d], &self.inactive[d], v.state, -1);
            count(&self.active[d], &self.inactive[d], new, 1);
        }
        v.state = new;
        v.timeout = new.default_timeout_secs() * HZ;
        v.last_used = now;
        Some(Ok(*v))
    }

    /// [`lookup`](Self::lookup) for a batch, as [`ConnTable::lookup_batch`]
    /// answers one: the lock taken once, the entries copied out under it,
    /// the answers built after it.
    fn lookup_batch(&self, flows: &[Flow], now: u32, out: &mut Vec<Option<ConnEntry>>) {
        FOUND.with_borrow_mut(|found| {
            found.clear();
            let m = self.map.lock();
            found.extend(flows.iter().map(|f| m.get(&bkey(f)).map(|v| Ok(*v))));
            drop(m);
            out.clear();
            out.extend(flows.iter().zip(found.iter()).map(|(f, v)| match v {
                Some(Ok(v)) => Some(entry(f, v, now)),
                _ => None,
            }));
        })
    }

    /// [`lookup_dest`](Self::lookup_dest) for a batch, as
    /// [`ConnTable::lookup_dest_batch`] answers one.
    fn lookup_dest_batch(&self, flows: &[Flow], out: &mut Vec<Option<SocketAddr>>) {
        out.clear();
        let m = self.map.lock();
        out.extend(flows.iter().map(|f| m.get(&bkey(f)).map(server)));
    }

    /// [`process`](Self::process) for a batch, as
    /// [`ConnTable::process_batch`] handles one: the lock taken once, the
    /// verdicts built after it.
    fn process_batch(&self, pkts: &[Packet], now: u32, out: &mut Vec<Option<Verdict>>) {
        FOUND.with_borrow_mut(|found| {
            found.clear();
            let mut m = self.map.lock();
            found.extend(pkts.iter().map(|p| self.step(&mut m, p, now)));
            drop(m);
            out.clear();
            out.extend(pkts.iter().zip(found.iter()).map(|(p, v)| v.clone().map(|v| verdict(&p.flow, v))));
        })
    }

    /// Expires every entry due by `now`: a scan of the whole map.
    fn expire(&self, now: u32) -> usize {
        let mut n = 0;
        self.map.lock().retain(|_, v| {
            if v.last_used.wrapping_add(v.timeout).wrapping_sub(now) as i32 > 0 {
                return true;
            }
            let d = v.dest as usize;
            count(&self.active[d], &self.inactive[d], v.state, -1);
            n += 1;
            false
        });
        n
    }
}

thread_local! {
    /// What a baseline batch found under its lock, so that it builds its
    /// answers after the lock (reused: no allocation once it holds a batch).
    static FOUND: RefCell<Vec<Option<Result<BVal, DropReason>>>> = const { RefCell::new(Vec::new()) };
}

/// The server of `v` as an address.
fn server(v: &BVal) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::from(v.daddr)), v.dport)
}

/// The listing of connection `f` whose entry is `v`, at tick `now`.
fn entry(f: &Flow, v: &BVal, now: u32) -> ConnEntry {
    let left = v.last_used.wrapping_add(v.timeout).wrapping_sub(now) as i32;
    ConnEntry {
        protocol: f.protocol.number(),
        client: SocketAddr::new(f.src, f.src_port),
        virtual_addr: SocketAddr::new(f.dst, f.dst_port),
        dest: server(v),
        state: ConnState::Tcp(v.state),
        template: false,
        expires_secs: left.max(0) as u32 / HZ,
        forward: Some(ForwardMethod::Masq),
        controlled: false,
        controls: 0,
    }
}

/// The verdict for a packet of flow `f` that found `v` (or was dropped).
fn verdict(f: &Flow, v: Result<BVal, DropReason>) -> Verdict {
    match v {
        Ok(v) => Verdict::Forward(Forward {
            client: SocketAddr::new(f.src, f.src_port),
            virtual_addr: SocketAddr::new(f.dst, f.dst_port),
            dest: server(&v),
            method: ForwardMethod::Masq,
            state: ConnState::Tcp(v.state),
            created: false,
            one_packet: false,
            persistent: false,
        }),
        Err(why) => Verdict::Drop(why),
    }
}

/// Checks, on a table and a baseline of their own (4 096 connections), that
/// the baseline answers as lvskit does: for each of 64 flows a FIN, a SYN
/// and an ACK (ESTABLISHED -> CLOSE_WAIT -> SYN_RECV -> ESTABLISHED, the
/// state_transition bench's cycle), the same `Verdict`, one at a time and
/// batched, then the same `ConnEntry` and server, one at a time and batched,
/// and at the end the same active and inactive counts on every server.
/// Panics otherwise, so that the baseline cannot drift into doing less.
fn same_answers(t0: Instant) {
    const N: u64 = 4096;
    let mut svc = service();
    let table = filled(N, &mut svc, t0);
    let base = Baseline::filled(N, TcpState::Established);
    let flows: Vec<Flow> = (0..64).map(|i| flow(i * 61 % N)).collect();
    for flags in [TcpFlags::FIN_ACK, TcpFlags::SYN, TcpFlags::ACK] {
        let pkts: Vec<Packet> = flows.iter().map(|&f| Packet::input(f, Segment::Tcp(flags))).collect();
        let (half, rest) = pkts.split_at(32);
        for p in half {
            assert_eq!(Some(table.process(&mut svc, p, t0).unwrap()), base.process(p, 0), "{flags:?}");
        }
        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        table.process_batch(&mut svc, rest, t0, &mut ours);
        base.process_batch(rest, 0, &mut theirs);
        let ours: Vec<Option<Verdict>> = ours.into_iter().map(|r| Some(r.unwrap())).collect();
        assert_eq!(ours, theirs, "{flags:?}");
    }
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    table.lookup_batch(&flows, t0, &mut ours);
    base.lookup_batch(&flows, 0, &mut theirs);
    assert_eq!(ours, theirs);
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    table.lookup_dest_batch(&flows, &mut ours);
    base.lookup_dest_batch(&flows, &mut theirs);
    assert_eq!(ours, theirs);
    for f in &flows {
        assert_eq!(table.lookup(f, t0), base.lookup(f, 0));
        assert_eq!(table.lookup_dest(f), base.lookup_dest(f));
    }
    for d in svc.dests() {
        let IpAddr::V4(a) = d.addr() else { unreachable!() };
        let k = (u32::from(a) - u32::from(FIRST_SERVER)) as usize;
        let theirs = (base.active[k].load(Relaxed), base.inactive[k].load(Relaxed));
        assert_eq!((d.active_conns(), d.inactive_conns()), theirs, "server {a}");
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

/// `work(first key, count)` calling `f(k)` for one key after another.
fn keys_work<R>(f: impl Fn(usize) -> R + Sync) -> impl Fn(usize, u64) + Sync {
    move |o, count| {
        for j in 0..count as usize {
            black_box(f((o + j) & (KEYS - 1)));
        }
    }
}

/// `work(first key, count)` calling `work(batch, out)` over successive
/// batches of up to `BATCH` items of `items`, with one output buffer per
/// call (kept observable after each batch).
fn batches_work<'a, T: Sync, O>(
    items: &'a [T],
    work: impl Fn(&[T], &mut Vec<O>) + Sync + 'a,
) -> impl Fn(usize, u64) + Sync + 'a {
    move |o, count| {
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
    }
}

/// Benches `f(k)` for one key after another from each thread's first: see
/// [`threaded`].
fn threaded_keys<R>(g: &mut BenchmarkGroup<'_, WallTime>, name: &str, f: impl Fn(usize) -> R + Sync) {
    threaded(g, name, keys_work(f));
}

/// Benches `work(batch, out)` over successive batches from each thread's
/// first key: see [`batches_work`] and [`threaded`].
fn threaded_batches<T: Sync, O>(
    g: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    items: &[T],
    work: impl Fn(&[T], &mut Vec<O>) + Sync,
) {
    threaded(g, name, batches_work(items, work));
}

// ---- the machine's own bounds, for reading the figures above ----

/// A buffer of `bytes` (whole 64-byte lines, in huge pages when the bench
/// is built with `huge-pages`, as the table's segments are) and `KEYS`
/// random lines of it, the bench's key table in miniature: the first word
/// of each picked line names the next pick, so that following them is one
/// chain through all of them.
struct Lines {
    buf: Vec<u64>,
    picks: Vec<usize>,
}

impl Lines {
    fn new(bytes: usize) -> Self {
        let lines = (bytes / 64).max(2);
        #[cfg(all(feature = "huge-pages", target_os = "linux"))]
        let mut buf = {
            const HUGE: usize = 2 << 20;
            let mut v: Vec<u64> = Vec::with_capacity(lines * 8);
            let start = (v.as_ptr() as usize).next_multiple_of(HUGE);
            let end = (v.as_ptr() as usize + lines * 64) / HUGE * HUGE;
            if end > start {
                // SAFETY: the range lies inside the vector's own allocation;
                // madvise only gives the kernel a hint about it.
                unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE) };
            }
            v.resize(lines * 8, 0);
            v
        };
        #[cfg(not(all(feature = "huge-pages", target_os = "linux")))]
        let mut buf = vec![0u64; lines * 8];
        // Distinct lines: a line picked twice would hold only one of its
        // two successors and cut the chain short.
        let mut rng = Rng(0x5eed);
        let mut seen = std::collections::HashSet::new();
        let mut picks = Vec::with_capacity(KEYS);
        while picks.len() < KEYS.min(lines) {
            let p = rng.below(lines as u64) as usize;
            if seen.insert(p) {
                picks.push(p);
            }
        }
        while picks.len() < KEYS {
            picks.push(picks[picks.len() % lines]);
        }
        for (i, &p) in picks.iter().enumerate().take(lines) {
            buf[p * 8] = picks[(i + 1) % KEYS.min(lines)] as u64;
        }
        Lines { buf, picks }
    }

    /// Nanoseconds per read of a chain of `count` dependent reads.
    fn chase_ns(&self, count: u64) -> f64 {
        let start = Instant::now();
        let mut at = self.picks[0];
        for _ in 0..count {
            at = self.buf[at * 8] as usize;
        }
        black_box(at);
        start.elapsed().as_nanos() as f64 / count as f64
    }

    /// `count` reads of the picked lines one after another from pick `o`,
    /// independent of one another, each followed by `work` instructions
    /// that do not depend on it (see [`filler`]): how many reads the core
    /// keeps in flight when each comes with that much other work.
    #[inline(never)]
    fn reads(&self, o: usize, count: u64, work: u32) -> u64 {
        let mut sum = 0u64;
        for j in 0..count as usize {
            let v = self.buf[self.picks[(o + j) & (KEYS - 1)] * 8];
            sum = sum.wrapping_add(v ^ filler(work));
        }
        sum
    }

    /// Millions of [`reads`](Self::reads) per second on `threads` threads
    /// at once, each from its own first pick (see [`first`]).
    fn reads_mops(&self, threads: u64, count: u64, work: u32) -> f64 {
        let took = on_threads(threads, count, |t, n| {
            black_box(self.reads(first(t), n, work));
        });
        count as f64 / took.as_secs_f64() / 1e6
    }
}

/// `work` (a multiple of 25, at most 200) register-only instructions in
/// four independent chains.
#[inline(always)]
fn filler(work: u32) -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        macro_rules! adds {
            ($a:ident $b:ident $c:ident $d:ident) => {
                // SAFETY: register arithmetic only.
                unsafe {
                    std::arch::asm!(
                        "add {a}, 1", "add {b}, 1", "add {c}, 1", "add {d}, 1", "add {a}, 1",
                        "add {b}, 1", "add {c}, 1", "add {d}, 1", "add {a}, 1", "add {b}, 1",
                        "add {c}, 1", "add {d}, 1", "add {a}, 1", "add {b}, 1", "add {c}, 1",
                        "add {d}, 1", "add {a}, 1", "add {b}, 1", "add {c}, 1", "add {d}, 1",
                        "add {a}, 1", "add {b}, 1", "add {c}, 1", "add {d}, 1", "add {a}, 1",
                        a = inout(reg) $a, b = inout(reg) $b, c = inout(reg) $c, d = inout(reg) $d,
                        options(nomem, nostack),
                    )
                }
            };
        }
        debug_assert!(work % 25 == 0 && work <= 200, "{work}");
        let (mut a, mut b, mut c, mut d) = (0u64, 0u64, 0u64, 0u64);
        for _ in 0..work / 25 {
            adds!(a b c d);
        }
        a ^ b ^ c ^ d
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = work;
        0
    }
}

/// Prints what the machine itself does with a buffer the size of the
/// table's heap, read at `KEYS` random lines as the look-up benches read
/// the table at `KEYS` random keys (4 MiB of lines: on most machines they
/// fit in the last-level cache, so these are cache figures, not DRAM's).
/// It gives the latency of one read (a dependent chain, what a lone
/// look-up waits for), independent reads on one and two threads, and
/// independent reads that each come with 50 to 200 other instructions. A
/// one-call look-up overlaps its miss only with the next calls' that fit
/// in the core's reorder window, so the last figures bound what a one-call
/// look-up of that many instructions can reach, and the two-thread figures
/// are the machine's own scaling of such work in those minutes. Each
/// figure is the median of three alternated rounds.
fn machine(label: &str, bytes: usize) {
    let lines = Lines::new(bytes);
    let count = 2_000_000u64;
    // The filler is x86_64 asm; elsewhere only plain reads are measured.
    let works: &[u32] = if cfg!(target_arch = "x86_64") { &[0, 50, 100, 200] } else { &[0] };
    let mut chase = Vec::new();
    let mut one = vec![Vec::new(); works.len()];
    let mut two = vec![Vec::new(); works.len()];
    let mut scale = vec![Vec::new(); works.len()];
    for _ in 0..3 {
        chase.push(lines.chase_ns(count / 4));
        for (i, &w) in works.iter().enumerate() {
            let (a, b) = (lines.reads_mops(1, count, w), lines.reads_mops(2, count, w));
            one[i].push(a);
            two[i].push(b);
            scale[i].push(b / a);
        }
    }
    eprintln!(
        "conn/{label} machine: a buffer of {:.0} MB (the table's heap{}); one read {:.0} ns (dependent chain)",
        bytes as f64 / 1e6,
        if cfg!(all(feature = "huge-pages", target_os = "linux")) { ", huge pages" } else { "" },
        median(&mut chase),
    );
    for (i, &w) in works.iter().enumerate() {
        eprintln!(
            "  independent reads, {w:>3} other instructions each: {:>6.1} M/s on 1 thread, {:>6.1} M/s on 2, \
             2 threads {:.2}x",
            median(&mut one[i]),
            median(&mut two[i]),
            median(&mut scale[i]),
        );
    }
}

// ---- the paired comparison: the ratios the goals are judged by ----

/// One operation of the paired comparison: lvskit's work and the
/// baseline's for the same job, each as `work(first key, count)`.
struct Pair<'a> {
    name: &'static str,
    ours: &'a (dyn Fn(usize, u64) + Sync),
    base: &'a (dyn Fn(usize, u64) + Sync),
}

/// Operations per timed run of [`paired`].
fn paired_ops() -> u64 {
    env_or("LVSKIT_CONN_BENCH_PAIRED_OPS", 2_000_000)
}

/// Rounds of [`paired`].
fn paired_rounds() -> usize {
    env_or("LVSKIT_CONN_BENCH_PAIRED_ROUNDS", 7).max(1)
}

/// The value of environment variable `name`, or `default` when it is unset
/// or does not parse.
fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|s| s.parse().ok()).unwrap_or(default)
}

/// The median of `v` (the mean of the middle two for an even count).
fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 }
}

/// The median, the least and the greatest of `v` (which it sorts).
fn median_range(v: &mut [f64]) -> (f64, f64, f64) {
    let m = median(v);
    (m, v[0], v[v.len() - 1])
}

/// `median [min-max]` of the ratios `v`.
fn spread(v: &mut [f64]) -> String {
    let (m, lo, hi) = median_range(v);
    format!("{m:.2}x [{lo:.2}-{hi:.2}]")
}

/// Measures the two ratios the goals name, two threads against one and
/// lvskit against the baseline at two threads, so that they survive a host
/// whose memory speed drifts within minutes (criterion's groups run minutes
/// apart, so ratios of their figures mix the code with the drift). Each
/// round times, one after another and in an order that rotates from round
/// to round, `paired_ops()` operations of each operation on one thread and
/// on two, for lvskit and for the baseline; a ratio is taken within each
/// round, and the report gives its median and range over the rounds, with
/// the median throughputs.
fn paired(label: &str, pairs: &[Pair<'_>]) {
    let ops = paired_ops();
    let rounds = paired_rounds();
    // (pair, ours?, threads) for each timed run.
    let runs: Vec<(usize, bool, u64)> =
        (0..pairs.len()).flat_map(|p| [(p, true, 1), (p, true, 2), (p, false, 1), (p, false, 2)]).collect();
    let mut mops = vec![Vec::with_capacity(rounds); runs.len()];
    for r in 0..rounds {
        for i in 0..runs.len() {
            let at = (i + r) % runs.len();
            let (p, ours, threads) = runs[at];
            let work = if ours { pairs[p].ours } else { pairs[p].base };
            let took = on_threads(threads, ops, |t, count| work(first(t), count));
            mops[at].push(ops as f64 / took.as_secs_f64() / 1e6);
        }
    }
    eprintln!(
        "conn/{label} paired: {rounds} rounds of {ops} operations per run, the runs alternated; \
         M/s are medians, ratios per round as median [min-max]"
    );
    for (p, pair) in pairs.iter().enumerate() {
        let at = |ours: bool, threads: u64| runs.iter().position(|&x| x == (p, ours, threads)).unwrap();
        let (o1, o2, b1, b2) = (at(true, 1), at(true, 2), at(false, 1), at(false, 2));
        let ratio = |a: usize, b: usize| -> Vec<f64> { (0..rounds).map(|r| mops[a][r] / mops[b][r]).collect() };
        let med = |i: usize| median(&mut mops[i].clone());
        eprintln!(
            "  {:<26} lvskit {:>6.1} / {:>6.1} M/s (1 / 2 threads), 2 threads {}; baseline {:>5.1} / {:>5.1} M/s; \
             lvskit / baseline at 2 threads {}",
            pair.name,
            med(o1),
            med(o2),
            spread(&mut ratio(o2, o1)),
            med(b1),
            med(b2),
            spread(&mut ratio(o2, b2)),
        );
    }
}

/// Processes [`processes`] starts per size.
fn process_count() -> usize {
    env_or("LVSKIT_CONN_BENCH_PROCESSES", 9).max(1)
}

/// The environment variable that makes the bench binary a child of
/// [`processes`]; its value is the table size.
const CHILD_ENV: &str = "LVSKIT_CONN_BENCH_CHILD";

/// The one-call look-ups [`processes`] times, in the order a child prints
/// them.
const CHILD_OPS: [&str; 3] = ["lookup_hit", "lookup_hit_tick", "lookup_dest_hit"];

/// Millions of calls per second of `work` (see [`keys_work`]) over
/// `3 * KEYS` calls: three passes over the `KEYS` keys.
fn rate(work: &dyn Fn(usize, u64)) -> f64 {
    let calls = 3 * KEYS as u64;
    let start = Instant::now();
    work(0, calls);
    calls as f64 / start.elapsed().as_secs_f64() / 1e6
}

/// A child of [`processes`]: fills a table of `n` connections, then times
/// each of [`CHILD_OPS`] over the same random keys as the criterion steps,
/// 7 rounds of `3 * KEYS` calls each, the operations taking turns within a
/// round in an order that rotates per round (a first round warms up and is
/// dropped). Prints one line: the median M/s of each operation, the bytes
/// of the process on transparent huge pages, and the seconds the fill took
/// (which include the first touch of every page of the table).
fn child(n: u64) {
    let t0 = Instant::now();
    let mut svc = service();
    let table = filled(n, &mut svc, t0);
    let fill_s = t0.elapsed().as_secs_f64();
    let tick = table.tick(t0);
    let hits = flows(&indexes(HIT_SEED, 0, n));
    let lookup = keys_work(|k| table.lookup(&hits[k], t0));
    let lookup_tick = keys_work(|k| table.lookup(&hits[k], tick));
    let lookup_dest = keys_work(|k| table.lookup_dest(&hits[k]));
    // In `CHILD_OPS`'s order (one dynamic call per timed run, not per call).
    let works: [&dyn Fn(usize, u64); CHILD_OPS.len()] = [&lookup, &lookup_tick, &lookup_dest];
    let mut mops = vec![Vec::new(); works.len()];
    for round in 0..8 {
        // The operations take turns in an order that rotates per round.
        for i in 0..works.len() {
            let op = (i + round) % works.len();
            let m = rate(works[op]);
            if round > 0 {
                mops[op].push(m);
            }
        }
    }
    let thp_bytes = proc_bytes("/proc/self/smaps_rollup", "AnonHugePages:");
    let figures: Vec<String> = mops.iter_mut().map(|v| format!("{:.2}", median(v))).collect();
    println!("@@ {} {thp_bytes} {fill_s:.2}", figures.join(" "));
}

/// Starts [`process_count`] fresh processes of this bench binary one after
/// another, each a [`child`] with its own table of `n` connections, and
/// prints, per one-call look-up, the median over the processes, their range,
/// each process's figure and how many reached 20 M/s (the goal for a
/// look-up hit per core).
fn processes(label: &str, n: u64) {
    let exe = std::env::current_exe().expect("the bench binary's path");
    let count = process_count();
    let mut per_op = vec![Vec::with_capacity(count); CHILD_OPS.len()];
    let mut thp = Vec::with_capacity(count);
    let mut fill = Vec::with_capacity(count);
    for _ in 0..count {
        // Not reporting to cargo-criterion: the child is no criterion run.
        let out = std::process::Command::new(&exe)
            .env(CHILD_ENV, n.to_string())
            .env_remove("CARGO_CRITERION_PORT")
            .output()
            .expect("start a child");
        assert!(out.status.success(), "child failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8_lossy(&out.stdout);
        let line = text.lines().find_map(|l| l.strip_prefix("@@ ")).expect("the child's figures");
        let fields: Vec<f64> = line.split(' ').map(|x| x.parse().expect("a figure")).collect();
        for (op, v) in per_op.iter_mut().enumerate() {
            v.push(fields[op]);
        }
        thp.push(fields[CHILD_OPS.len()] / 1e6);
        fill.push(fields[CHILD_OPS.len() + 1]);
    }
    eprintln!(
        "conn/{label} processes: {count} fresh processes, one after another, each with its own table; \
         M/s per process (median of 7 rounds); huge pages per process {} MB; fill per process {} s",
        thp.iter().map(|m| format!("{m:.0}")).collect::<Vec<_>>().join(" "),
        fill.iter().map(|s| format!("{s:.2}")).collect::<Vec<_>>().join(" "),
    );
    for (op, v) in per_op.iter().enumerate() {
        let each = v.iter().map(|m| format!("{m:.1}")).collect::<Vec<_>>().join(" ");
        let reached = v.iter().filter(|&&m| m >= 20.0).count();
        let (med, lo, hi) = median_range(&mut v.clone());
        eprintln!(
            "  {:<16} median {med:>5.1} M/s [{lo:.1}-{hi:.1}], {reached} of {count} at 20 M/s or more: {each}",
            CHILD_OPS[op],
        );
    }
}

fn bench(c: &mut Criterion) {
    if let Some(n) = std::env::var(CHILD_ENV).ok().and_then(|v| v.parse().ok()) {
        child(n);
        std::process::exit(0);
    }
    same_answers(Instant::now());
    for n in sizes() {
        let label = if n >= 1_000_000 { format!("{}M", n / 1_000_000) } else { n.to_string() };
        let t0 = Instant::now();
        let hit_idx = indexes(HIT_SEED, 0, n);
        let miss_idx = indexes(0x9876, n, n);
        let hits = flows(&hit_idx);
        let miss_flows = flows(&miss_idx);
        let acks = packets(&hit_idx, TcpFlags::ACK);

        if only("processes") {
            processes(&label, n);
        }

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
        // `now` converted once, for the `_tick` variants.
        let tick = table.tick(t0);
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
            cycling(&mut g, "lookup_hit_tick", 1, |k| table.lookup(&hits[k], tick));
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
            cycling(&mut g, "process_hit_tick", 1, |k| table.process(&mut svc, &acks[k], tick).unwrap());
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
            threaded_keys(&mut g, "lookup_hit_tick", |k| table.lookup(&hits[k], tick));
            threaded_keys(&mut g, "lookup_dest_hit", |k| table.lookup_dest(&hits[k]));
            threaded_batches(&mut g, "lookup_hit_batch256", &hits, |flows, out| {
                table.lookup_batch(flows, t0, out);
            });
            threaded_batches(&mut g, "lookup_dest_hit_batch256", &hits, |flows, out| {
                table.lookup_dest_batch(flows, out);
            });
            let shared = Mutex::new(service());
            threaded_keys(&mut g, "process_hit", |k| table.process(&shared, &acks[k], t0).unwrap());
            threaded_keys(&mut g, "process_hit_tick", |k| table.process(&shared, &acks[k], tick).unwrap());
            threaded_batches(&mut g, "process_hit_batch256", &acks, |pkts, out| {
                table.process_batch(&shared, pkts, t0, out);
            });
        }
        g.finish();

        if only("machine") {
            machine(&label, table.heap_bytes());
        }
        if only("paired") {
            // Built while the table lives, so that both are measured in the
            // same minutes.
            let base = Baseline::filled(n, TcpState::Established);
            let shared = Mutex::new(service());
            let lookup = keys_work(|k| table.lookup(&hits[k], t0));
            let lookup_tick = keys_work(|k| table.lookup(&hits[k], tick));
            let lookup_dest = keys_work(|k| table.lookup_dest(&hits[k]));
            let lookup_batch = batches_work(&hits, |flows, out| table.lookup_batch(flows, t0, out));
            let dest_batch = batches_work(&hits, |flows, out| table.lookup_dest_batch(flows, out));
            let process = keys_work(|k| table.process(&shared, &acks[k], t0).unwrap());
            let process_tick = keys_work(|k| table.process(&shared, &acks[k], tick).unwrap());
            let process_batch = batches_work(&acks, |pkts, out| table.process_batch(&shared, pkts, t0, out));
            let base_lookup = keys_work(|k| base.lookup(&hits[k], 0));
            let base_dest = keys_work(|k| base.lookup_dest(&hits[k]));
            let base_process = keys_work(|k| base.process(&acks[k], 0));
            let base_lookup_batch = batches_work(&hits, |flows, out| base.lookup_batch(flows, 0, out));
            let base_dest_batch = batches_work(&hits, |flows, out| base.lookup_dest_batch(flows, out));
            let base_process_batch = batches_work(&acks, |pkts, out| base.process_batch(pkts, 0, out));
            paired(
                &label,
                &[
                    Pair { name: "lookup_hit", ours: &lookup, base: &base_lookup },
                    Pair { name: "lookup_hit_tick", ours: &lookup_tick, base: &base_lookup },
                    Pair { name: "lookup_dest_hit", ours: &lookup_dest, base: &base_dest },
                    Pair { name: "lookup_hit_batch256", ours: &lookup_batch, base: &base_lookup_batch },
                    Pair { name: "lookup_dest_hit_batch256", ours: &dest_batch, base: &base_dest_batch },
                    Pair { name: "process_hit", ours: &process, base: &base_process },
                    Pair { name: "process_hit_tick", ours: &process_tick, base: &base_process },
                    Pair { name: "process_hit_batch256", ours: &process_batch, base: &base_process_batch },
                ],
            );
        }
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
                            base.insert(&flow(i), i, 0, TcpState::SynRecv);
                        }
                        total += start.elapsed();
                        drop(base);
                    }
                    total
                })
            });
            g.finish();
            let base = Baseline::filled(n, TcpState::Established);
            let mut g = c.benchmark_group(format!("baseline_mutex_hashmap/{label}"));
            g.throughput(Throughput::Elements(1));
            cycling(&mut g, "lookup_hit", 1, |k| base.lookup(&hits[k], 0));
            cycling(&mut g, "lookup_dest_hit", 1, |k| base.lookup_dest(&hits[k]));
            cycling(&mut g, "lookup_miss", 1, |k| base.lookup(&miss_flows[k], 0).is_none());
            cycling(&mut g, "process_hit", 1, |k| base.process(&acks[k], 0));
            g.throughput(Throughput::Elements(BATCH as u64));
            let mut out = Vec::with_capacity(BATCH);
            cycling(&mut g, "lookup_hit_batch256", BATCH, |k| {
                base.lookup_batch(&hits[k..k + BATCH], 0, &mut out);
                out.last().map(|e| e.as_ref().map(|e| e.dest))
            });
            let mut dests = Vec::with_capacity(BATCH);
            cycling(&mut g, "lookup_dest_hit_batch256", BATCH, |k| {
                base.lookup_dest_batch(&hits[k..k + BATCH], &mut dests);
                dests.last().copied().flatten()
            });
            let mut verdicts = Vec::with_capacity(BATCH);
            cycling(&mut g, "process_hit_batch256", BATCH, |k| {
                base.process_batch(&acks[k..k + BATCH], 0, &mut verdicts);
                verdicts.len()
            });
            g.throughput(Throughput::Elements(1));
            // The same packets as lvskit's `state_transition`, in the same order.
            let mut k = 0u64;
            g.bench_function("state_transition", |b| {
                b.iter(|| {
                    let i = (k % n).wrapping_mul(0x9E37_79B9_7F4A_7C15 | 1) % n;
                    let flags = [TcpFlags::FIN_ACK, TcpFlags::SYN, TcpFlags::ACK][((k / n) % 3) as usize];
                    k += 1;
                    black_box(base.process(&Packet::input(flow(i), Segment::Tcp(flags)), 0).unwrap())
                })
            });
            threaded_keys(&mut g, "lookup_hit", |k| base.lookup(&hits[k], 0));
            threaded_keys(&mut g, "lookup_dest_hit", |k| base.lookup_dest(&hits[k]));
            threaded_keys(&mut g, "process_hit", |k| base.process(&acks[k], 0));
            g.finish();
            drop(base);
            if only("expire") {
                let mut g = c.benchmark_group(format!("baseline_mutex_hashmap/{label}"));
                g.sample_size(10).throughput(Throughput::Elements(n));
                g.bench_function("expire_full_table", |b| {
                    b.iter_batched(
                        || Baseline::filled(n, TcpState::SynRecv),
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
