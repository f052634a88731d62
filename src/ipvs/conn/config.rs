//! How a connection table is built ([`ConnTableConfig`]) and the kernel
//! switches that change its behaviour at run time ([`Sysctls`], the
//! `net.ipv4.vs.*` sysctls of `ip_vs_ctl.c` that concern connections).

use std::sync::atomic::{AtomicU32, Ordering::Relaxed};

use super::error::ConnError;

/// The kernel's `net.ipv4.vs.*` switches that govern connection entries.
/// All default to the kernel's defaults (`ip_vs_control_net_init_sysctl`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Sysctls {
    /// `conn_reuse_mode` (default 1): when a SYN (or SCTP INIT) arrives for a
    /// connection in TIME_WAIT or CLOSE (SCTP: CLOSED) that no template
    /// controls, expire it and schedule afresh; bit 2 also does so for
    /// FIN_WAIT connections that never saw a reply (DR, tunnel). 0 keeps the
    /// old connection.
    pub conn_reuse_mode: u8,
    /// `expire_nodest_conn` (default off): a packet of a connection whose
    /// real server was removed expires it and is scheduled anew (instead of
    /// dropped), and so does a SYN for a connection whose server has weight
    /// 0.
    pub expire_nodest_conn: bool,
    /// `expire_quiescent_template` (default off): a persistence template
    /// whose server has weight 0 is invalidated on its next use.
    pub expire_quiescent_template: bool,
    /// `secure_tcp` at level 3 (default off): use the TCP state tables that
    /// resist SYN floods. The kernel's levels 1 and 2 switch these tables on
    /// only while memory is low; a library has no such signal, so this is
    /// the switch itself.
    pub secure_tcp: bool,
    /// `sloppy_tcp` (default off): schedule a new connection on any TCP
    /// packet but RST, not only on SYN.
    pub sloppy_tcp: bool,
    /// `sloppy_sctp` (default off): schedule a new association on any SCTP
    /// packet but ABORT, not only on INIT.
    pub sloppy_sctp: bool,
}

impl Default for Sysctls {
    fn default() -> Self {
        Sysctls {
            conn_reuse_mode: 1,
            expire_nodest_conn: false,
            expire_quiescent_template: false,
            secure_tcp: false,
            sloppy_tcp: false,
            sloppy_sctp: false,
        }
    }
}

impl Sysctls {
    /// Checks the values (`conn_reuse_mode` is a two-bit field).
    pub fn validate(&self) -> Result<(), ConnError> {
        if self.conn_reuse_mode > 3 {
            return Err(ConnError::BadConnReuseMode { value: self.conn_reuse_mode });
        }
        Ok(())
    }

    fn pack(&self) -> u32 {
        (self.conn_reuse_mode as u32 & SysBits::REUSE)
            | if self.expire_nodest_conn { SysBits::NODEST } else { 0 }
            | if self.expire_quiescent_template { SysBits::QUIESCENT } else { 0 }
            | if self.secure_tcp { SysBits::SECURE_TCP } else { 0 }
            | if self.sloppy_tcp { SysBits::SLOPPY_TCP } else { 0 }
            | if self.sloppy_sctp { SysBits::SLOPPY_SCTP } else { 0 }
    }

    fn unpack(w: u32) -> Self {
        let b = SysBits(w);
        Sysctls {
            conn_reuse_mode: b.conn_reuse_mode(),
            expire_nodest_conn: b.expire_nodest_conn(),
            expire_quiescent_template: b.expire_quiescent_template(),
            secure_tcp: b.secure_tcp(),
            sloppy_tcp: b.sloppy_tcp(),
            sloppy_sctp: b.sloppy_sctp(),
        }
    }
}

/// The sysctls as packed in the table's word, passed by value on the data
/// path and read one switch at a time: a packet reads only the switches its
/// path consults instead of decoding all six into a [`Sysctls`] first.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SysBits(u32);

impl SysBits {
    const REUSE: u32 = 3;
    const NODEST: u32 = 1 << 2;
    const QUIESCENT: u32 = 1 << 3;
    const SECURE_TCP: u32 = 1 << 4;
    const SLOPPY_TCP: u32 = 1 << 5;
    const SLOPPY_SCTP: u32 = 1 << 6;

    /// `conn_reuse_mode`, two bits.
    #[inline]
    pub(crate) fn conn_reuse_mode(self) -> u8 {
        (self.0 & Self::REUSE) as u8
    }

    /// `expire_nodest_conn`.
    #[inline]
    pub(crate) fn expire_nodest_conn(self) -> bool {
        self.0 & Self::NODEST != 0
    }

    /// `expire_quiescent_template`.
    #[inline]
    pub(crate) fn expire_quiescent_template(self) -> bool {
        self.0 & Self::QUIESCENT != 0
    }

    /// `secure_tcp` (level 3).
    #[inline]
    pub(crate) fn secure_tcp(self) -> bool {
        self.0 & Self::SECURE_TCP != 0
    }

    /// `sloppy_tcp`.
    #[inline]
    pub(crate) fn sloppy_tcp(self) -> bool {
        self.0 & Self::SLOPPY_TCP != 0
    }

    /// `sloppy_sctp`.
    #[inline]
    pub(crate) fn sloppy_sctp(self) -> bool {
        self.0 & Self::SLOPPY_SCTP != 0
    }
}

/// The sysctls in one atomic word, so that data-plane threads read them
/// without a lock.
#[derive(Debug)]
pub(crate) struct AtomicSysctls(AtomicU32);

impl AtomicSysctls {
    pub(crate) fn new(s: Sysctls) -> Self {
        AtomicSysctls(AtomicU32::new(s.pack()))
    }

    #[inline]
    pub(crate) fn load(&self) -> Sysctls {
        Sysctls::unpack(self.0.load(Relaxed))
    }

    /// The packed word, for the data path.
    #[inline]
    pub(crate) fn bits(&self) -> SysBits {
        SysBits(self.0.load(Relaxed))
    }

    pub(crate) fn store(&self, s: Sysctls) {
        self.0.store(s.pack(), Relaxed);
    }
}

/// How to build a [`ConnTable`](super::ConnTable).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnTableConfig {
    /// The most entries (connections and persistence templates together) the
    /// table holds; a packet that would need one more is dropped with
    /// [`DropReason::TableFull`](super::DropReason::TableFull). The kernel
    /// has no such limit (only memory); this makes the limit explicit.
    pub max_entries: usize,
    /// Number of independently locked shards, a power of two in 1..=4096.
    /// More shards mean less contention between data-plane threads and a
    /// little more fixed memory (about 1 KiB each when empty).
    pub shards: usize,
    /// Seed for the keyed hash that spreads connections over shards and
    /// slots. `None` (the default) draws one from the operating system's
    /// random source when the table is built, as the kernel draws
    /// `ip_vs_conn_rnd` at boot, so that clients cannot choose addresses and
    /// ports that all land in one probe run (hash flooding). A fixed seed
    /// makes placement reproducible, for tests. The OS draw is the one place
    /// the sans-IO core reads the environment, once at construction (as
    /// quinn-proto's default endpoint config draws its reset key); embedders
    /// who want none pass a seed of their own.
    pub seed: Option<u64>,
    /// Connections expected, to size the shards up front (like
    /// `HashMap::with_capacity`); 0 grows from empty.
    pub capacity: usize,
    /// The initial sysctls.
    pub sysctls: Sysctls,
    /// Whether large slot segments (16 KiB and more: with 256 shards, the
    /// slots past the first 1 024 of each shard, so from about 200 000 IPv4
    /// or 100 000 IPv6 connections on) are mapped on transparent huge pages
    /// (2 MiB-aligned anonymous memory advised `MADV_HUGEPAGE`) instead of
    /// taken from the global allocator. A table sized up front with
    /// [`capacity`](Self::capacity) to 128 KiB of IPv4 slots per shard or
    /// more (2 304 connections per shard: about 590 000 with 256 shards)
    /// takes the small first segments of its IPv4 shards from huge pages
    /// too. Slots are read at random, one cache
    /// line per look-up, and on 4 KiB pages nearly every such read of a
    /// large table also misses the TLB; on 2 MiB pages it does not.
    ///
    /// The kernel honours the advice when
    /// `/sys/kernel/mm/transparent_hugepage/enabled` is `always` or
    /// `madvise`, and falls back to small pages otherwise. Memory becomes
    /// resident 2 MiB at a time as slots are first written (at most one
    /// partly used huge page per mapping). The mappings grow geometrically
    /// up to 256 MiB each, then one per 256 MiB. Each mapping is charged in
    /// full against the commit limit when it is made, so under strict
    /// overcommit (`vm.overcommit_memory = 2`) a table can be charged up to
    /// about twice the slot memory it uses; a mapping the system refuses
    /// makes that segment come from the global allocator instead. With THP's
    /// default `defrag` setting (`madvise`), a first write to a huge page
    /// may compact memory directly, which can stall the growth of a shard
    /// (under its lock) when memory is fragmented; size the table with
    /// [`capacity`](Self::capacity) to do that work up front, or turn this
    /// off. Only with the `huge-pages` feature, on Linux: otherwise segments
    /// come from the global allocator whatever this says. Default `true`
    /// (the kernel's own table is on the slab, in the kernel's huge-page
    /// direct map).
    pub huge_pages: bool,
}

impl Default for ConnTableConfig {
    /// 16 Mi entries at most, 256 shards, a random seed, kernel sysctls,
    /// huge pages for large segments.
    fn default() -> Self {
        ConnTableConfig {
            max_entries: 16 << 20,
            shards: 256,
            seed: None,
            capacity: 0,
            sysctls: Sysctls::default(),
            huge_pages: true,
        }
    }
}

impl ConnTableConfig {
    /// Sets the entry limit.
    pub fn max_entries(mut self, n: usize) -> Self {
        self.max_entries = n;
        self
    }

    /// Sets the shard count.
    pub fn shards(mut self, n: usize) -> Self {
        self.shards = n;
        self
    }

    /// Sets a fixed hash seed (instead of a random one).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Sets the expected number of connections (at most
    /// [`max_capacity`](Self::max_capacity)).
    pub fn capacity(mut self, n: usize) -> Self {
        self.capacity = n;
        self
    }

    /// Sets the sysctls.
    pub fn sysctls(mut self, s: Sysctls) -> Self {
        self.sysctls = s;
        self
    }

    /// Sets whether large slot segments are mapped on transparent huge
    /// pages (see [`huge_pages`](Self::huge_pages)).
    pub fn huge_pages(mut self, on: bool) -> Self {
        self.huge_pages = on;
        self
    }

    /// The most connections the configured shards can hold (each shard
    /// grows to 2^23 slots, filled to 3/4), hence the largest `capacity`.
    pub fn max_capacity(&self) -> usize {
        self.shards.saturating_mul(super::store::holds(super::store::MAX_SLOTS) as usize)
    }

    /// Checks the configuration.
    pub fn validate(&self) -> Result<(), ConnError> {
        if !self.shards.is_power_of_two() || self.shards > 4096 {
            return Err(ConnError::BadShardCount { shards: self.shards });
        }
        if self.capacity > self.max_capacity() {
            return Err(ConnError::CapacityTooLarge {
                capacity: self.capacity,
                max: self.max_capacity(),
                shards: self.shards,
            });
        }
        self.sysctls.validate()
    }

    /// The seed to build with: the configured one, or a fresh random one.
    pub(crate) fn resolve_seed(&self) -> Result<u64, ConnError> {
        use rand::TryRng;
        match self.seed {
            Some(s) => Ok(s),
            None => rand::rngs::SysRng.try_next_u64().map_err(|e| ConnError::NoRandomSeed { reason: e.to_string() }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pack_round_trip() {
        for w in 0..128u32 {
            let s = Sysctls::unpack(w);
            assert_eq!(s.pack(), w);
        }
        assert_eq!(Sysctls::default().conn_reuse_mode, 1);
        assert!(ConnTableConfig::default().validate().is_ok());
        assert_eq!(ConnTableConfig::default().shards(3).validate(), Err(ConnError::BadShardCount { shards: 3 }));
        // Capacities beyond what the shards hold are refused, not sized.
        let one = ConnTableConfig::default().shards(1);
        assert_eq!(one.max_capacity(), 6 << 20);
        assert!(one.clone().capacity(6 << 20).validate().is_ok());
        assert_eq!(
            one.clone().capacity((6 << 20) + 1).validate(),
            Err(ConnError::CapacityTooLarge { capacity: (6 << 20) + 1, max: 6 << 20, shards: 1 })
        );
        assert!(matches!(one.capacity(usize::MAX).validate(), Err(ConnError::CapacityTooLarge { .. })));
        // The default seed is drawn at random; a fixed one is kept.
        assert_eq!(ConnTableConfig::default().seed, None);
        assert_eq!(ConnTableConfig::default().seed(5).resolve_seed(), Ok(5));
        let draws: Vec<u64> = (0..4).map(|_| ConnTableConfig::default().resolve_seed().unwrap()).collect();
        assert!(draws.windows(2).any(|w| w[0] != w[1]), "{draws:?}");
        let bad = Sysctls { conn_reuse_mode: 4, ..Sysctls::default() };
        assert_eq!(bad.validate(), Err(ConnError::BadConnReuseMode { value: 4 }));
    }
}
