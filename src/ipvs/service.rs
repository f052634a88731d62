//! Virtual services: their key, flags and persistence ([`ServiceConfig`], what
//! `ipvsadm -A/-E` carries) and the runtime [`Service`] that keeps its real
//! servers in the kernel's list order and drives its scheduler.
//!
//! List order matters: the kernel links a new real server at the *head* of
//! the service's list (`list_add_rcu` in `__ip_vs_update_dest`,
//! `net/netfilter/ipvs/ip_vs_ctl.c`), so the most recently added server comes
//! first. That order decides where rr starts and how every scheduler breaks
//! ties, so [`Service::dests`] keeps it.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use super::dest::{Dest, DestConfig, LoadWatch};
use super::flow::{Flow, Protocol};
use super::sched::{self, SchedError, SchedParams, SchedRequest, Scheduler};

/// An address family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    /// IPv4 (`AF_INET`).
    V4,
    /// IPv6 (`AF_INET6`).
    V6,
}

impl Family {
    /// The family of an address.
    pub const fn of(addr: IpAddr) -> Self {
        match addr {
            IpAddr::V4(_) => Family::V4,
            IpAddr::V6(_) => Family::V6,
        }
    }

    /// The Linux `AF_*` number (2 or 10).
    pub const fn af(self) -> u16 {
        match self {
            Family::V4 => 2,
            Family::V6 => 10,
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Family::V4 => "IPv4",
            Family::V6 => "IPv6",
        })
    }
}

/// What identifies a virtual service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ServiceKey {
    /// A service on an address and port (`-t`, `-u`, `--sctp-service`).
    Addr {
        /// Transport protocol.
        protocol: Protocol,
        /// Virtual address.
        addr: IpAddr,
        /// Virtual port; 0 only for persistent services (all ports).
        port: u16,
    },
    /// A firewall-mark service (`-f`).
    Fwmark {
        /// Address family the mark applies to.
        family: Family,
        /// The mark, non-zero.
        mark: u32,
    },
}

impl ServiceKey {
    /// A protocol/address/port service key.
    pub const fn addr(protocol: Protocol, addr: IpAddr, port: u16) -> Self {
        ServiceKey::Addr { protocol, addr, port }
    }

    /// A firewall-mark service key.
    pub const fn fwmark(family: Family, mark: u32) -> Self {
        ServiceKey::Fwmark { family, mark }
    }

    /// The service's address family.
    pub const fn family(&self) -> Family {
        match self {
            ServiceKey::Addr { addr, .. } => Family::of(*addr),
            ServiceKey::Fwmark { family, .. } => *family,
        }
    }
}

impl fmt::Display for ServiceKey {
    /// `TCP 192.0.2.1:80`, `UDP [2001:db8::1]:53`, `FWM 1`, `FWM 1 IPv6`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServiceKey::Addr { protocol, addr, port } => {
                write!(f, "{protocol} {}", SocketAddr::new(*addr, *port))
            }
            ServiceKey::Fwmark { family: Family::V4, mark } => write!(f, "FWM {mark}"),
            ServiceKey::Fwmark { family: Family::V6, mark } => write!(f, "FWM {mark} IPv6"),
        }
    }
}

/// Service flags (`IP_VS_SVC_F_*`, `include/uapi/linux/ip_vs.h`) that a user
/// sets: one-packet scheduling and the three scheduler flags. Persistence is
/// not here: it is [`ServiceConfig::persistence`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ServiceFlags(u32);

impl ServiceFlags {
    /// No flag.
    pub const EMPTY: Self = ServiceFlags(0);
    /// One-packet scheduling (`-o`, `ops`): every UDP datagram is scheduled
    /// on its own and no connection entry outlives it.
    pub const ONEPACKET: Self = ServiceFlags(0x0004);
    /// Scheduler flag 1 (`flag-1`).
    pub const SCHED1: Self = ServiceFlags(0x0008);
    /// Scheduler flag 2 (`flag-2`).
    pub const SCHED2: Self = ServiceFlags(0x0010);
    /// Scheduler flag 3 (`flag-3`).
    pub const SCHED3: Self = ServiceFlags(0x0020);
    /// `sh-fallback`: sh picks another server when the hashed one is unusable.
    pub const SH_FALLBACK: Self = Self::SCHED1;
    /// `sh-port`: sh hashes the source port too.
    pub const SH_PORT: Self = Self::SCHED2;
    /// `mh-fallback`: mh picks another server when the hashed one is unusable.
    pub const MH_FALLBACK: Self = Self::SCHED1;
    /// `mh-port`: mh hashes the source port too.
    pub const MH_PORT: Self = Self::SCHED2;

    /// The three scheduler flags (what `ipvsadm -b` sets).
    pub(crate) const SCHED_FLAGS: Self = Self::SCHED1.union(Self::SCHED2).union(Self::SCHED3);

    /// Flags from the kernel's bits, keeping only user-settable ones.
    pub const fn from_bits(bits: u32) -> Self {
        ServiceFlags(bits & 0x003c)
    }

    /// The kernel's bits.
    pub const fn bits(self) -> u32 {
        self.0
    }

    /// Whether every flag of `other` is set.
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// The union of both.
    pub const fn union(self, other: Self) -> Self {
        ServiceFlags(self.0 | other.0)
    }

    /// Whether no flag is set.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Whether any flag of `other` is set.
    pub(crate) const fn intersects(self, other: Self) -> bool {
        self.0 & other.0 != 0
    }

    /// These flags without those of `other`.
    pub(crate) const fn without(self, other: Self) -> Self {
        ServiceFlags(self.0 & !other.0)
    }

    /// Parses one scheduler flag name as `ipvsadm -b` takes it (`sh-fallback`,
    /// `sh-port`, `mh-fallback`, `mh-port`, `flag-1`, `flag-2`, `flag-3`) or
    /// `ops`.
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "sh-fallback" | "mh-fallback" | "flag-1" => Self::SCHED1,
            "sh-port" | "mh-port" | "flag-2" => Self::SCHED2,
            "flag-3" => Self::SCHED3,
            "ops" => Self::ONEPACKET,
            _ => return None,
        })
    }
}

impl std::ops::BitOr for ServiceFlags {
    type Output = Self;
    fn bitor(self, rhs: Self) -> Self {
        self.union(rhs)
    }
}

impl std::ops::BitOrAssign for ServiceFlags {
    fn bitor_assign(&mut self, rhs: Self) {
        *self = self.union(rhs);
    }
}

/// How persistence groups clients (`-M`): an IPv4 netmask, or an IPv6 prefix
/// length (the kernel keeps the prefix length in the same field).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PersistMask {
    /// IPv4 netmask, `255.255.255.255` by default.
    V4(Ipv4Addr),
    /// IPv6 prefix length 1..=128, 128 by default.
    V6(u8),
}

impl PersistMask {
    /// The default for a family: one client per template.
    pub const fn host(family: Family) -> Self {
        match family {
            Family::V4 => PersistMask::V4(Ipv4Addr::BROADCAST),
            Family::V6 => PersistMask::V6(128),
        }
    }

    /// The family the mask belongs to.
    pub const fn family(&self) -> Family {
        match self {
            PersistMask::V4(_) => Family::V4,
            PersistMask::V6(_) => Family::V6,
        }
    }

    /// `addr` with the mask applied (`ip_vs_addr_set` of the masked client
    /// in `ip_vs_sched_persist`). Addresses of the other family are
    /// returned unchanged.
    pub fn apply(&self, addr: IpAddr) -> IpAddr {
        match (self, addr) {
            (PersistMask::V4(mask), IpAddr::V4(a)) => IpAddr::V4(Ipv4Addr::from(u32::from(a) & u32::from(*mask))),
            (PersistMask::V6(plen), IpAddr::V6(a)) => {
                let bits = u128::from(a);
                let mask = if *plen == 0 { 0 } else { u128::MAX << (128 - u32::from((*plen).min(128))) };
                IpAddr::V6((bits & mask).into())
            }
            _ => addr,
        }
    }
}

/// The longest persistence timeout ipvsadm accepts, 31 days in seconds.
pub const MAX_PERSIST_TIMEOUT: u32 = 86400 * 31;

/// Persistence (`-p [timeout] [-M netmask]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Persistence {
    /// Template lifetime in seconds, 1..=2678400 (ipvsadm's default is 300).
    pub timeout: u32,
    /// Client grouping.
    pub mask: PersistMask,
}

impl Persistence {
    /// Persistence with ipvsadm's default timeout (300 s) and a host mask.
    pub const fn new(family: Family) -> Self {
        Persistence { timeout: 300, mask: PersistMask::host(family) }
    }
}

/// A virtual service as `ipvsadm -A/-E` describes it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ServiceConfig {
    /// What identifies the service.
    pub key: ServiceKey,
    /// Scheduler kernel name (`rr`, `wlc`, `mh` …).
    pub scheduler: String,
    /// One-packet and scheduler flags.
    pub flags: ServiceFlags,
    /// Persistence, if any.
    pub persistence: Option<Persistence>,
    /// Persistence engine (`--pe`, e.g. `sip`), if any.
    pub pe_name: Option<String>,
}

impl ServiceConfig {
    /// A service with no flags and no persistence.
    pub fn new(key: ServiceKey, scheduler: &str) -> Self {
        ServiceConfig {
            key,
            scheduler: scheduler.to_owned(),
            flags: ServiceFlags::EMPTY,
            persistence: None,
            pe_name: None,
        }
    }

    /// Sets flags.
    pub fn flags(mut self, flags: ServiceFlags) -> Self {
        self.flags = flags;
        self
    }

    /// Sets persistence.
    pub fn persistent(mut self, persistence: Persistence) -> Self {
        self.persistence = Some(persistence);
        self
    }

    /// Checks the service against the kernel's and ipvsadm's rules: a port 0
    /// only with persistence (ipvsadm; the kernel would log "port zero only
    /// supported in persistent services" and drop), a non-zero mark, a
    /// persistence mask of the service's family with an IPv6 prefix in
    /// 1..=128 (`ip_vs_add_service`), a timeout in 1..=31 days, a scheduler
    /// name the kernel knows.
    pub fn validate(&self) -> Result<(), ServiceError> {
        match self.key {
            ServiceKey::Addr { port: 0, .. } if self.persistence.is_none() => {
                return Err(ServiceError::PortZeroWithoutPersistence { service: self.key });
            }
            ServiceKey::Fwmark { mark: 0, .. } => return Err(ServiceError::FwmarkZero),
            _ => {}
        }
        if let Some(p) = &self.persistence {
            if p.mask.family() != self.key.family() {
                return Err(ServiceError::MaskFamily { service: self.key, mask: p.mask.family() });
            }
            if let PersistMask::V6(plen) = p.mask {
                if !(1..=128).contains(&plen) {
                    return Err(ServiceError::PrefixLength { service: self.key, plen });
                }
            }
            if !(1..=MAX_PERSIST_TIMEOUT).contains(&p.timeout) {
                return Err(ServiceError::PersistTimeout { service: self.key, timeout: p.timeout });
            }
        }
        if !sched::NAMES.contains(&self.scheduler.as_str()) {
            return Err(SchedError::Unknown { name: self.scheduler.clone() }.into());
        }
        Ok(())
    }
}

/// Why a service or real server was refused. Each variant names the object
/// and carries the offending numbers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ServiceError {
    /// Port 0 (all ports) is only allowed for persistent services.
    #[error("{service}: zero port specified for non-persistent service")]
    PortZeroWithoutPersistence {
        /// The service.
        service: ServiceKey,
    },
    /// A firewall-mark service needs a non-zero mark.
    #[error("firewall-mark service with mark 0")]
    FwmarkZero,
    /// The persistence mask is of the other family.
    #[error("{service}: {mask} persistence mask on a service of the other family")]
    MaskFamily {
        /// The service.
        service: ServiceKey,
        /// The mask's family.
        mask: Family,
    },
    /// IPv6 persistence prefix outside 1..=128.
    #[error("{service}: IPv6 persistence prefix length {plen} is outside 1..=128")]
    PrefixLength {
        /// The service.
        service: ServiceKey,
        /// The prefix length given.
        plen: u8,
    },
    /// Persistence timeout outside 1..=2678400 seconds.
    #[error("{service}: persistence timeout {timeout} s is outside 1..=2678400")]
    PersistTimeout {
        /// The service.
        service: ServiceKey,
        /// The timeout given.
        timeout: u32,
    },
    /// Weight above 65535.
    #[error("real server {dest}: weight {weight} is outside 0..=65535")]
    WeightOutOfRange {
        /// The real server.
        dest: SocketAddr,
        /// The weight given.
        weight: u32,
    },
    /// Lower threshold above the upper one (the kernel's `ERANGE`).
    #[error("real server {dest}: lower threshold {lower} is higher than upper threshold {upper}")]
    ThresholdOrder {
        /// The real server.
        dest: SocketAddr,
        /// Lower threshold.
        lower: u32,
        /// Upper threshold.
        upper: u32,
    },
    /// Upper threshold above `INT_MAX` (the kernel's `EINVAL`).
    #[error("real server {dest}: upper threshold {upper} is above 2147483647")]
    ThresholdTooLarge {
        /// The real server.
        dest: SocketAddr,
        /// Upper threshold.
        upper: u32,
    },
    /// A real server of the other family, allowed only with tunnelling.
    #[error("real server {dest}: {server} server in an {service} service needs tunnel forwarding")]
    MixedFamily {
        /// The real server.
        dest: SocketAddr,
        /// The service's family.
        service: Family,
        /// The server's family.
        server: Family,
    },
    /// GUE tunnelling needs a port.
    #[error("real server {dest}: GUE tunnel with port 0")]
    GuePortZero {
        /// The real server.
        dest: SocketAddr,
    },
    /// The real server is already in the service (the kernel's `EEXIST`).
    #[error("real server {dest} already exists")]
    DestExists {
        /// The real server.
        dest: SocketAddr,
    },
    /// No such real server in the service (the kernel's `ENOENT`).
    #[error("no real server {dest}")]
    NoSuchDest {
        /// The real server.
        dest: SocketAddr,
    },
    /// The service key cannot change on an edit.
    #[error("cannot change service {from} into {to} by an edit")]
    KeyChanged {
        /// The existing key.
        from: ServiceKey,
        /// The key in the edit.
        to: ServiceKey,
    },
    /// The real server belongs to another service (only a server removed
    /// from this service can be restored into it).
    #[error("real server {dest} belongs to another service than {service}")]
    ForeignDest {
        /// The real server.
        dest: SocketAddr,
        /// The service it was offered to.
        service: ServiceKey,
    },
    /// The scheduler could not be built.
    #[error(transparent)]
    Sched(#[from] SchedError),
}

/// A virtual service at run time: its configuration, its real servers in
/// kernel list order (newest first), and its scheduler.
///
/// The service also carries the change queue through which its servers'
/// counters and overload flags reach an indexed scheduler (see
/// [`Scheduler::tracks_load`]): [`schedule`](Self::schedule) drains it before
/// each pick, so a pick always sees every change made before it.
///
/// Memory: the config, one `Arc<Dest>` and 12 bytes of bookkeeping per real
/// server, and the scheduler's own state (see each scheduler's doc).
#[derive(Debug)]
pub struct Service {
    config: ServiceConfig,
    dests: Vec<Arc<Dest>>,
    scheduler: Box<dyn Scheduler>,
    params: SchedParams,
    tracks_load: bool,
    watch: Arc<LoadWatch>,
    /// Per slot: the server's position counted from the tail of `dests`
    /// (stable when servers are added at the head), or `FREE_SLOT`.
    slot_tail: Vec<u32>,
    free_slots: Vec<u32>,
    /// Where drained slots land; swapped with the watch's queue.
    scratch: Vec<u32>,
}

const FREE_SLOT: u32 = u32::MAX;

impl Service {
    /// Builds a service after validating it; `seed` seeds the scheduler's
    /// RNG (only twos draws from it). Other scheduler parameters take their
    /// kernel defaults.
    pub fn new(config: ServiceConfig, seed: u64) -> Result<Self, ServiceError> {
        Self::with_params(config, SchedParams { seed, ..SchedParams::default() })
    }

    /// Builds a service with explicit scheduler parameters.
    pub fn with_params(config: ServiceConfig, params: SchedParams) -> Result<Self, ServiceError> {
        config.validate()?;
        let scheduler = Self::build_scheduler(&config, &params, &[])?;
        Ok(Service {
            tracks_load: scheduler.tracks_load(),
            config,
            dests: Vec::new(),
            scheduler,
            params,
            watch: Arc::new(LoadWatch::default()),
            slot_tail: Vec::new(),
            free_slots: Vec::new(),
            scratch: Vec::new(),
        })
    }

    fn build_scheduler(
        config: &ServiceConfig,
        params: &SchedParams,
        dests: &[Arc<Dest>],
    ) -> Result<Box<dyn Scheduler>, ServiceError> {
        let mut scheduler = sched::new(&config.scheduler, params)?;
        scheduler.set_family(config.key.family());
        scheduler.init(dests);
        Ok(scheduler)
    }

    /// The configuration.
    pub fn config(&self) -> &ServiceConfig {
        &self.config
    }

    /// The key.
    pub fn key(&self) -> ServiceKey {
        self.config.key
    }

    /// The scheduler parameters the service was built with.
    pub fn sched_params(&self) -> &SchedParams {
        &self.params
    }

    /// The real servers, most recently added first (the kernel's order).
    pub fn dests(&self) -> &[Arc<Dest>] {
        &self.dests
    }

    /// The scheduler.
    pub fn scheduler(&self) -> &dyn Scheduler {
        &*self.scheduler
    }

    /// Looks a real server up by address and port.
    pub fn dest(&self, addr: SocketAddr) -> Option<&Arc<Dest>> {
        self.dests.iter().find(|d| d.socket_addr() == addr)
    }

    fn index_of(&self, addr: SocketAddr) -> Option<usize> {
        self.dests.iter().position(|d| d.socket_addr() == addr)
    }

    /// Edits the service (`ipvsadm -E`): flags, persistence and scheduler. A
    /// new scheduler name binds a fresh scheduler over the current list, as
    /// `ip_vs_edit_service` does; the key cannot change.
    pub fn edit(&mut self, config: ServiceConfig) -> Result<(), ServiceError> {
        if config.key != self.config.key {
            return Err(ServiceError::KeyChanged { from: self.config.key, to: config.key });
        }
        config.validate()?;
        if config.scheduler != self.config.scheduler {
            // The new scheduler reads every server afresh: forget queued
            // changes and re-arm every server before it does.
            self.watch.clear();
            for d in &self.dests {
                d.rearm();
            }
            let scheduler = Self::build_scheduler(&config, &self.params, &self.dests)?;
            self.tracks_load = scheduler.tracks_load();
            self.scheduler = scheduler;
        }
        self.config = config;
        Ok(())
    }

    /// Gives `dest`, about to be linked at the head, a slot and arms its
    /// change notifications.
    fn adopt(&mut self, dest: &Dest) {
        let slot = match self.free_slots.pop() {
            Some(s) => s,
            None => {
                self.slot_tail.push(FREE_SLOT);
                (self.slot_tail.len() - 1) as u32
            }
        };
        self.slot_tail[slot as usize] = self.dests.len() as u32;
        let n = self.slot_tail.len() + 1;
        self.watch.reserve(n);
        self.scratch.reserve(n.saturating_sub(self.scratch.len()));
        dest.adopt(&self.watch, slot);
    }

    /// Adds a real server (`ipvsadm -a`) at the head of the list.
    pub fn add_dest(&mut self, cfg: DestConfig) -> Result<Arc<Dest>, ServiceError> {
        cfg.validate(self.config.key.family())?;
        if self.index_of(cfg.socket_addr()).is_some() {
            return Err(ServiceError::DestExists { dest: cfg.socket_addr() });
        }
        let dest = Arc::new(Dest::new(&cfg));
        self.adopt(&dest);
        self.dests.insert(0, Arc::clone(&dest));
        self.scheduler.add_dest(&self.dests, 0);
        self.follow_tracking();
        Ok(dest)
    }

    /// Puts back a real server that was removed but is still referenced (the
    /// kernel's "trash" revival in `ip_vs_add_dest`): its counters are kept,
    /// its settings replaced by `cfg`, and it goes to the head of the list.
    /// As in the kernel, only a server of this service can come back.
    pub fn restore_dest(&mut self, dest: Arc<Dest>, cfg: DestConfig) -> Result<(), ServiceError> {
        cfg.validate(self.config.key.family())?;
        if dest.socket_addr() != cfg.socket_addr() {
            return Err(ServiceError::NoSuchDest { dest: cfg.socket_addr() });
        }
        if self.index_of(cfg.socket_addr()).is_some() {
            return Err(ServiceError::DestExists { dest: cfg.socket_addr() });
        }
        if !dest.adoptable_by(&self.watch) {
            return Err(ServiceError::ForeignDest { dest: cfg.socket_addr(), service: self.config.key });
        }
        dest.update(&cfg, true);
        self.adopt(&dest);
        self.dests.insert(0, dest);
        self.scheduler.add_dest(&self.dests, 0);
        self.follow_tracking();
        Ok(())
    }

    /// Edits a real server (`ipvsadm -e`) in place.
    pub fn edit_dest(&mut self, cfg: DestConfig) -> Result<(), ServiceError> {
        cfg.validate(self.config.key.family())?;
        let i = self.index_of(cfg.socket_addr()).ok_or(ServiceError::NoSuchDest { dest: cfg.socket_addr() })?;
        self.dests[i].update(&cfg, false);
        self.scheduler.update_dest(&self.dests, i);
        self.follow_tracking();
        Ok(())
    }

    /// Removes a real server (`ipvsadm -d`). The returned entry is marked
    /// unavailable; connections that still point at it keep it alive, and
    /// [`restore_dest`](Self::restore_dest) can bring it back.
    pub fn del_dest(&mut self, addr: SocketAddr) -> Result<Arc<Dest>, ServiceError> {
        let i = self.index_of(addr).ok_or(ServiceError::NoSuchDest { dest: addr })?;
        let dest = self.dests.remove(i);
        dest.set_available(false);
        dest.orphan();
        let tail = (self.dests.len() - i) as u32;
        for t in &mut self.slot_tail {
            if *t != FREE_SLOT && *t > tail {
                *t -= 1;
            }
        }
        let slot = dest.slot();
        self.slot_tail[slot as usize] = FREE_SLOT;
        self.free_slots.push(slot);
        self.scheduler.del_dest(&self.dests, &dest, i);
        self.follow_tracking();
        Ok(dest)
    }

    /// Follows the scheduler's [`Scheduler::tracks_load`] after a hook: when
    /// it turns true (an index comes into use), forget queued changes,
    /// re-arm every server, and let the scheduler read them all again.
    fn follow_tracking(&mut self) {
        let now = self.scheduler.tracks_load();
        if now && !self.tracks_load {
            self.watch.clear();
            for d in &self.dests {
                d.rearm();
            }
            self.scheduler.init(&self.dests);
        }
        self.tracks_load = now;
    }

    /// Hands the scheduler every server whose load changed since the last
    /// pick. Allocates nothing.
    fn sync_load(&mut self) {
        if !self.watch.drain(&mut self.scratch) {
            return;
        }
        let n = self.dests.len();
        for &slot in &self.scratch {
            let tail = self.slot_tail.get(slot as usize).copied().unwrap_or(FREE_SLOT);
            if tail == FREE_SLOT || tail as usize >= n {
                continue; // a server that has left since it queued its slot
            }
            let i = n - 1 - tail as usize;
            self.dests[i].rearm();
            self.scheduler.load_changed(&self.dests, i);
        }
        self.scratch.clear();
    }

    /// Asks the scheduler for a real server for `flow` (the call
    /// `ip_vs_schedule` makes for a non-persistent service). Allocates
    /// nothing.
    #[inline]
    pub fn schedule(&mut self, flow: &Flow, now: Instant) -> Option<&Arc<Dest>> {
        if self.tracks_load {
            self.sync_load();
        }
        let req = SchedRequest { dests: &self.dests, flow, flags: self.config.flags, now };
        let i = self.scheduler.schedule(&req)?;
        self.dests.get(i)
    }
}
