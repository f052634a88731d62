//! [`ConnTable`]: the shards of both families, the global entry count and
//! limit, the sysctls and timeouts, and everything that is not the per-packet
//! path (that is [`super::process`]): look-ups without locking, expiry,
//! flushing, listing.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::Instant;

use super::config::{AtomicSysctls, ConnTableConfig, Sysctls};
use super::error::ConnError;
use super::hash::KeyedHash;
use super::listing::ConnEntry;
use super::state::{ConnState, TimeoutTables};
use super::store::{Addr, Entry, Hit, Key, NO_TEMPLATE, Shard, Writer, flag};
use super::sys::HugeArena;
use super::template::{Template, TemplateStore};
use super::time::{Clock, HZ, Now, Tick, secs_left, widen};
use crate::ipvs::dest::{Dest, ForwardMethod, TunnelParams};
use crate::ipvs::flow::{Flow, Protocol};
use crate::ipvs::snapshot::Timeouts;

/// How long a template that still controls connections lives on when its
/// timer fires (`expire_later` in `ip_vs_conn_expire`: `cp->timeout =
/// 60*HZ`). The template keeps this timeout afterwards.
pub(crate) const EXPIRE_LATER: u32 = 60 * HZ;

/// Bit 31 marks a connection's timer handle (its slot tag); template handles
/// have it clear.
const CONN_ITEM: u32 = 0x8000_0000;

/// The slot tag (and timer handle) of the connections whose client endpoint
/// hashes to `hash`: its low bits with [`CONN_ITEM`] set, never 0 (free).
#[inline]
pub(crate) fn conn_tag(hash: u64) -> u32 {
    (hash as u32) | CONN_ITEM
}

/// An iterator over a table's entries, one shard at a time: see
/// [`ConnTable::iter`].
#[derive(Debug)]
pub struct Entries<'a> {
    table: &'a ConnTable,
    tick: u64,
    /// The next shard to read: IPv4 shards first, then IPv6.
    next_shard: usize,
    buf: std::collections::VecDeque<ConnEntry>,
}

impl Iterator for Entries<'_> {
    type Item = ConnEntry;

    fn next(&mut self) -> Option<ConnEntry> {
        loop {
            if let Some(e) = self.buf.pop_front() {
                return Some(e);
            }
            let (n4, n6) = (self.table.v4.len(), self.table.v6.len());
            if self.next_shard >= n4 + n6 {
                return None;
            }
            let (t, si) = (self.tick, self.next_shard);
            let buf = &mut self.buf;
            if si < n4 {
                self.table.visit_shard::<u32>(si, t, &mut |e| buf.push_back(e));
            } else {
                self.table.visit_shard::<u128>(si - n4, t, &mut |e| buf.push_back(e));
            }
            self.next_shard += 1;
        }
    }
}

/// The tunnel forwarding code (`IP_VS_CONN_F_TUNNEL`).
const FWD_TUNNEL: u16 = 2;

/// The batch calls work in groups of this many flows: first every flow's
/// slot is requested (a short loop, so that all the cache misses are in
/// flight at once), then every flow is handled. Enough misses to cover
/// memory latency, few enough that the lines are still in L1 when used.
pub(crate) const PREFETCH_GROUP: usize = 16;

/// The batch calls' loop: `out` cleared, then `items` in groups of
/// [`PREFETCH_GROUP`], `prefetch` called on every item of a group before
/// `each` handles any, one result per item pushed in order. What `prefetch`
/// returns for an item (its hash) is handed to `each` with it, so that the
/// item is not hashed twice. Allocates nothing once `out` has room for
/// `items.len()`.
#[inline]
pub(crate) fn prefetched<T, R>(
    items: &[T],
    out: &mut Vec<R>,
    prefetch: impl Fn(&T) -> u64,
    mut each: impl FnMut(&T, u64) -> R,
) {
    out.clear();
    out.reserve(items.len());
    let mut hashes = [0u64; PREFETCH_GROUP];
    for group in items.chunks(PREFETCH_GROUP) {
        for (item, h) in group.iter().zip(hashes.iter_mut()) {
            *h = prefetch(item);
        }
        for (item, &h) in group.iter().zip(hashes.iter()) {
            out.push(each(item, h));
        }
    }
}

/// What [`ConnTable::expire`] removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Expired {
    /// Connections removed.
    pub conns: usize,
    /// Persistence templates removed.
    pub templates: usize,
}

/// The IPVS connection table: every connection and persistence template the
/// director knows, sharded for several data-plane threads.
///
/// It keeps the kernel's `ip_vs_conn` semantics: connections keyed by
/// (protocol, client address and port, virtual address and port), protocol
/// state machines choosing timeouts, persistence templates with their own
/// timers, and the real servers' active, inactive and persistent counts
/// (which the schedulers read) exact through every transition and expiry.
///
/// * Sans-IO: no thread, no clock. Every call takes `now`; the owner calls
///   [`expire`](Self::expire) when [`poll_timeout`](Self::poll_timeout)
///   says. Entries expire only there: a packet that arrives for an entry
///   past its time but not yet expired refreshes it, as a packet does in the
///   kernel when its timer fires late.
/// * Concurrency: `&self` everywhere; shards are locked with
///   `parking_lot` mutexes, [`lookup`](Self::lookup) takes no lock.
/// * Cost: a packet is O(1) (one hash, one shard lock, a short probe);
///   expiry is amortised O(1) per entry (a lazy timer wheel per shard).
/// * Memory: 40 bytes per IPv4 slot (76 for IPv6) at 50–75% occupancy,
///   plus 4 bytes per timer handle (one per entry, at most 2 × entries +
///   64 per shard), about 110 bytes per template, and about 1 KiB per empty
///   shard; `benches/conn.rs` prints the measured [`heap_bytes`] per
///   connection (about 74 at 1 M IPv4 connections and at 10 M; see the
///   README). Large slot segments are on transparent huge pages (see
///   [`ConnTableConfig::huge_pages`]).
///
/// [`heap_bytes`]: Self::heap_bytes
#[derive(Debug)]
pub struct ConnTable {
    pub(crate) clock: Clock,
    pub(crate) hash: KeyedHash,
    pub(crate) sysctls: AtomicSysctls,
    pub(crate) timeouts: TimeoutTables,
    pub(crate) max_entries: usize,
    pub(crate) count: AtomicUsize,
    pub(crate) templates: AtomicUsize,
    pub(crate) shard_bits: u32,
    pub(crate) idx_bits: u32,
    pub(crate) v4: Box<[Shard<u32>]>,
    pub(crate) v6: Box<[Shard<u128>]>,
    /// The memory of the shards' large segments (see
    /// [`ConnTableConfig::huge_pages`]).
    arena: Option<Arc<HugeArena>>,
}

/// The shards of one family.
pub(crate) trait Family: Addr {
    fn shards(t: &ConnTable) -> &[Shard<Self>];
}

impl Family for u32 {
    #[inline]
    fn shards(t: &ConnTable) -> &[Shard<u32>] {
        &t.v4
    }
}

impl Family for u128 {
    #[inline]
    fn shards(t: &ConnTable) -> &[Shard<u128>] {
        &t.v6
    }
}

impl ConnTable {
    /// An empty table whose clock starts at `now`.
    pub fn new(config: ConnTableConfig, now: Instant) -> Result<Self, ConnError> {
        config.validate()?;
        let shard_bits = config.shards.trailing_zeros();
        let per_shard = config.capacity.div_ceil(config.shards);
        let arena = (cfg!(all(feature = "huge-pages", target_os = "linux")) && config.huge_pages)
            .then(|| Arc::new(HugeArena::default()));
        Ok(ConnTable {
            clock: Clock::new(now),
            hash: KeyedHash::new(config.resolve_seed()?),
            sysctls: AtomicSysctls::new(config.sysctls),
            timeouts: TimeoutTables::new(),
            max_entries: config.max_entries,
            count: AtomicUsize::new(0),
            templates: AtomicUsize::new(0),
            shard_bits,
            idx_bits: 23.min(32 - shard_bits),
            v4: (0..config.shards).map(|_| Shard::new(per_shard, 0, arena.clone())).collect(),
            v6: (0..config.shards).map(|_| Shard::new(0, 0, arena.clone())).collect(),
            arena,
        })
    }

    /// Entries held: connections plus templates (the kernel's `conn_count`).
    pub fn len(&self) -> usize {
        self.count.load(Relaxed)
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Persistence templates held.
    pub fn template_count(&self) -> usize {
        self.templates.load(Relaxed)
    }

    /// The entry limit.
    pub fn max_entries(&self) -> usize {
        self.max_entries
    }

    /// The current sysctls.
    pub fn sysctls(&self) -> Sysctls {
        self.sysctls.load()
    }

    /// Changes the sysctls (takes effect for the next packet).
    pub fn set_sysctls(&self, s: Sysctls) -> Result<(), ConnError> {
        s.validate()?;
        self.sysctls.store(s);
        Ok(())
    }

    /// The three timeouts `ipvsadm -L --timeout` shows.
    pub fn timeouts(&self) -> Timeouts {
        self.timeouts.get()
    }

    /// `ipvsadm --set tcp tcpfin udp`: 0 leaves a value unchanged; each
    /// connection picks a new value up with its next packet (whether or not
    /// that packet changes its state), as in the kernel, whose state
    /// handlers assign `cp->timeout` on every packet (`set_tcp_state`,
    /// `udp_state_transition`). Until then it keeps its running timer.
    pub fn set_timeouts(&self, t: &Timeouts) -> Result<(), ConnError> {
        self.timeouts.set(t)
    }

    /// The timeout, in seconds, a connection of `protocol` gets on entering
    /// `state` (`ConnState::Template` has none: it takes the service's).
    pub fn state_timeout(&self, protocol: Protocol, state: ConnState) -> Option<u32> {
        let raw = match state {
            ConnState::Tcp(s) if protocol == Protocol::Tcp => s.index(),
            ConnState::Udp if protocol == Protocol::Udp => 0,
            ConnState::Sctp(s) if protocol == Protocol::Sctp => s.index(),
            _ => return None,
        };
        Some(self.timeouts.ticks(protocol, raw) / HZ)
    }

    #[inline]
    pub(crate) fn shard_of(&self, hash: u64) -> usize {
        ((hash >> 1) >> (63 - self.shard_bits)) as usize
    }

    /// Encodes a template reference.
    #[inline]
    pub(crate) fn tref(&self, shard: usize, idx: u32) -> u32 {
        (((shard as u32) << self.idx_bits) | idx) + 1
    }

    /// Decodes a template reference.
    #[inline]
    pub(crate) fn untref(&self, tref: u32) -> (usize, u32) {
        let r = tref - 1;
        ((r >> self.idx_bits) as usize, r & ((1 << self.idx_bits) - 1))
    }

    /// The most templates a shard may hold.
    #[inline]
    pub(crate) fn template_limit(&self) -> u32 {
        (1u32 << self.idx_bits) - 2
    }

    /// Reserves room for one more entry, or `false` at the limit.
    #[inline]
    pub(crate) fn reserve(&self) -> bool {
        if self.count.fetch_add(1, Relaxed) >= self.max_entries {
            self.count.fetch_sub(1, Relaxed);
            return false;
        }
        true
    }

    /// Looks a connection up by the client's flow (input direction) without
    /// taking a lock and without touching it: no state change, no timer
    /// restart. `now` (an [`Instant`] or a [`Tick`]) only computes the time
    /// left.
    ///
    /// One look-up costs about one cache miss (the slot is inline in the
    /// table); to look many up, [`lookup_batch`](Self::lookup_batch) overlaps
    /// those misses. A [`Tick`] saves converting an `Instant` on each call.
    #[inline]
    pub fn lookup(&self, flow: &Flow, now: impl Now) -> Option<ConnEntry> {
        self.lookup_ticks(flow, self.clock.ticks(now))
    }

    /// [`lookup`](Self::lookup) at tick `t`. Neither generic nor
    /// `#[inline]`: compiled once, here, whatever the caller's `now` (it
    /// measured fewer instructions than letting callers inline it).
    fn lookup_ticks(&self, flow: &Flow, t: u64) -> Option<ConnEntry> {
        self.lookup_at(flow, None, t)
    }

    /// `now` converted once to this table's clock, for the per-packet calls
    /// ([`process`](Self::process), [`lookup`](Self::lookup) and the
    /// others that take a [`Now`]) of a burst of packets: the `Instant`
    /// subtraction each of them would pay is paid here once. A [`Tick`]
    /// given to a table with another epoch is converted again there, so it
    /// always stands for `now`.
    #[inline]
    pub fn tick(&self, now: Instant) -> Tick {
        self.clock.stamp(now)
    }

    /// The real server of the connection of `flow` (input direction), and
    /// nothing more: what a data plane needs to forward a packet of a known
    /// connection. Like [`lookup`](Self::lookup) it takes no lock and changes
    /// nothing, but it reads three words of the slot (server address, port,
    /// flags) and builds no [`ConnEntry`], so that a hit costs a hash, a
    /// probe and a sequence check. An entry whose server is of the other
    /// family (a rare IPv4/IPv6 mix) is read under the shard's lock. Like
    /// `lookup`, an entry past its expiry that [`expire`](Self::expire) has
    /// not collected yet is still found.
    #[inline]
    pub fn lookup_dest(&self, flow: &Flow) -> Option<SocketAddr> {
        self.lookup_dest_at(flow, None)
    }

    /// [`lookup_dest`](Self::lookup_dest) with the flow's client hash when
    /// the caller has it.
    #[inline]
    fn lookup_dest_at(&self, flow: &Flow, h: Option<u64>) -> Option<SocketAddr> {
        match (flow.src, flow.dst) {
            (IpAddr::V4(_), IpAddr::V4(_)) => self.lookup_dest_in::<u32>(flow, h),
            (IpAddr::V6(_), IpAddr::V6(_)) => self.lookup_dest_in::<u128>(flow, h),
            _ => None,
        }
    }

    #[inline]
    fn lookup_dest_in<A: Family>(&self, flow: &Flow, h: Option<u64>) -> Option<SocketAddr> {
        let (k, tag, sh) = self.place::<A>(flow, h)?;
        let (daddr, dport, flags) = sh.lookup_dest(tag, &k)?;
        if flags & flag::WIDE_DADDR == 0 {
            return Some(daddr.socket(dport));
        }
        self.lookup_locked(sh, tag, &k, 0).map(|e| e.dest)
    }

    /// The key of a client packet's flow, its hash tag and its shard; `h`
    /// is the key's client hash when the caller has it already (a batch's
    /// prefetch computed it).
    #[inline]
    pub(super) fn place<A: Family>(&self, flow: &Flow, h: Option<u64>) -> Option<(Key<A>, u32, &Shard<A>)> {
        let k = Key::<A>::of_flow(flow)?;
        let (tag, sh) = self.home(k.proto, k.caddr, k.cport, h);
        Some((k, tag, sh))
    }

    /// The hash tag and the shard of the connections of client endpoint
    /// (`proto`, `caddr`, `cport`), whose hash is `h` when the caller has it.
    #[inline]
    pub(super) fn home<A: Family>(&self, proto: u8, caddr: A, cport: u16, h: Option<u64>) -> (u32, &Shard<A>) {
        self.home_of::<A>(h.unwrap_or_else(|| A::hash(&self.hash, proto, caddr, cport)))
    }

    /// The hash tag and the shard of client hash `h`.
    #[inline]
    pub(super) fn home_of<A: Family>(&self, h: u64) -> (u32, &Shard<A>) {
        (conn_tag(h), &A::shards(self)[self.shard_of(h)])
    }

    /// Looks up every flow of `flows` as [`lookup`](Self::lookup) does, into
    /// `out` (cleared first; one element per flow, in order). Flows are taken
    /// in groups of 16: the slots of a whole group are prefetched before any
    /// is read, so that the cache misses of its look-ups overlap instead of
    /// following one another, as VPP-style data planes process packets in
    /// vectors. Allocates nothing once `out` has room for `flows.len()`.
    pub fn lookup_batch(&self, flows: &[Flow], now: impl Now, out: &mut Vec<Option<ConnEntry>>) {
        let t = self.clock.ticks(now);
        prefetched(flows, out, |f| self.prefetch_hash(f), |f, h| self.lookup_at(f, Some(h), t));
    }

    /// The real server of every flow of `flows`, as
    /// [`lookup_dest`](Self::lookup_dest) gives it, into `out` (cleared
    /// first; one element per flow, in order), prefetching as
    /// [`lookup_batch`](Self::lookup_batch) does: the data plane's forwarding
    /// look-up for a vector of packets of known connections, with no
    /// [`ConnEntry`] built. Takes no lock (but for the rare entry whose server
    /// is of the other family) and allocates nothing once `out` has room for
    /// `flows.len()`. O(1) expected per flow.
    pub fn lookup_dest_batch(&self, flows: &[Flow], out: &mut Vec<Option<SocketAddr>>) {
        prefetched(flows, out, |f| self.prefetch_hash(f), |f, h| self.lookup_dest_at(f, Some(h)));
    }

    /// Hints the CPU to load the slot where the connection of `flow` (a
    /// client packet's) would be, without reading it: call it for a packet a
    /// few packets before its [`process`](Self::process) or
    /// [`lookup`](Self::lookup) to overlap their cache misses, as
    /// [`lookup_batch`](Self::lookup_batch) and
    /// [`process_batch`](Self::process_batch) do. On targets other than
    /// x86_64 it does nothing.
    #[inline]
    pub fn prefetch(&self, flow: &Flow) {
        self.prefetch_hash(flow);
    }

    /// [`prefetch`](Self::prefetch), giving the flow's client hash (0 for a
    /// flow of mixed families, which no look-up finds).
    #[inline]
    pub(crate) fn prefetch_hash(&self, flow: &Flow) -> u64 {
        match (flow.src, flow.dst) {
            (IpAddr::V4(_), IpAddr::V4(_)) | (IpAddr::V6(_), IpAddr::V6(_)) => {
                self.prefetch_client(flow.protocol.number(), flow.src, flow.src_port)
            }
            _ => 0,
        }
    }

    /// Prefetches the first slots of the run of the connections of client
    /// endpoint (`proto`, `caddr`, `cport`), those a look-up compares at
    /// once, and gives that endpoint's hash.
    #[inline]
    pub(crate) fn prefetch_client(&self, proto: u8, caddr: IpAddr, cport: u16) -> u64 {
        match caddr {
            IpAddr::V4(a) => self.prefetch_home::<u32>(proto, u32::from(a), cport),
            IpAddr::V6(a) => self.prefetch_home::<u128>(proto, u128::from(a), cport),
        }
    }

    /// [`prefetch_client`](Self::prefetch_client) in one family.
    #[inline]
    fn prefetch_home<A: Family>(&self, proto: u8, caddr: A, cport: u16) -> u64 {
        let h = A::hash(&self.hash, proto, caddr, cport);
        let (tag, sh) = self.home_of::<A>(h);
        sh.prefetch(tag);
        h
    }

    #[inline]
    fn lookup_at(&self, flow: &Flow, h: Option<u64>, t: u64) -> Option<ConnEntry> {
        match (flow.src, flow.dst) {
            (IpAddr::V4(_), IpAddr::V4(_)) => self.lookup_in::<u32>(flow, h, t),
            (IpAddr::V6(_), IpAddr::V6(_)) => self.lookup_in::<u128>(flow, h, t),
            _ => None,
        }
    }

    #[inline]
    fn lookup_in<A: Family>(&self, flow: &Flow, h: Option<u64>, t: u64) -> Option<ConnEntry> {
        let (k, tag, sh) = self.place::<A>(flow, h)?;
        let hit = sh.lookup_hit(tag, &k)?;
        if hit.flags & flag::WIDE_DADDR == 0 && hit.flags & flag::FWD_MASK != FWD_TUNNEL {
            return Some(self.conn_entry(&k, &hit, hit.daddr.socket(hit.dport), None, t));
        }
        // The server's address (other family) or tunnel parameters live with
        // the server: read them under the lock.
        self.lookup_locked(sh, tag, &k, t)
    }

    #[cold]
    #[inline(never)]
    fn lookup_locked<A: Family>(&self, sh: &Shard<A>, tag: u32, k: &Key<A>, t: u64) -> Option<ConnEntry> {
        let w = sh.write();
        let i = w.find(tag, k)?;
        let e = w.get(i);
        let d = w.g.dests.get(e.dest)?;
        Some(self.conn_entry(&e.key(), &e.hit(), server_of(&e, Some(d)), Some(d), t))
    }

    /// The listing form of connection `k` whose slot reads `hit`, its
    /// server at `server`.
    #[inline]
    pub(crate) fn conn_entry<A: Addr>(
        &self,
        k: &Key<A>,
        hit: &Hit<A>,
        server: SocketAddr,
        dest: Option<&Dest>,
        now: u64,
    ) -> ConnEntry {
        ConnEntry {
            protocol: k.proto,
            client: k.caddr.socket(k.cport),
            virtual_addr: k.vaddr.socket(k.vport),
            dest: server,
            state: ConnState::from_stored(k.proto, hit.state),
            template: false,
            forward: Some(forward_method(hit.flags, dest)),
            expires_secs: secs_left(hit.due32(), now),
            controlled: hit.tref != NO_TEMPLATE,
            controls: 0,
        }
    }

    pub(crate) fn template_entry<A: Addr>(&self, t: &Template<A>, now: u64) -> ConnEntry {
        ConnEntry {
            protocol: t.proto,
            client: t.caddr.socket(t.cport),
            virtual_addr: t.vaddr.socket(t.vport),
            dest: SocketAddr::new(t.dest.addr(), t.dport),
            state: ConnState::Template { assured: t.assured },
            template: true,
            forward: Some(t.dest.forward()),
            expires_secs: secs_left(t.due32(), now),
            controlled: false,
            controls: t.n_control,
        }
    }

    /// Every entry (connections and templates) as a `Vec`: the entries of
    /// [`iter`](Self::iter) collected.
    pub fn entries(&self, now: Instant) -> Vec<ConnEntry> {
        let mut out = Vec::with_capacity(self.len());
        self.for_each_entry(now, |e| out.push(e));
        out
    }

    /// An iterator over every entry (connections and templates), read one
    /// shard at a time: it holds at most one shard's entries (a shard's lock
    /// is taken only while its entries are copied out), so listing a large
    /// table needs no copy of it. The order is the table's internal one (the
    /// kernel lists in its own hash order); an entry created or removed
    /// while the iteration runs may or may not be seen.
    pub fn iter(&self, now: Instant) -> Entries<'_> {
        Entries { table: self, tick: self.clock.ticks_at(now), next_shard: 0, buf: Default::default() }
    }

    /// Calls `f` with every entry (connections and templates), shard by
    /// shard, each under that shard's lock (so `f` should be quick and must
    /// not call back into the table), without allocating.
    pub fn for_each_entry(&self, now: Instant, mut f: impl FnMut(ConnEntry)) {
        let t = self.clock.ticks_at(now);
        for si in 0..self.v4.len() {
            self.visit_shard::<u32>(si, t, &mut f);
        }
        for si in 0..self.v6.len() {
            self.visit_shard::<u128>(si, t, &mut f);
        }
    }

    /// Calls `f` with the entries of shard `si` of one family.
    fn visit_shard<A: Family>(&self, si: usize, t: u64, f: &mut dyn FnMut(ConnEntry)) {
        let Some(sh) = A::shards(self).get(si) else { return };
        let w = sh.write();
        w.for_each(|_, e| {
            let d = w.g.dests.get(e.dest).map(|d| &**d);
            f(self.conn_entry(&e.key(), &e.hit(), server_of(&e, d), d, t));
        });
        for (_, tp) in w.g.templates.iter() {
            f(self.template_entry(tp, t));
        }
    }

    /// When [`expire`](Self::expire) next has work: the earliest timer of
    /// any shard (never later than the first entry's expiry; it may be
    /// earlier, when a timer was pushed back by traffic). `None` when the
    /// table has no timer.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let a = self.v4.iter().map(|s| s.next_event.load(Relaxed)).min().unwrap_or(u64::MAX);
        let b = self.v6.iter().map(|s| s.next_event.load(Relaxed)).min().unwrap_or(u64::MAX);
        let t = a.min(b);
        (t != u64::MAX).then(|| self.clock.instant(t))
    }

    /// Expires every entry whose time has come by `now`, in time order as
    /// the kernel's timers would: a connection's server loses it from its
    /// counts; a template that still controls connections when its time
    /// comes lives on for 60 s more (and keeps that timeout), otherwise it
    /// goes and its server's persistent count drops. Connections expire
    /// before templates due at the same tick.
    pub fn expire(&self, now: Instant) -> Expired {
        let target = self.clock.ticks_at(now);
        let mut out = Expired::default();
        self.expire_family::<u32>(target, &mut out);
        self.expire_family::<u128>(target, &mut out);
        out
    }

    fn expire_family<A: Family>(&self, target: u64, out: &mut Expired) {
        let shards = A::shards(self);
        // (template reference, tick its connection expired)
        let mut events: Vec<(u32, u64)> = Vec::new();
        // (shard, template index, generation)
        let mut deferred: Vec<(usize, u32, u8)> = Vec::new();
        let mut run = Vec::new();
        for (si, sh) in shards.iter().enumerate() {
            if sh.next_event.load(Relaxed) > target {
                continue;
            }
            let mut w = sh.write();
            let mut items = std::mem::take(&mut w.g.scratch);
            loop {
                let t = {
                    let inner = &mut *w.g;
                    let templates = &inner.templates;
                    let reference = inner.wheel.current();
                    inner.wheel.pop(target, &mut items, |item| resolve::<A>(sh, templates, item, reference))
                };
                let Some(t) = t else { break };
                // One pass per handle value: a tag filed several times (for
                // several connections, or again when a packet brought its
                // time forward) is handled, and re-filed, once.
                items.sort_unstable();
                items.dedup();
                for &item in &items {
                    if item & CONN_ITEM != 0 {
                        self.expire_conn_item(&mut w, item, t, &mut events, &mut run, out);
                    } else {
                        let (idx, generation) = (item & 0x7f_ffff, (item >> 23) as u8);
                        match w.g.templates.get(idx) {
                            Some(tp) if tp.generation == generation => {
                                let due = widen(t, tp.due32());
                                if due <= t {
                                    deferred.push((si, idx, generation));
                                } else {
                                    w.g.wheel.insert(item, due);
                                }
                            }
                            _ => {}
                        }
                    }
                }
            }
            w.g.scratch = items;
            w.publish_next_event();
        }
        // Connections gone: their templates lose them.
        events.sort_unstable();
        let mut i = 0;
        while i < events.len() {
            let (si, _) = self.untref(events[i].0);
            let mut w = shards[si].write();
            while i < events.len() && self.untref(events[i].0).0 == si {
                let (_, idx) = self.untref(events[i].0);
                if let Some(tp) = w.g.templates.get_mut(idx) {
                    tp.n_control = tp.n_control.saturating_sub(1);
                }
                i += 1;
            }
        }
        // Templates whose time came, in the light of when their connections went.
        deferred.sort_unstable();
        deferred.dedup();
        for (si, idx, generation) in deferred {
            let mut w = shards[si].write();
            let tref = self.tref(si, idx);
            let mut gone = false;
            let mut refile = None;
            if let Some(tp) = w.g.templates.get_mut(idx).filter(|tp| tp.generation == generation) {
                loop {
                    let due = widen(target, tp.due32());
                    if due > target {
                        refile = Some(due);
                        break;
                    }
                    let lo = events.partition_point(|&(r, _)| r < tref);
                    let later =
                        events[lo..].iter().take_while(|&&(r, _)| r == tref).filter(|&&(_, t2)| t2 > due).count();
                    if tp.n_control as usize + later > 0 {
                        tp.last_used = due as u32;
                        tp.timeout = EXPIRE_LATER;
                    } else {
                        gone = true;
                        break;
                    }
                }
            }
            if gone {
                if let Some(tp) = w.g.templates.remove(idx) {
                    tp.dest.unbind_template();
                    self.count.fetch_sub(1, Relaxed);
                    self.templates.fetch_sub(1, Relaxed);
                    out.templates += 1;
                }
            } else if let Some(due) = refile {
                let generation = w.g.templates.get(idx).map_or(0, |tp| tp.generation);
                w.g.wheel.insert(template_item(idx, generation), due);
            }
            w.publish_next_event();
        }
    }

    /// Processes one connection timer handle at tick `t`: expires every
    /// connection with that tag whose time has come, re-files the handle for
    /// the others.
    fn expire_conn_item<A: Family>(
        &self,
        w: &mut Writer<'_, A>,
        tag: u32,
        t: u64,
        events: &mut Vec<(u32, u64)>,
        run: &mut Vec<u32>,
        out: &mut Expired,
    ) {
        loop {
            w.all_with_tag(tag, run);
            let due_one = run.iter().copied().find(|&i| widen(t, w.get(i).due32()) <= t);
            let Some(i) = due_one else { break };
            let e = w.get(i);
            let due = widen(t, e.due32());
            self.remove_conn(w, i);
            if e.tref != NO_TEMPLATE {
                events.push((e.tref, due));
            }
            out.conns += 1;
        }
        if let Some(next) = run.iter().map(|&i| widen(t, w.get(i).due32())).min() {
            w.g.wheel.insert(tag, next);
        }
    }

    /// Removes the connection in slot `i`: unbinds it from its server
    /// (`ip_vs_unbind_dest`) and frees its entry. The caller handles its
    /// template.
    pub(crate) fn remove_conn<A: Addr>(&self, w: &mut Writer<'_, A>, i: u32) -> Entry<A> {
        let e = w.remove(i);
        if let Some(d) = w.g.dests.get(e.dest) {
            d.unbind_conn(e.flags & flag::INACTIVE == 0);
        }
        w.g.dests.release(e.dest);
        self.count.fetch_sub(1, Relaxed);
        e
    }

    /// Drops one controlled connection from template `tref` at once.
    pub(crate) fn release_template<A: Family>(&self, tref: u32) {
        if tref == NO_TEMPLATE {
            return;
        }
        let (si, idx) = self.untref(tref);
        let mut w = A::shards(self)[si].write();
        if let Some(tp) = w.g.templates.get_mut(idx) {
            tp.n_control = tp.n_control.saturating_sub(1);
        }
    }

    /// Removes every connection and template (`ip_vs_conn_flush`).
    ///
    /// Safe against concurrent traffic: each shard is emptied under its
    /// lock, and its timer wheel is reset in the same critical section only
    /// when the shard is then empty, so a connection inserted meanwhile
    /// keeps its timer (and stays: the flush covers what was there when it
    /// reached each shard). A template is removed only once no connection
    /// refers to it, so one that a connection created during the flush
    /// still uses expires normally later, as the kernel keeps a template
    /// while it controls connections.
    pub fn flush(&self) -> Expired {
        let mut out = Expired::default();
        self.drop_where::<u32>(&|_| true, &mut out);
        self.drop_where::<u128>(&|_| true, &mut out);
        out
    }

    /// Removes every connection and template whose real server has been
    /// removed from its service (`ip_vs_expire_nodest_conn_flush`, which the
    /// kernel queues after deleting a server when `expire_nodest_conn` is
    /// on): call it after [`Service::del_dest`](crate::ipvs::Service::del_dest)
    /// to do the same.
    pub fn expire_nodest_conn_flush(&self) -> Expired {
        let mut out = Expired::default();
        let gone = |d: &Dest| !d.is_available();
        self.drop_where::<u32>(&gone, &mut out);
        self.drop_where::<u128>(&gone, &mut out);
        out
    }

    fn drop_where<A: Family>(&self, pred: &dyn Fn(&Dest) -> bool, out: &mut Expired) {
        let shards = A::shards(self);
        let mut released = Vec::new();
        let mut victims = Vec::new();
        for sh in shards {
            let mut w = sh.write();
            victims.clear();
            w.for_each(|_, e| {
                if w.g.dests.get(e.dest).is_some_and(|d| pred(d)) {
                    victims.push((e.tag, e.key()));
                }
            });
            for (tag, k) in &victims {
                if let Some(i) = w.find(*tag, k) {
                    let e = self.remove_conn(&mut w, i);
                    if e.tref != NO_TEMPLATE {
                        released.push(e.tref);
                    }
                    out.conns += 1;
                }
            }
            reset_if_empty(&mut w);
            w.publish_next_event();
        }
        for tref in released {
            self.release_template::<A>(tref);
        }
        for sh in shards {
            let mut w = sh.write();
            // Only templates no connection refers to: a template's slot is
            // freed only when it controls nothing, so that a connection's
            // reference never outlives it (and never names a newer template
            // in the reused slot).
            let doomed: Vec<u32> =
                w.g.templates.iter().filter(|(_, tp)| tp.n_control == 0 && pred(&tp.dest)).map(|(i, _)| i).collect();
            for idx in doomed {
                if let Some(tp) = w.g.templates.remove(idx) {
                    tp.dest.unbind_template();
                    self.count.fetch_sub(1, Relaxed);
                    self.templates.fetch_sub(1, Relaxed);
                    out.templates += 1;
                }
            }
            reset_if_empty(&mut w);
            w.publish_next_event();
        }
    }

    /// Timer handles filed in all wheels (live and stale), for tests.
    #[cfg(test)]
    pub(crate) fn timer_handles(&self) -> usize {
        let a: usize = self.v4.iter().map(|sh| sh.inner.lock().wheel.len()).sum();
        let b: usize = self.v6.iter().map(|sh| sh.inner.lock().wheel.len()).sum();
        a + b
    }

    /// Heap bytes the table holds (slots, timer handles, templates, the
    /// shards' server indexes), for memory accounting; the servers
    /// themselves belong to their services. Slots on huge pages count with
    /// their mappings' last huge page whole (see
    /// [`ConnTableConfig::huge_pages`]).
    pub fn heap_bytes(&self) -> usize {
        fn of<A: Family>(t: &ConnTable) -> usize {
            A::shards(t)
                .iter()
                .map(|sh| {
                    let g = sh.inner.lock();
                    std::mem::size_of::<Shard<A>>()
                        + sh.slot_bytes()
                        + g.wheel.heap_bytes()
                        + g.templates.heap_bytes()
                        + g.dests.heap_bytes()
                        + g.scratch.capacity() * 4
                })
                .sum()
        }
        of::<u32>(self) + of::<u128>(self) + self.arena.as_ref().map_or(0, |a| a.resident_bound_bytes())
    }
}

/// Drops every timer handle of a shard that holds nothing (under its lock,
/// so no handle of a concurrent insert is lost).
fn reset_if_empty<A: Addr>(w: &mut Writer<'_, A>) {
    if w.g.len == 0 && w.g.templates.len() == 0 {
        let current = w.g.wheel.current();
        w.g.wheel = super::wheel::Wheel::new(current);
    }
}

/// The wheel handle of template `idx` of generation `generation`.
#[inline]
pub(crate) fn template_item(idx: u32, generation: u8) -> u32 {
    (generation as u32) << 23 | idx
}

/// The due tick of whatever a timer handle names now (`None`: gone): for
/// a connection handle the earliest due tick among the connections with
/// that tag, for a template handle its template's, if the generation still
/// matches. `reference` is a tick near now to widen stored ticks against.
fn resolve<A: Addr>(sh: &Shard<A>, templates: &TemplateStore<A>, item: u32, reference: u64) -> Option<u64> {
    if item & CONN_ITEM != 0 {
        sh.min_due(item, reference)
    } else {
        let (idx, generation) = (item & 0x7f_ffff, (item >> 23) as u8);
        templates.get(idx).filter(|tp| tp.generation == generation).map(|tp| widen(reference, tp.due32()))
    }
}

/// The server of entry `e` as a socket address: its own address, or the
/// address of its server `dest` when that is of the other family (the
/// `WIDE_DADDR` flag; with no `dest` at hand, the stored one), and its port.
#[inline]
pub(crate) fn server_of<A: Addr>(e: &Entry<A>, dest: Option<&Dest>) -> SocketAddr {
    match dest {
        Some(d) if e.flags & flag::WIDE_DADDR != 0 => SocketAddr::new(d.addr(), e.dport),
        _ => e.daddr.socket(e.dport),
    }
}

/// The forwarding method of a connection: the code it was bound with, and
/// for tunnels the server's current tunnel parameters.
#[inline]
pub(crate) fn forward_method(flags: u16, dest: Option<&Dest>) -> ForwardMethod {
    match flags & flag::FWD_MASK {
        0 => ForwardMethod::Masq,
        1 => ForwardMethod::Local,
        2 => match dest.map(Dest::forward) {
            Some(f @ ForwardMethod::Tunnel(_)) => f,
            _ => ForwardMethod::Tunnel(TunnelParams::default()),
        },
        _ => ForwardMethod::Route,
    }
}
