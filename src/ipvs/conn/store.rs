//! The connection slots of one shard: an open-addressing table with Robin
//! Hood probing and backward-shift deletion, stored inline (one entry per
//! slot, no pointer to chase) in segments that are allocated as the shard
//! grows and never move.
//!
//! Concurrency: every write happens under the shard's mutex and inside a
//! sequence-lock window (the count is odd while slots change). Readers that
//! only look do not lock: they read the slots (all plain atomics, so a torn
//! read is harmless), then check that the sequence did not move, and retry or
//! fall back to the lock if it did. Because segments are never freed or
//! moved while the table lives, a reader racing a resize reads stale but
//! valid memory and is turned back by the sequence check.
//!
//! Layout: an IPv4 slot is 40 bytes (ten 32-bit words), an IPv6 slot 76.
//! Slot counts grow in steps of ×1.5 and ×4/3 (64, 96, 128, 192, 256 …) and
//! a shard grows past 3/4 full, so between 50% and 75% of the slots are in
//! use. Memory per IPv4 connection is thus 53 to 80 bytes here, plus 4 bytes
//! per timer handle (see [`super::wheel`]). The fill limit trades memory for
//! short probe runs: at 3/4 a hit reads 2.5 slots on average at most
//! (linear probing's ½(1 + 1/(1 − α))), where 7/8 would read up to 4.5
//! slots. A look-up loads the tags of the first four IPv4 slots (two IPv6
//! ones) of its run at once, three or four cache lines, which covers most
//! runs (see `Shard::find_key`); fewer lines per look-up keep more of a
//! working set of flows in cache.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::*, fence};
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;

use super::dests::DestTable;
use super::hash::KeyedHash;
use super::sys::{HugeArena, SlotMem, ZeroValid};
use super::table::template_item;
use super::template::TemplateStore;
use super::time::widen;
use super::wheel::Wheel;

/// An address as the store keeps it: `u32` for IPv4, `u128` for IPv6.
pub(crate) trait Addr: Copy + Eq + Default + Send + Sync + std::fmt::Debug + 'static {
    /// Its atomic form in a slot (valid when all zero, so that fresh pages
    /// are empty slots).
    type Atomic: Default + Send + Sync + std::fmt::Debug + ZeroValid;
    fn load(a: &Self::Atomic) -> Self;
    fn store(a: &Self::Atomic, v: Self);
    fn from_ip(ip: IpAddr) -> Option<Self>;
    fn to_ip(self) -> IpAddr;
    /// The socket address of this address and `port`, built in its own
    /// family (no match on an `IpAddr`).
    fn socket(self, port: u16) -> SocketAddr;
    /// The hash of a client endpoint.
    fn hash(h: &KeyedHash, proto: u8, caddr: Self, cport: u16) -> u64;
    /// The address as a 128-bit integer (IPv4 in the low 32 bits).
    fn widen(self) -> u128;
    /// An IPv4 address (a firewall mark, in templates) in this family's
    /// layout: the first four bytes, as the kernel's `union nf_inet_addr`.
    fn from_mark(mark: u32) -> Self;
    /// The address masked by a persistence mask given as a 128-bit mask.
    fn mask(self, mask: u128) -> Self;
}

impl Addr for u32 {
    type Atomic = AtomicU32;
    #[inline]
    fn load(a: &AtomicU32) -> u32 {
        a.load(Relaxed)
    }
    #[inline]
    fn store(a: &AtomicU32, v: u32) {
        a.store(v, Relaxed)
    }
    #[inline]
    fn from_ip(ip: IpAddr) -> Option<u32> {
        match ip {
            IpAddr::V4(a) => Some(u32::from(a)),
            IpAddr::V6(_) => None,
        }
    }
    #[inline]
    fn to_ip(self) -> IpAddr {
        IpAddr::V4(Ipv4Addr::from(self))
    }
    #[inline]
    fn socket(self, port: u16) -> SocketAddr {
        SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::from(self), port))
    }
    #[inline]
    fn hash(h: &KeyedHash, proto: u8, caddr: u32, cport: u16) -> u64 {
        h.v4(proto, caddr, cport)
    }
    #[inline]
    fn widen(self) -> u128 {
        self as u128
    }
    #[inline]
    fn from_mark(mark: u32) -> u32 {
        mark
    }
    #[inline]
    fn mask(self, mask: u128) -> u32 {
        self & mask as u32
    }
}

/// Four 32-bit atomics holding an IPv6 address, most significant first.
#[derive(Debug, Default)]
pub(crate) struct AtomicV6([AtomicU32; 4]);

impl Addr for u128 {
    type Atomic = AtomicV6;
    #[inline]
    fn load(a: &AtomicV6) -> u128 {
        let w = &a.0;
        (w[0].load(Relaxed) as u128) << 96
            | (w[1].load(Relaxed) as u128) << 64
            | (w[2].load(Relaxed) as u128) << 32
            | w[3].load(Relaxed) as u128
    }
    #[inline]
    fn store(a: &AtomicV6, v: u128) {
        a.0[0].store((v >> 96) as u32, Relaxed);
        a.0[1].store((v >> 64) as u32, Relaxed);
        a.0[2].store((v >> 32) as u32, Relaxed);
        a.0[3].store(v as u32, Relaxed);
    }
    #[inline]
    fn from_ip(ip: IpAddr) -> Option<u128> {
        match ip {
            IpAddr::V6(a) => Some(u128::from(a)),
            IpAddr::V4(_) => None,
        }
    }
    #[inline]
    fn to_ip(self) -> IpAddr {
        IpAddr::V6(Ipv6Addr::from(self))
    }
    #[inline]
    fn socket(self, port: u16) -> SocketAddr {
        SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::from(self), port, 0, 0))
    }
    #[inline]
    fn hash(h: &KeyedHash, proto: u8, caddr: u128, cport: u16) -> u64 {
        h.v6(proto, caddr, cport)
    }
    #[inline]
    fn widen(self) -> u128 {
        self
    }
    #[inline]
    fn from_mark(mark: u32) -> u128 {
        (mark as u128) << 96
    }
    #[inline]
    fn mask(self, mask: u128) -> u128 {
        self & mask
    }
}

/// Connection flags kept in a slot.
pub(crate) mod flag {
    /// Forwarding method code (`IP_VS_CONN_F_FWD_MASK`): bits 0..3.
    pub const FWD_MASK: u16 = 0x0007;
    /// No reply seen yet from a non-masquerading server
    /// (`IP_VS_CONN_F_NOOUTPUT`).
    pub const NOOUTPUT: u16 = 0x0008;
    /// Not counted as active (`IP_VS_CONN_F_INACTIVE`).
    pub const INACTIVE: u16 = 0x0010;
    /// The server's address is of the other family: read it from the
    /// server, not from the slot.
    pub const WIDE_DADDR: u16 = 0x0020;
}

/// No template.
pub(crate) const NO_TEMPLATE: u32 = 0;

/// What identifies a connection (besides its hash tag): protocol, client
/// and virtual endpoints, as the kernel's `ip_vs_conn_in_get` compares them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Key<A> {
    pub proto: u8,
    pub caddr: A,
    pub cport: u16,
    pub vaddr: A,
    pub vport: u16,
}

impl<A: Addr> Key<A> {
    /// The key of a client packet's flow, `None` when an address is not of
    /// this family.
    #[inline]
    pub(crate) fn of_flow(flow: &crate::ipvs::Flow) -> Option<Self> {
        Some(Key {
            proto: flow.protocol.number(),
            caddr: A::from_ip(flow.src)?,
            cport: flow.src_port,
            vaddr: A::from_ip(flow.dst)?,
            vport: flow.dst_port,
        })
    }
}

/// One connection as plain values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Entry<A> {
    /// Bit 31 set, bits 0..31 the low bits of the hash; 0 marks a free slot.
    pub tag: u32,
    pub caddr: A,
    pub vaddr: A,
    pub cport: u16,
    pub vport: u16,
    pub dport: u16,
    pub proto: u8,
    pub state: u8,
    pub flags: u16,
    /// Index in the shard's [`DestTable`].
    pub dest: u16,
    /// The server's address when it is of this family.
    pub daddr: A,
    /// Timeout in ticks.
    pub timeout: u32,
    /// Tick of the last packet (the timer runs from here).
    pub last_used: u32,
    /// Controlling template ([`NO_TEMPLATE`] for none).
    pub tref: u32,
}

/// What a look-up by key reads of an [`Entry`] (see
/// [`Shard::lookup_hit`]): all but the key, the hash tag and the server's
/// index in the shard's [`DestTable`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Hit<A> {
    pub daddr: A,
    pub dport: u16,
    pub state: u8,
    pub flags: u16,
    pub timeout: u32,
    pub last_used: u32,
    pub tref: u32,
}

impl<A: Addr> Hit<A> {
    /// The tick the entry expires at, as stored (wrapping).
    #[inline]
    pub(crate) fn due32(&self) -> u32 {
        self.last_used.wrapping_add(self.timeout)
    }
}

impl<A: Addr> Entry<A> {
    /// The entry's non-key words.
    #[inline]
    pub(crate) fn hit(&self) -> Hit<A> {
        Hit {
            daddr: self.daddr,
            dport: self.dport,
            state: self.state,
            flags: self.flags,
            timeout: self.timeout,
            last_used: self.last_used,
            tref: self.tref,
        }
    }

    /// The tick the entry expires at, as stored (wrapping).
    #[inline]
    pub(crate) fn due32(&self) -> u32 {
        self.hit().due32()
    }
}

/// One slot: the atomic form of an [`Entry`]. Only 32-bit atomics, so that
/// all-zero memory is an empty slot (`sys.rs` relies on it to hand out
/// fresh pages as slots).
#[derive(Debug, Default)]
pub(crate) struct Slot<A: Addr> {
    tag: AtomicU32,
    caddr: A::Atomic,
    vaddr: A::Atomic,
    ports: AtomicU32,
    misc: AtomicU32,
    fd: AtomicU32,
    daddr: A::Atomic,
    timeout: AtomicU32,
    last_used: AtomicU32,
    tref: AtomicU32,
}

impl<A: Copy + Default> Entry<A> {
    /// An entry of connection `k` with hash tag `tag`, every other field
    /// zero.
    #[inline]
    pub(crate) fn keyed(tag: u32, k: &Key<A>) -> Self {
        Entry {
            tag,
            caddr: k.caddr,
            vaddr: k.vaddr,
            cport: k.cport,
            vport: k.vport,
            proto: k.proto,
            ..Default::default()
        }
    }

    /// The entry's connection key.
    #[inline]
    pub(crate) fn key(&self) -> Key<A> {
        Key { proto: self.proto, caddr: self.caddr, cport: self.cport, vaddr: self.vaddr, vport: self.vport }
    }
}

impl<A: Addr> Slot<A> {
    #[inline]
    fn tag(&self) -> u32 {
        self.tag.load(Relaxed)
    }

    #[inline]
    fn load(&self) -> Entry<A> {
        let ports = self.ports.load(Relaxed);
        let k = Key {
            proto: (self.misc.load(Relaxed) >> 16) as u8,
            caddr: A::load(&self.caddr),
            cport: ports as u16,
            vaddr: A::load(&self.vaddr),
            vport: (ports >> 16) as u16,
        };
        self.with_key(self.tag.load(Relaxed), &k)
    }

    /// [`load`](Self::load) for a slot known to hold connection `k` with
    /// hash tag `tag` (its probe just compared them): the key comes from
    /// `k`, only the rest is read.
    #[inline]
    fn load_keyed(&self, tag: u32, k: &Key<A>) -> Entry<A> {
        debug_assert!(self.tag() == tag && self.is(k));
        self.with_key(tag, k)
    }

    /// The entry made of key `k`, tag `tag` and this slot's other words.
    #[inline(always)]
    fn with_key(&self, tag: u32, k: &Key<A>) -> Entry<A> {
        let misc = self.misc.load(Relaxed);
        let fd = self.fd.load(Relaxed);
        Entry {
            dport: misc as u16,
            state: (misc >> 24) as u8,
            flags: fd as u16,
            dest: (fd >> 16) as u16,
            daddr: A::load(&self.daddr),
            timeout: self.timeout.load(Relaxed),
            last_used: self.last_used.load(Relaxed),
            tref: self.tref.load(Relaxed),
            ..Entry::keyed(tag, k)
        }
    }

    #[inline]
    fn store(&self, e: &Entry<A>) {
        self.tag.store(e.tag, Relaxed);
        A::store(&self.caddr, e.caddr);
        A::store(&self.vaddr, e.vaddr);
        self.ports.store(e.cport as u32 | (e.vport as u32) << 16, Relaxed);
        self.misc.store(e.dport as u32 | (e.proto as u32) << 16 | (e.state as u32) << 24, Relaxed);
        self.fd.store(e.flags as u32 | (e.dest as u32) << 16, Relaxed);
        A::store(&self.daddr, e.daddr);
        self.timeout.store(e.timeout, Relaxed);
        self.last_used.store(e.last_used, Relaxed);
        self.tref.store(e.tref, Relaxed);
    }

    /// What a look-up that already knows the key reads, once the key words
    /// matched: six of an IPv4 slot's ten words (nine of an IPv6 slot's
    /// nineteen); the tag and the address and port words are not read
    /// again.
    #[inline]
    fn hit(&self) -> Hit<A> {
        let misc = self.misc.load(Relaxed);
        let fd = self.fd.load(Relaxed);
        Hit {
            daddr: A::load(&self.daddr),
            dport: misc as u16,
            state: (misc >> 24) as u8,
            flags: fd as u16,
            timeout: self.timeout.load(Relaxed),
            last_used: self.last_used.load(Relaxed),
            tref: self.tref.load(Relaxed),
        }
    }

    /// The server's address, port and the entry's flags.
    #[inline]
    fn dest_words(&self) -> (A, u16, u16) {
        (A::load(&self.daddr), self.misc.load(Relaxed) as u16, self.fd.load(Relaxed) as u16)
    }

    /// Whether the slot holds the connection (proto, caddr, cport, vaddr,
    /// vport), reading only the key words.
    #[inline]
    fn is(&self, k: &Key<A>) -> bool {
        self.ports.load(Relaxed) == (k.cport as u32 | (k.vport as u32) << 16)
            && A::load(&self.caddr) == k.caddr
            && A::load(&self.vaddr) == k.vaddr
            && (self.misc.load(Relaxed) >> 16) as u8 == k.proto
    }
}

/// Slots below this index live in segment 0.
const SEG0: u32 = 64;
/// Largest slot count of a shard.
pub(crate) const MAX_SLOTS: u32 = 1 << 23;

/// A shard grows before it would pass `FILL_NUM / FILL_DEN` of its slots
/// in use.
pub(crate) const FILL_NUM: u64 = 3;
/// See [`FILL_NUM`].
pub(crate) const FILL_DEN: u64 = 4;

/// The most connections a shard of `size` slots holds before it grows.
#[inline]
pub(crate) fn holds(size: u32) -> u64 {
    size as u64 * FILL_NUM / FILL_DEN
}
/// Number of segments: 0, then two per power of two from 64 to 2^22.
const SEGMENTS: usize = 1 + 2 * 17;

/// Segment and offset of slot `i`: segment 0 holds 0..64, then each power
/// of two p ≥ 64 is split into [p, 1.5p) and [1.5p, 2p).
#[inline]
fn locate(i: u32) -> (usize, usize) {
    if i < SEG0 {
        return (0, i as usize);
    }
    // With p = 2^l the power of two at or below `i`, `i >> (l - 1)` is 2 in
    // the first half [p, 1.5p) and 3 in the second, and the offset is the
    // bits below l - 1: no branch on the half, which the hash picks at
    // random.
    let l = 31 - i.leading_zeros();
    let h = l - 1;
    ((2 * l + (i >> h) - 13) as usize, (i & ((1 << h) - 1)) as usize)
}

/// Number of slots in segment `k`.
fn segment_len(k: usize) -> usize {
    if k == 0 { SEG0 as usize } else { 1usize << (6 + (k - 1) / 2 - 1) }
}

/// The slot count after `n`: the next segment boundary.
fn next_size(n: u32) -> u32 {
    if n < SEG0 {
        return SEG0;
    }
    let l = 31 - n.leading_zeros();
    let p = 1u32 << l;
    if n < p + (p >> 1) { p + (p >> 1) } else { p << 1 }
}

/// The first slot of an entry with tag `tag` in a table of `size` slots.
#[inline]
fn home(tag: u32, size: u32) -> u32 {
    (((tag & 0x7fff_ffff) as u64 * size as u64) >> 31) as u32
}

/// A segment of slots, allocated once and never moved.
type Segment<A> = OnceLock<SlotMem<Slot<A>>>;

/// Segments at least this large come from the huge-page arena when the
/// shard has one: 16 KiB (IPv4 slots 1 024 and up of a shard, IPv6 slots
/// 512 and up), so a small table (a test's, a lab's) maps nothing and most
/// slots of a table of a million connections (segments of 20 to 80 KiB
/// over 256 shards) are on huge pages.
const HUGE_SEGMENT: usize = 16 << 10;

/// A shard sized up front (by [`ConnTableConfig::capacity`], which sizes
/// the IPv4 shards only) to at least this many bytes of slots takes all
/// its segments from the arena, the small ones too. The table is known to
/// be large, so packing the first 1 024 slots of every shard into huge
/// pages costs at most one partly used huge page, and spares the look-ups
/// that land there a TLB miss (a sixth of the slots at a million
/// connections over 256 shards).
///
/// [`ConnTableConfig::capacity`]: super::ConnTableConfig::capacity
const PRESIZED_HUGE: usize = 128 << 10;

/// State kept under a shard's mutex.
#[derive(Debug)]
pub(crate) struct Inner<A: Addr> {
    /// Connections in the slots.
    pub len: u32,
    /// Servers the shard's connections point at.
    pub dests: DestTable,
    /// Persistence templates hashed to this shard.
    pub templates: TemplateStore<A>,
    /// Timer handles of the shard's connections and templates.
    pub wheel: Wheel,
    /// Scratch buffer for wheel pops.
    pub scratch: Vec<u32>,
}

/// A value alone on its own cache lines (128 bytes: two 64-byte lines, as
/// x86's adjacent-line prefetcher pairs them).
#[derive(Debug)]
#[repr(align(128))]
pub(crate) struct CacheLine<T>(pub T);

impl<T> std::ops::Deref for CacheLine<T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        &self.0
    }
}

/// One shard: slots readable without locking, everything else under `inner`.
///
/// Layout: the words every lock-free reader loads (`seq`, `size`, `segs`)
/// share no cache line with the mutex, which every packet writes when it
/// locks, nor with a neighbouring shard (the shard is 128-byte aligned), so
/// a data-plane thread locking one shard does not evict the line another
/// thread's look-ups read.
#[derive(Debug)]
#[repr(C, align(128))]
pub(crate) struct Shard<A: Addr> {
    seq: AtomicU32,
    size: AtomicU32,
    segs: Box<[Segment<A>]>,
    /// The lock and what it guards, on lines of their own.
    pub inner: CacheLine<Mutex<Inner<A>>>,
    /// The tick of the wheel's next event, `u64::MAX` when none (written
    /// under the lock).
    pub next_event: AtomicU64,
    /// Where large segments come from (`None`: the global allocator).
    arena: Option<Arc<HugeArena>>,
}

impl<A: Addr> Shard<A> {
    /// An empty shard with room for about `capacity` connections before it
    /// first grows; its wheel starts at tick `now`. Segments of
    /// [`HUGE_SEGMENT`] bytes or more come from `arena` when there is one,
    /// and every segment when `capacity` asks for [`PRESIZED_HUGE`] bytes
    /// of slots or more.
    pub(crate) fn new(capacity: usize, now: u64, arena: Option<Arc<HugeArena>>) -> Self {
        let segs: Box<[Segment<A>]> = (0..SEGMENTS).map(|_| OnceLock::new()).collect();
        let mut size = SEG0;
        let want = ((capacity as u64).saturating_mul(FILL_DEN) / FILL_NUM + 1).min(MAX_SLOTS as u64) as u32;
        while size < want {
            size = next_size(size);
        }
        let sh = Shard {
            seq: AtomicU32::new(0),
            size: AtomicU32::new(size),
            segs,
            next_event: AtomicU64::new(u64::MAX),
            arena,
            inner: CacheLine(Mutex::new(Inner {
                len: 0,
                dests: DestTable::default(),
                templates: TemplateStore::default(),
                wheel: Wheel::new(now),
                scratch: Vec::new(),
            })),
        };
        let presized = size as usize * std::mem::size_of::<Slot<A>>() >= PRESIZED_HUGE;
        sh.allocate(size, presized);
        sh
    }

    /// Makes sure segments cover `size` slots; those it adds come from the
    /// arena when they are [`HUGE_SEGMENT`] bytes or more, or all of them
    /// when `all_huge`.
    fn allocate(&self, size: u32, all_huge: bool) {
        let (last, _) = locate(size - 1);
        for k in 0..=last {
            self.segs[k].get_or_init(|| {
                let len = segment_len(k);
                let huge =
                    self.arena.as_ref().filter(|_| all_huge || len * std::mem::size_of::<Slot<A>>() >= HUGE_SEGMENT);
                match huge.and_then(|a| a.slice(len)) {
                    Some(h) => h,
                    None => SlotMem::heap((0..len).map(|_| Slot::default()).collect()),
                }
            });
        }
    }

    #[inline]
    fn slot(&self, i: u32) -> Option<&Slot<A>> {
        let (k, off) = locate(i);
        self.segs.get(k)?.get()?.get(off)
    }

    /// Current slot count.
    #[inline]
    pub(crate) fn size(&self) -> u32 {
        self.size.load(Relaxed)
    }

    /// Bytes of slot memory allocated from the heap, with the segment
    /// directory (segments in the huge-page arena are the arena's to count).
    pub(crate) fn slot_bytes(&self) -> usize {
        let heap = |s: &SlotMem<Slot<A>>| if s.is_huge() { 0 } else { s.len() * std::mem::size_of::<Slot<A>>() };
        self.segs.len() * std::mem::size_of::<Segment<A>>()
            + self.segs.iter().filter_map(|s| s.get()).map(heap).sum::<usize>()
    }

    /// Walks the probe run of `tag`, calling `f` with each slot index whose
    /// tag equals it (and the slot, which `f` may keep: slots live as long
    /// as the shard) until `f` returns `Some`. `None` also when the run is
    /// inconsistent (a racing writer), which the caller's sequence check
    /// catches. Always inlined: each caller is on a packet's path, and
    /// inlined, `f` folds into it.
    #[inline(always)]
    fn probe<'s, R>(&'s self, tag: u32, f: impl FnMut(u32, &'s Slot<A>) -> Option<R>) -> Option<R> {
        self.probe_from(tag, self.size(), 0, f)
    }

    /// [`probe`](Self::probe) in a shard of `size` slots, from the slot
    /// `d0` after the home slot of `tag` (less than `size`), the caller
    /// knowing that the `d0` slots before it are none of them empty and hold
    /// nothing `f` looks for. The walk's early stop is still right from
    /// there: if `tag`'s run ended among those slots, every entry after it
    /// has its home past `tag`'s (Robin Hood order sorts a cluster by home
    /// slot), so it sits closer to its own home than the walk is to
    /// `tag`'s, and the walk stops at the first slot it reads.
    #[inline(always)]
    fn probe_from<'s, R>(
        &'s self,
        tag: u32,
        size: u32,
        d0: u32,
        mut f: impl FnMut(u32, &'s Slot<A>) -> Option<R>,
    ) -> Option<R> {
        if size == 0 {
            return None;
        }
        let mut i = home(tag, size) + d0;
        if i >= size {
            i -= size;
        }
        // The segment holding slot `i`, looked up once and then walked: a
        // run leaves it only at its end (or wraps to slot 0).
        let (mut k, mut off) = locate(i);
        let mut seg: &'s [Slot<A>] = self.segs.get(k)?.get()?;
        let mut d = d0;
        while d < size {
            let s = seg.get(off)?;
            let t = s.tag();
            if t == 0 {
                return None;
            }
            if t == tag {
                if let Some(r) = f(i, s) {
                    return Some(r);
                }
            } else {
                let h = home(t, size);
                let rd = if i >= h { i - h } else { i + size - h };
                if rd < d {
                    return None;
                }
            }
            i += 1;
            off += 1;
            if i == size {
                (i, k, off) = (0, 0, 0);
                seg = self.segs.first()?.get()?;
            } else if off == seg.len() {
                (k, off) = (k + 1, 0);
                seg = self.segs.get(k)?.get()?;
            }
            d += 1;
        }
        None
    }

    /// The slot holding connection `k` (hash tag `tag`), mapped by `read`
    /// (given its index and the slot): [`probe`](Self::probe) for one key,
    /// with the first slots of the run looked at together. The tags of the
    /// [`window`](Self::window) slots from the home slot are compared
    /// without a branch, and only a slot whose tag matches has its key
    /// compared, so where in the window the connection sits (a Robin Hood
    /// run's spread) costs no mispredicted branch, which on a miss of the
    /// cache would hold back the next look-up's load. A connection is in
    /// one slot only, so a key match anywhere in the window is the answer,
    /// whatever the run's order; with no match, an empty slot in the window
    /// means a miss (linear probing keeps the slots from a key's home slot
    /// to its entry free of holes). Otherwise the walk of `probe` goes on
    /// from the slot after the window, or from the home slot when the
    /// window would cross a segment or the table's end. O(1) expected.
    #[inline(always)]
    fn find_key<'s, R>(&'s self, tag: u32, k: &Key<A>, read: impl Fn(u32, &'s Slot<A>) -> R) -> Option<R> {
        let size = self.size();
        let i = home(tag, size);
        let w = Self::window();
        // Where the walk below starts: after the window when it was read.
        let mut from = 0;
        if size as usize >= i as usize + w {
            let (seg, off) = locate(i);
            if let Some(run) = self.segs.get(seg).and_then(|s| s.get()).and_then(|s| s.get(off..off + w)) {
                let (mut hits, mut empty) = (0u32, 0u32);
                for (j, s) in run.iter().enumerate() {
                    let t = s.tag();
                    hits |= ((t == tag) as u32) << j;
                    empty |= ((t == 0) as u32) << j;
                }
                while hits != 0 {
                    let j = hits.trailing_zeros();
                    let s = &run[j as usize];
                    if s.is(k) {
                        return Some(read(i + j, s));
                    }
                    hits &= hits - 1;
                }
                if empty != 0 {
                    return None;
                }
                from = w as u32;
            }
        }
        self.probe_from(tag, size, from, |j, s| s.is(k).then(|| read(j, s)))
    }

    /// How many slots [`find_key`](Self::find_key) compares at once: four
    /// IPv4 slots (160 bytes), two IPv6 ones (152 bytes); three or four
    /// cache lines either way.
    #[inline(always)]
    const fn window() -> usize {
        if std::mem::size_of::<Slot<A>>() <= 48 { 4 } else { 2 }
    }

    /// Prefetches the slots of `tag`'s window from its home slot (see
    /// [`super::sys::prefetch`] and [`find_key`](Self::find_key)), so that a
    /// later [`lookup_hit`](Self::lookup_hit) or locked find has them in
    /// cache.
    #[inline]
    pub(crate) fn prefetch(&self, tag: u32) {
        let size = self.size();
        if let Some(s) = self.slot(home(tag, size)) {
            super::sys::prefetch((s as *const Slot<A>).cast::<u8>(), Self::window() * std::mem::size_of::<Slot<A>>());
        }
    }

    /// Looks up a connection without locking (falling back to the lock
    /// after a few collisions with writers), reading only what its key
    /// does not say: fewer loads and fewer instructions after the slot's
    /// cache miss, so that more of the next look-ups fit in the CPU's
    /// reorder window and their misses overlap this one.
    #[inline]
    pub(crate) fn lookup_hit(&self, tag: u32, k: &Key<A>) -> Option<Hit<A>> {
        self.lookup_map(tag, k, Slot::hit)
    }

    /// Looks up a connection's server without locking: its address, port
    /// and flags, three words of an IPv4 slot (six of an IPv6 one).
    #[inline]
    pub(crate) fn lookup_dest(&self, tag: u32, k: &Key<A>) -> Option<(A, u16, u16)> {
        self.lookup_map(tag, k, Slot::dest_words)
    }

    /// The lock-free look-up, reading what `read` takes of the slot found.
    #[inline]
    fn lookup_map<R>(&self, tag: u32, k: &Key<A>, read: impl Fn(&Slot<A>) -> R) -> Option<R> {
        for _ in 0..8 {
            let s1 = self.seq.load(Acquire);
            if s1 & 1 == 1 {
                std::hint::spin_loop();
                continue;
            }
            let r = self.find_key(tag, k, |_, s| read(s));
            fence(Acquire);
            if self.seq.load(Relaxed) == s1 {
                return r;
            }
        }
        let _g = self.inner.lock();
        // The same answer as `find_key` (its test checks that) without a
        // second inlined copy of the window in this rare path.
        self.probe(tag, |_, s| s.is(k).then(|| read(s)))
    }

    /// The earliest due tick (widened against `reference`) among the
    /// connections tagged `tag`; the caller holds the lock.
    pub(crate) fn min_due(&self, tag: u32, reference: u64) -> Option<u64> {
        let mut best: Option<u64> = None;
        self.probe(tag, |_, s| {
            let due = super::time::widen(reference, s.last_used.load(Relaxed).wrapping_add(s.timeout.load(Relaxed)));
            best = Some(best.map_or(due, |b| b.min(due)));
            None::<()>
        });
        best
    }

    /// Locks the shard for writing.
    #[inline]
    pub(crate) fn write(&self) -> Writer<'_, A> {
        Writer { sh: self, g: self.inner.lock() }
    }
}

/// A slot found under a shard's lock ([`Writer::find_entry`],
/// [`Writer::find_by`]): its index and the slot itself, so that writing the
/// entry back needs no second walk from the index to the slot's segment.
/// Slot memory is never freed or moved while its shard lives (a shard grows
/// by adding segments), so holding one is always memory-safe. It names the
/// right entry only while the lock it was found under is held, and only
/// until the next insert, removal or growth under that lock (each can move
/// entries between slots); `Writer::set` and `Writer::touch` check in debug
/// builds that it is this shard's slot.
#[derive(Clone, Copy)]
pub(crate) struct At<'a, A: Addr> {
    /// The slot's index in the shard.
    pub i: u32,
    slot: &'a Slot<A>,
}

/// A locked shard: the only way to change slots.
pub(crate) struct Writer<'a, A: Addr> {
    sh: &'a Shard<A>,
    pub g: parking_lot::MutexGuard<'a, Inner<A>>,
}

impl<'a, A: Addr> Writer<'a, A> {
    #[inline]
    fn begin(&self) {
        let s = self.sh.seq.load(Relaxed);
        self.sh.seq.store(s.wrapping_add(1), Relaxed);
        fence(Release);
    }

    #[inline]
    fn end(&self) {
        let s = self.sh.seq.load(Relaxed);
        self.sh.seq.store(s.wrapping_add(1), Release);
    }

    /// The slot index of connection (proto, caddr, cport, vaddr, vport).
    #[inline]
    pub(crate) fn find(&self, tag: u32, k: &Key<A>) -> Option<u32> {
        self.sh.find_key(tag, k, |i, _| i)
    }

    /// The slot of connection `k` and its entry, read in the probe that
    /// finds it (no second walk to the slot).
    #[inline]
    pub(crate) fn find_entry(&self, tag: u32, k: &Key<A>) -> Option<(At<'a, A>, Entry<A>)> {
        self.sh.find_key(tag, k, |i, slot| (At { i, slot }, slot.load_keyed(tag, k)))
    }

    /// The first slot in `tag`'s run for which `pred` holds, and its entry.
    #[inline]
    pub(crate) fn find_by(&self, tag: u32, mut pred: impl FnMut(&Entry<A>) -> bool) -> Option<(At<'a, A>, Entry<A>)> {
        self.sh.probe(tag, |i, slot| {
            let e = slot.load();
            pred(&e).then_some((At { i, slot }, e))
        })
    }

    /// Every slot index holding tag `tag`.
    pub(crate) fn all_with_tag(&self, tag: u32, out: &mut Vec<u32>) {
        out.clear();
        self.sh.probe(tag, |i, _| {
            out.push(i);
            None::<()>
        });
    }

    /// The entry in slot `i`.
    #[inline]
    pub(crate) fn get(&self, i: u32) -> Entry<A> {
        self.sh.slot(i).map(Slot::load).unwrap_or_default()
    }

    /// Rewrites the entry in the slot `at` found (its key must not change).
    #[inline]
    pub(crate) fn set(&self, at: At<'_, A>, e: &Entry<A>) {
        debug_assert!(self.sh.slot(at.i).is_some_and(|s| std::ptr::eq(s, at.slot)));
        debug_assert!(at.slot.load().key() == e.key());
        self.begin();
        at.slot.store(e);
        self.end();
    }

    /// Sets only the last-used tick of the slot `at` found: a single word,
    /// so readers see the old or the new value and need no sequence change.
    #[inline]
    pub(crate) fn touch(&self, at: At<'_, A>, last_used: u32) {
        debug_assert!(self.sh.slot(at.i).is_some_and(|s| std::ptr::eq(s, at.slot)));
        at.slot.last_used.store(last_used, Relaxed);
    }

    /// Inserts `e` (whose key must not be present), growing the shard first
    /// if it would pass 3/4 full. Returns the slot it landed in, or `None`
    /// when the shard is at its largest size and full.
    pub(crate) fn insert(&mut self, e: Entry<A>) -> Option<u32> {
        let size = self.sh.size();
        if self.g.len as u64 + 1 > holds(size) {
            if size >= MAX_SLOTS {
                return None;
            }
            self.grow(next_size(size));
        }
        self.begin();
        let at = self.place(e);
        self.end();
        self.g.len += 1;
        Some(at)
    }

    /// Robin Hood placement; returns where `e` itself landed.
    fn place(&self, e: Entry<A>) -> u32 {
        let size = self.sh.size();
        let mut cur = e;
        let mut i = home(cur.tag, size);
        let mut d = 0u32;
        let mut landed = None;
        loop {
            let Some(s) = self.sh.slot(i) else { return u32::MAX };
            let t = s.tag();
            if t == 0 {
                s.store(&cur);
                return landed.unwrap_or(i);
            }
            let h = home(t, size);
            let rd = if i >= h { i - h } else { i + size - h };
            if rd < d {
                let resident = s.load();
                s.store(&cur);
                landed.get_or_insert(i);
                cur = resident;
                d = rd;
            }
            i += 1;
            if i == size {
                i = 0;
            }
            d += 1;
        }
    }

    /// Rehashes every entry into `size` slots.
    fn grow(&mut self, size: u32) {
        self.sh.allocate(size, false);
        let old = self.sh.size();
        let mut all = Vec::with_capacity(self.g.len as usize);
        self.begin();
        for i in 0..old {
            if let Some(s) = self.sh.slot(i) {
                if s.tag() != 0 {
                    all.push(s.load());
                    s.tag.store(0, Relaxed);
                }
            }
        }
        self.sh.size.store(size, Relaxed);
        for e in all {
            self.place(e);
        }
        self.end();
    }

    /// Removes the entry in slot `i` (backward-shift deletion) and returns it.
    pub(crate) fn remove(&mut self, i: u32) -> Entry<A> {
        let size = self.sh.size();
        let removed = self.get(i);
        self.begin();
        let mut i = i;
        loop {
            let j = if i + 1 == size { 0 } else { i + 1 };
            let (Some(si), Some(sj)) = (self.sh.slot(i), self.sh.slot(j)) else { break };
            let t = sj.tag();
            if t == 0 || home(t, size) == j {
                si.tag.store(0, Relaxed);
                break;
            }
            si.store(&sj.load());
            i = j;
        }
        self.end();
        self.g.len -= 1;
        removed
    }

    /// Calls `f` with every entry (slot order).
    pub(crate) fn for_each(&self, mut f: impl FnMut(u32, Entry<A>)) {
        for i in 0..self.sh.size() {
            if let Some(s) = self.sh.slot(i) {
                if s.tag() != 0 {
                    f(i, s.load());
                }
            }
        }
    }

    /// Files timer handle `item` for tick `due` from the packet path. The
    /// wheel is lazy (a handle is not taken back when its entry goes or its
    /// time moves), so stale handles can pile up when clients open and close
    /// connections faster than their timers run out; once the wheel holds
    /// more than twice as many handles as the shard has entries (plus 64),
    /// it is rebuilt with one handle per entry. Each rebuild costs O(slots)
    /// and drops at least half the handles, so filing stays amortised O(1)
    /// and the wheel never holds more than 2 × entries + 64 handles after a
    /// filing.
    pub(crate) fn file(&mut self, item: u32, due: u64) {
        self.g.wheel.insert(item, due);
        let live = self.g.len as usize + self.g.templates.len();
        if self.g.wheel.len() > 2 * live + 64 {
            self.rebuild_wheel();
        }
    }

    /// Replaces the wheel by one with exactly one handle per connection and
    /// template, at its due tick.
    pub(crate) fn rebuild_wheel(&mut self) {
        let current = self.g.wheel.current();
        let mut wheel = Wheel::new(current);
        self.for_each(|_, e| wheel.insert(e.tag, widen(current, e.due32())));
        for (idx, tp) in self.g.templates.iter() {
            wheel.insert(template_item(idx, tp.generation), widen(current, tp.due32()));
        }
        self.g.wheel = wheel;
    }

    /// Publishes the wheel's next event for `poll_timeout`.
    pub(crate) fn publish_next_event(&self) {
        let t = self.g.wheel.next_event().unwrap_or(u64::MAX);
        self.sh.next_event.store(t, Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key<A>(proto: u8, caddr: A, cport: u16, vaddr: A, vport: u16) -> Key<A> {
        Key { proto, caddr, cport, vaddr, vport }
    }
    use crate::ipvs::conn::table::conn_tag;

    fn entry(tag: u32, caddr: u32, cport: u16) -> Entry<u32> {
        Entry { tag: tag | 0x8000_0000, caddr, cport, vaddr: 1, vport: 80, proto: 6, ..Default::default() }
    }

    #[test]
    fn segments_cover_sizes() {
        assert_eq!(locate(0), (0, 0));
        assert_eq!(locate(63), (0, 63));
        assert_eq!(locate(64), (1, 0));
        assert_eq!(locate(95), (1, 31));
        assert_eq!(locate(96), (2, 0));
        assert_eq!(locate(127), (2, 31));
        assert_eq!(locate(128), (3, 0));
        assert_eq!(locate(192), (4, 0));
        assert_eq!(locate(MAX_SLOTS - 1).0, SEGMENTS - 1);
        let mut total = 0;
        for k in 0..SEGMENTS {
            total += segment_len(k);
        }
        assert_eq!(total, MAX_SLOTS as usize);
        let sizes: Vec<u32> = std::iter::successors(Some(64u32), |&n| Some(next_size(n))).take(8).collect();
        assert_eq!(sizes, [64, 96, 128, 192, 256, 384, 512, 768]);
        // Every slot index maps to its place in the segments laid end to
        // end.
        let (mut k, mut start) = (0, 0u32);
        for i in 0..MAX_SLOTS {
            if i - start == segment_len(k) as u32 {
                (k, start) = (k + 1, i);
            }
            assert_eq!(locate(i), (k, (i - start) as usize), "{i}");
        }
    }

    #[test]
    fn insert_find_remove_with_growth() {
        insert_find_remove(None);
    }

    #[test]
    #[cfg(all(feature = "huge-pages", target_os = "linux"))]
    fn insert_find_remove_with_growth_on_huge_pages() {
        let arena = Arc::new(HugeArena::default());
        insert_find_remove(Some(arena.clone()));
        // The larger segments came from the arena, the small ones did not.
        assert!(arena.used_bytes() >= 1024 * std::mem::size_of::<Slot<u32>>(), "{}", arena.used_bytes());
        assert!(arena.used_bytes() < 4096 * std::mem::size_of::<Slot<u32>>());
    }

    #[test]
    #[cfg(all(feature = "huge-pages", target_os = "linux"))]
    fn presized_shards_take_every_segment_from_the_arena() {
        let slot = std::mem::size_of::<Slot<u32>>();
        // 2 304 connections: 4 096 slots, 160 KiB, all of them on huge pages.
        let arena = Arc::new(HugeArena::default());
        let sh: Shard<u32> = Shard::new(2304, 0, Some(arena.clone()));
        assert_eq!(sh.size(), 4096);
        assert_eq!(arena.used_bytes(), 4096 * slot);
        // One fewer: 3 072 slots, under 128 KiB: the first 1 024 stay on
        // the heap, as a shard that grows keeps them.
        let arena = Arc::new(HugeArena::default());
        let sh: Shard<u32> = Shard::new(2303, 0, Some(arena.clone()));
        assert_eq!(sh.size(), 3072);
        assert_eq!(arena.used_bytes(), (3072 - 1024) * slot);
        // Growth past the pre-sized slots takes only large segments, and
        // the shard still finds what it holds.
        let arena = Arc::new(HugeArena::default());
        let sh: Shard<u32> = Shard::new(2304, 0, Some(arena.clone()));
        let h = KeyedHash::new(9);
        let mut w = sh.write();
        for c in 0..4000u32 {
            w.insert(entry(conn_tag(u32::hash(&h, 6, c, 1000)), c, 1000)).unwrap();
        }
        assert_eq!(w.sh.size(), 6144);
        assert_eq!(arena.used_bytes(), 6144 * slot);
        for c in 0..4000u32 {
            assert!(w.find(conn_tag(u32::hash(&h, 6, c, 1000)), &key(6, c, 1000, 1, 80)).is_some(), "{c}");
        }
    }

    fn insert_find_remove(arena: Option<Arc<HugeArena>>) {
        let sh: Shard<u32> = Shard::new(0, 0, arena);
        let h = KeyedHash::new(7);
        let mut w = sh.write();
        let mut keys = Vec::new();
        for c in 0..2000u32 {
            let tag = conn_tag(u32::hash(&h, 6, c, 1000));
            keys.push((tag, c));
            assert!(w.find(tag, &key(6, c, 1000, 1, 80)).is_none());
            let at = w.insert(entry(tag, c, 1000)).unwrap();
            assert_eq!(w.get(at).caddr, c);
        }
        assert_eq!(w.g.len, 2000);
        assert!(sh.size() as u64 >= 2000 * FILL_DEN / FILL_NUM);
        for &(tag, c) in &keys {
            let i = w.find(tag, &key(6, c, 1000, 1, 80)).expect("present");
            assert_eq!(w.get(i).caddr, c);
        }
        for &(tag, c) in keys.iter().step_by(2) {
            let i = w.find(tag, &key(6, c, 1000, 1, 80)).unwrap();
            assert_eq!(w.remove(i).caddr, c);
        }
        for (n, &(tag, c)) in keys.iter().enumerate() {
            assert_eq!(w.find(tag, &key(6, c, 1000, 1, 80)).is_some(), n % 2 == 1, "{c}");
        }
        drop(w);
        for (n, &(tag, c)) in keys.iter().enumerate() {
            assert_eq!(sh.lookup_hit(tag, &key(6, c, 1000, 1, 80)).is_some(), n % 2 == 1);
        }
    }

    /// `Addr::socket` is `SocketAddr::new` of `to_ip`, in both families.
    #[test]
    fn socket_is_the_ip_and_port() {
        for (a, p) in [(0u32, 0u16), (0xc633_640a, 8080), (u32::MAX, u16::MAX)] {
            assert_eq!(a.socket(p), SocketAddr::new(a.to_ip(), p));
        }
        for (a, p) in [(0u128, 0u16), (0x2001_0db8 << 96 | 0x10, 443), (u128::MAX, u16::MAX)] {
            assert_eq!(a.socket(p), SocketAddr::new(a.to_ip(), p));
        }
    }

    /// `find_key`'s window (tags compared together, a miss ended by an
    /// empty slot in it) answers as the plain walk does, in both families
    /// (windows of four and of two slots): random tags, a quarter of them
    /// shared by several keys, on shards at their fullest, after inserts
    /// and after removals, for present and absent keys alike; and runs
    /// built to start in the last slots of a segment and of the table,
    /// where the window would cross into the next segment or wrap, and the
    /// walk answers instead.
    #[test]
    fn find_key_agrees_with_the_walk() {
        find_key_agrees::<u32>();
        find_key_agrees::<u128>();
    }

    fn find_key_agrees<A: Addr>() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let entry = |tag: u32, c: u32| Entry::<A> {
            tag,
            caddr: A::from_mark(c),
            cport: 7,
            vaddr: A::from_mark(1),
            vport: 80,
            proto: 6,
            ..Default::default()
        };
        // Every key agrees with the walk; `gone(n)`: key n was removed.
        let check = |w: &Writer<'_, A>, keys: &[(u32, Key<A>)], gone: &dyn Fn(usize) -> bool, what: &str| {
            for (n, (tag, k)) in keys.iter().enumerate() {
                let walk = w.sh.probe(*tag, |i, s| s.is(k).then_some(i));
                assert_eq!(w.find(*tag, k), walk, "{what}, key {n}");
                assert_eq!(walk.is_none(), gone(n), "{what}, key {n}");
                assert_eq!(w.find(*tag, &Key { cport: 8, ..*k }), None, "{what}, key {n}");
            }
        };
        for round in 0..40 {
            let sh: Shard<A> = Shard::new(0, 0, None);
            let mut w = sh.write();
            let n = [40, 70, 140, 280, 570][round % 5];
            let mut keys: Vec<(u32, Key<A>)> = Vec::new();
            for c in 0..n as u32 {
                let tag = match keys.len() {
                    l if l > 0 && next() % 4 == 0 => keys[next() as usize % l].0,
                    _ => next() as u32 | 0x8000_0000,
                };
                let e = entry(tag, c);
                keys.push((tag, e.key()));
                w.insert(e).unwrap();
            }
            let what = format!("round {round}");
            check(&w, &keys, &|_| false, &what);
            for (tag, k) in keys.iter().step_by(3) {
                let i = w.find(*tag, k).unwrap();
                w.remove(i);
            }
            check(&w, &keys, &|n| n % 3 == 0, &what);
            drop(w);
            for (n, (tag, k)) in keys.iter().enumerate() {
                assert_eq!(sh.lookup_hit(*tag, k).is_some(), n % 3 != 0);
            }
        }
        // A shard of 192 slots (segments end at 64, 96, 128 and 192): runs
        // whose home is one of the last three slots of segment 0, of
        // segment 1 and of the table.
        let sh: Shard<A> = Shard::new(100, 0, None);
        assert_eq!(sh.size(), 192);
        let tag_at = |home: u32, salt: u32| (((home as u64) << 31).div_ceil(192) as u32 + salt) | 0x8000_0000;
        let mut w = sh.write();
        let mut keys: Vec<(u32, Key<A>)> = Vec::new();
        for (c, h) in [61u32, 62, 63, 93, 94, 95, 189, 190, 191].into_iter().cycle().take(27).enumerate() {
            let tag = tag_at(h, c as u32 / 9);
            assert_eq!(home(tag, 192), h);
            let e = entry(tag, c as u32);
            keys.push((tag, e.key()));
            w.insert(e).unwrap();
        }
        assert_eq!(sh.size(), 192, "no growth");
        check(&w, &keys, &|_| false, "segment and table ends");
        for (tag, k) in keys.iter().step_by(2) {
            let i = w.find(*tag, k).unwrap();
            w.remove(i);
        }
        check(&w, &keys, &|n| n % 2 == 0, "segment and table ends, after removals");
    }

    #[test]
    fn colliding_tags_share_a_run() {
        // Same tag (same client endpoint) to different virtual services.
        let sh: Shard<u32> = Shard::new(0, 0, None);
        let mut w = sh.write();
        for v in 0..10u32 {
            let mut e = entry(5, 9, 9);
            e.vaddr = v;
            w.insert(e).unwrap();
        }
        let mut all = Vec::new();
        w.all_with_tag(5 | 0x8000_0000, &mut all);
        assert_eq!(all.len(), 10);
        for v in 0..10u32 {
            assert!(w.find(5 | 0x8000_0000, &key(6, 9, 9, v, 80)).is_some());
        }
        let i = w.find(5 | 0x8000_0000, &key(6, 9, 9, 3, 80)).unwrap();
        w.remove(i);
        assert!(w.find(5 | 0x8000_0000, &key(6, 9, 9, 3, 80)).is_none());
        w.all_with_tag(5 | 0x8000_0000, &mut all);
        assert_eq!(all.len(), 9);
    }

    #[test]
    fn concurrent_readers_see_consistent_entries() {
        concurrent_readers(None);
    }

    #[test]
    fn concurrent_readers_see_consistent_entries_on_huge_pages() {
        concurrent_readers(Some(Arc::new(HugeArena::default())));
    }

    fn concurrent_readers(arena: Option<Arc<HugeArena>>) {
        let sh: Arc<Shard<u32>> = Arc::new(Shard::new(0, 0, arena));
        let h = KeyedHash::new(3);
        let tag = move |c: u32| conn_tag(u32::hash(&h, 6, c, 7));
        // Keys 0..100 stay; 1000.. churn (inserted and removed, forcing growth).
        {
            let mut w = sh.write();
            for c in 0..100 {
                let mut e = entry(tag(c), c, 7);
                e.daddr = c * 3;
                w.insert(e).unwrap();
            }
        }
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let started = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let reader = {
            let sh = Arc::clone(&sh);
            let (stop, started) = (Arc::clone(&stop), Arc::clone(&started));
            std::thread::spawn(move || {
                let mut n = 0u64;
                loop {
                    for c in 0..100 {
                        let e = sh.lookup_hit(tag(c), &key(6, c, 7, 1, 80)).expect("stable key present");
                        assert_eq!(e.daddr, c * 3);
                        n += 1;
                    }
                    started.store(true, Relaxed);
                    if stop.load(Relaxed) {
                        return n;
                    }
                }
            })
        };
        // The churn starts once the reader is reading (else a fast writer
        // could finish before the reader's first look-up).
        while !started.load(Relaxed) {
            // A reader that failed during its first pass never sets the
            // flag: report its panic instead of waiting for ever.
            if reader.is_finished() {
                reader.join().expect("reader's first pass");
                unreachable!("the reader returns only after stop");
            }
            std::thread::yield_now();
        }
        for round in 0..50u32 {
            let mut w = sh.write();
            for c in 1000 + round * 100..1100 + round * 100 {
                w.insert(entry(tag(c), c, 7)).unwrap();
            }
            for c in 1000 + round * 100..1050 + round * 100 {
                let i = w.find(tag(c), &key(6, c, 7, 1, 80)).unwrap();
                w.remove(i);
            }
        }
        stop.store(true, Relaxed);
        assert!(reader.join().unwrap() > 0);
    }
}
