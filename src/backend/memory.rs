//! In-memory backends that answer like the kernel: [`MemoryIpvs`] keeps an
//! IPVS table, [`MemoryAddresses`] a set of interfaces with addresses.
//!
//! They are what the pure modules, the tests and simulations run against
//! when no kernel is at hand, so they reproduce the Debian 6.1 kernel's
//! answers call for call: the same checks in the same order
//! (`ip_vs_genl_set_cmd`, `ip_vs_add_service`, `ip_vs_add_dest`,
//! `start_sync_thread` in `net/netfilter/ipvs/`), the same errnos, the same
//! list order (a new real server goes to the head), and the same values
//! filled in (sync daemon group, port, TTL and payload size). The tests in
//! `tests/netlink_kernel.rs` run one sequence of calls against both and
//! compare.
//!
//! What they cannot know, they document: [`MemoryIpvs`] does not see the
//! host's routes, so a real server on an address the kernel would find to be
//! a local broadcast is accepted; it has no traffic, so counters change only
//! through [`MemoryIpvs::set_counters`] and [`MemoryIpvs::set_conns`].
//!
//! Memory: one map entry per service (its config and a `Vec` of real
//! servers, about 200 bytes plus 120 per real server).

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::addr::{AddrFlags, AddrScope, AddressEntry, InterfaceAddress};
use super::error::{BackendError, Errno, Operation};
use super::{AddressBackend, IpvsBackend, check};
use crate::ipvs::{
    DaemonConfig, DaemonRole, DestConfig, DestSnapshot, Family, IpvsInfo, Rates, ServiceConfig, ServiceKey,
    ServiceSnapshot, Stats, Timeouts,
};

/// The schedulers Debian's 6.1 kernel ships as modules (`ip_vs_<name>.ko`;
/// `twos` came in 6.11). `"none"` (no scheduler) is always accepted.
pub const KERNEL_6_1_SCHEDULERS: &[&str] =
    &["rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh"];

/// The persistence engines Debian's 6.1 kernel ships (`ip_vs_pe_sip.ko`).
pub const KERNEL_6_1_PES: &[&str] = &["sip"];

/// `IP_VS_VERSION_CODE` of every kernel since 2.6.28: 1.2.1.
pub const IPVS_VERSION: u32 = 0x0001_0201;

/// Debian's kernels are built with `CONFIG_HZ=250`; timeouts above
/// `INT_MAX / HZ` seconds are refused.
pub const DEBIAN_HZ: u32 = 250;

/// The default sync multicast group (`IP_VS_SYNC_GROUP`, `ip_vs_sync.c`).
pub const SYNC_GROUP: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 81);
/// The default sync port (`IP_VS_SYNC_PORT`).
pub const SYNC_PORT: u16 = 8848;

#[derive(Debug, Clone)]
struct MemDest {
    config: DestConfig,
    active: u32,
    inactive: u32,
    persistent: u32,
    stats: Stats,
    rates: Rates,
}

impl MemDest {
    fn snapshot(&self) -> DestSnapshot {
        DestSnapshot {
            config: self.config,
            active_conns: self.active,
            inactive_conns: self.inactive,
            persistent_conns: self.persistent,
            stats: self.stats,
            rates: self.rates,
        }
    }
}

#[derive(Debug, Clone)]
struct MemService {
    config: ServiceConfig,
    /// Newest first, as the kernel's list.
    dests: Vec<MemDest>,
    stats: Stats,
    rates: Rates,
}

impl MemService {
    fn snapshot(&self) -> ServiceSnapshot {
        ServiceSnapshot {
            config: self.config.clone(),
            dests: self.dests.iter().map(MemDest::snapshot).collect(),
            stats: self.stats,
            rates: self.rates,
        }
    }

    fn dest_index(&self, addr: SocketAddr) -> Option<usize> {
        self.dests.iter().position(|d| d.config.socket_addr() == addr)
    }
}

/// An IPVS table in memory that answers every [`IpvsBackend`] call as the
/// kernel does (see the module doc).
///
/// ```
/// use std::net::{IpAddr, Ipv4Addr};
/// use lvskit::backend::{Errno, IpvsBackend, MemoryIpvs};
/// use lvskit::ipvs::{Protocol, ServiceConfig, ServiceKey};
///
/// let mut ipvs = MemoryIpvs::new();
/// let key = ServiceKey::addr(Protocol::Tcp, IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), 80);
/// ipvs.add_service(&ServiceConfig::new(key, "wlc"))?;
/// let again = ipvs.add_service(&ServiceConfig::new(key, "wlc")).unwrap_err();
/// assert_eq!(again.errno(), Some(Errno::EEXIST));
/// # Ok::<(), lvskit::backend::BackendError>(())
/// ```
#[derive(Debug, Clone)]
pub struct MemoryIpvs {
    services: BTreeMap<ServiceKey, MemService>,
    timeouts: Timeouts,
    master: Option<DaemonConfig>,
    backup: Option<DaemonConfig>,
    interfaces: BTreeMap<String, u32>,
    schedulers: BTreeSet<String>,
    pes: BTreeSet<String>,
    info: IpvsInfo,
    hz: u32,
    mixed_family_dests: usize,
}

impl Default for MemoryIpvs {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryIpvs {
    /// An empty table as a fresh Debian 6.1 kernel has it: default timeouts
    /// (900/120/300 s), connection table size 4096, the 6.1 schedulers and
    /// persistence engines, and one interface, `lo` (MTU 65536), for sync
    /// daemons.
    pub fn new() -> Self {
        MemoryIpvs {
            services: BTreeMap::new(),
            timeouts: Timeouts::default(),
            master: None,
            backup: None,
            interfaces: [("lo".to_owned(), 65536)].into_iter().collect(),
            schedulers: KERNEL_6_1_SCHEDULERS.iter().map(|s| (*s).to_owned()).collect(),
            pes: KERNEL_6_1_PES.iter().map(|s| (*s).to_owned()).collect(),
            info: IpvsInfo { version: IPVS_VERSION, conn_tab_size: 4096 },
            hz: DEBIAN_HZ,
            mixed_family_dests: 0,
        }
    }

    /// Replaces the set of scheduler modules the "kernel" has (for example
    /// to add `twos`, as 6.11 and later have it).
    pub fn with_schedulers(mut self, names: &[&str]) -> Self {
        self.schedulers = names.iter().map(|s| (*s).to_owned()).collect();
        self
    }

    /// Sets the connection table size [`IpvsBackend::info`] reports
    /// (`ip_vs_conn_tab_bits` module parameter; 4096 by default).
    pub fn with_conn_tab_size(mut self, size: u32) -> Self {
        self.info.conn_tab_size = size;
        self
    }

    /// Makes an interface known, for sync daemons (which need the interface
    /// and derive their payload size from its MTU).
    pub fn add_interface(&mut self, name: &str, mtu: u32) {
        self.interfaces.insert(name.to_owned(), mtu);
    }

    /// Forgets an interface.
    pub fn remove_interface(&mut self, name: &str) {
        self.interfaces.remove(name);
    }

    /// Sets the traffic counters and rates of a service (`dest: None`) or of
    /// one of its real servers, as a simulation's data plane would. Returns
    /// whether the entry exists.
    pub fn set_counters(&mut self, key: &ServiceKey, dest: Option<SocketAddr>, stats: Stats, rates: Rates) -> bool {
        let Some(svc) = self.services.get_mut(key) else { return false };
        match dest {
            None => {
                svc.stats = stats;
                svc.rates = rates;
                true
            }
            Some(addr) => match svc.dest_index(addr) {
                Some(i) => {
                    svc.dests[i].stats = stats;
                    svc.dests[i].rates = rates;
                    true
                }
                None => false,
            },
        }
    }

    /// Sets a real server's active, inactive and persistent connection
    /// counts, as a simulation's connection table would. Returns whether the
    /// server exists.
    pub fn set_conns(
        &mut self,
        key: &ServiceKey,
        dest: SocketAddr,
        active: u32,
        inactive: u32,
        persistent: u32,
    ) -> bool {
        let Some(svc) = self.services.get_mut(key) else { return false };
        let Some(i) = svc.dest_index(dest) else { return false };
        let d = &mut svc.dests[i];
        d.active = active;
        d.inactive = inactive;
        d.persistent = persistent;
        true
    }

    fn has_scheduler(&self, name: &str) -> bool {
        name == "none" || self.schedulers.contains(name)
    }

    /// `ip_vs_add_service` / `ip_vs_edit_service`: scheduler, then
    /// persistence engine (IPv6 prefix lengths are checked client-side).
    fn check_modules(&self, op: &Operation, cfg: &ServiceConfig) -> Result<(), BackendError> {
        if !self.has_scheduler(&cfg.scheduler) {
            return Err(BackendError::kernel(op.clone(), Errno::ENOENT));
        }
        if let Some(pe) = &cfg.pe_name {
            if !self.pes.contains(pe) {
                return Err(BackendError::kernel(op.clone(), Errno::ENOENT));
            }
        }
        Ok(())
    }

    /// The checks `ip_vs_genl_set_cmd` makes on a real server's family
    /// before the command itself: a server of the other family only with
    /// tunnelling (checked client-side) and never while a sync daemon runs.
    fn check_dest_family(&self, op: &Operation, key: &ServiceKey, dest: &DestConfig) -> Result<(), BackendError> {
        let mixed = Family::of(dest.addr) != key.family();
        if mixed && (self.master.is_some() || self.backup.is_some()) {
            return Err(BackendError::kernel(op.clone(), Errno::EINVAL));
        }
        Ok(())
    }
}

/// Whether `ip_vs_new_dest` accepts `addr` as a new real server: for IPv4
/// `inet_addr_type` must say local or unicast (not `0.0.0.0`, the limited
/// broadcast or multicast; since 5.3 the rest of `0.0.0.0/8` is unicast); for IPv6 `ipv6_addr_type` must say unicast and
/// not link-local (`::`, `::ffff:0:0/96` and multicast are not unicast).
/// The kernel also accepts a link-local address that is local, and refuses a
/// subnet broadcast it has a route for; a table in memory knows neither.
pub fn kernel_accepts_dest_addr(addr: IpAddr) -> bool {
    match addr {
        IpAddr::V4(a) => !(a.is_unspecified() || a == Ipv4Addr::BROADCAST || a.is_multicast()),
        IpAddr::V6(a) => ipv6_is_unicast_not_link_local(a),
    }
}

/// `__ipv6_addr_type` (`net/ipv6/addrconf_core.c`) reduced to "unicast and
/// not link-local".
fn ipv6_is_unicast_not_link_local(a: Ipv6Addr) -> bool {
    let b = u128::from(a);
    let w0 = (b >> 96) as u32;
    let w1 = (b >> 64) as u32;
    let w2 = (b >> 32) as u32;
    let w3 = b as u32;
    let top3 = w0 & 0xe000_0000;
    if top3 != 0 && top3 != 0xe000_0000 {
        return true; // global unicast
    }
    if w0 & 0xff00_0000 == 0xff00_0000 {
        return false; // multicast
    }
    if w0 & 0xffc0_0000 == 0xfe80_0000 {
        return false; // link-local unicast
    }
    if w0 & 0xffc0_0000 == 0xfec0_0000 || w0 & 0xfe00_0000 == 0xfc00_0000 {
        return true; // site-local, unique local
    }
    if w0 | w1 == 0 {
        if w2 == 0 {
            return w3 != 0; // :: is "any"; ::1 and ::a.b.c.d are unicast
        }
        if w2 == 0x0000_ffff {
            return false; // v4-mapped: not marked unicast
        }
    }
    true
}

impl IpvsBackend for MemoryIpvs {
    fn add_service(&mut self, service: &ServiceConfig) -> Result<(), BackendError> {
        let op = Operation::AddService(service.key);
        check::service(&op, service)?;
        if self.services.contains_key(&service.key) {
            return Err(BackendError::kernel(op, Errno::EEXIST));
        }
        self.check_modules(&op, service)?;
        self.services.insert(
            service.key,
            MemService { config: service.clone(), dests: Vec::new(), stats: Stats::default(), rates: Rates::default() },
        );
        Ok(())
    }

    fn edit_service(&mut self, service: &ServiceConfig) -> Result<(), BackendError> {
        let op = Operation::EditService(service.key);
        check::service(&op, service)?;
        if !self.services.contains_key(&service.key) {
            return Err(BackendError::kernel(op, Errno::ESRCH));
        }
        self.check_modules(&op, service)?;
        if let Some(svc) = self.services.get_mut(&service.key) {
            svc.config = service.clone();
        }
        Ok(())
    }

    fn del_service(&mut self, key: &ServiceKey) -> Result<(), BackendError> {
        let svc =
            self.services.remove(key).ok_or_else(|| BackendError::kernel(Operation::DelService(*key), Errno::ESRCH))?;
        let mixed = svc.dests.iter().filter(|d| Family::of(d.config.addr) != key.family()).count();
        self.mixed_family_dests -= mixed;
        Ok(())
    }

    fn add_dest(&mut self, service: &ServiceKey, dest: &DestConfig) -> Result<(), BackendError> {
        let op = Operation::AddDest { service: *service, dest: dest.socket_addr() };
        check::dest(&op, service, dest)?;
        if !self.services.contains_key(service) {
            return Err(BackendError::kernel(op, Errno::ESRCH));
        }
        self.check_dest_family(&op, service, dest)?;
        let svc = self.services.get_mut(service).ok_or_else(|| BackendError::kernel(op.clone(), Errno::ESRCH))?;
        if svc.dest_index(dest.socket_addr()).is_some() {
            return Err(BackendError::kernel(op, Errno::EEXIST));
        }
        if !kernel_accepts_dest_addr(dest.addr) {
            return Err(BackendError::kernel(op, Errno::EINVAL));
        }
        svc.dests.insert(
            0,
            MemDest {
                config: *dest,
                active: 0,
                inactive: 0,
                persistent: 0,
                stats: Stats::default(),
                rates: Rates::default(),
            },
        );
        if Family::of(dest.addr) != service.family() {
            self.mixed_family_dests += 1;
        }
        Ok(())
    }

    fn edit_dest(&mut self, service: &ServiceKey, dest: &DestConfig) -> Result<(), BackendError> {
        let op = Operation::EditDest { service: *service, dest: dest.socket_addr() };
        check::dest(&op, service, dest)?;
        if !self.services.contains_key(service) {
            return Err(BackendError::kernel(op, Errno::ESRCH));
        }
        self.check_dest_family(&op, service, dest)?;
        let svc = self.services.get_mut(service).ok_or_else(|| BackendError::kernel(op.clone(), Errno::ESRCH))?;
        let i = svc.dest_index(dest.socket_addr()).ok_or_else(|| BackendError::kernel(op, Errno::ENOENT))?;
        svc.dests[i].config = *dest;
        Ok(())
    }

    fn del_dest(&mut self, service: &ServiceKey, dest: SocketAddr) -> Result<(), BackendError> {
        let op = Operation::DelDest { service: *service, dest };
        let svc = self.services.get_mut(service).ok_or_else(|| BackendError::kernel(op.clone(), Errno::ESRCH))?;
        let i = svc.dest_index(dest).ok_or_else(|| BackendError::kernel(op, Errno::ENOENT))?;
        let removed = svc.dests.remove(i);
        if Family::of(removed.config.addr) != service.family() {
            self.mixed_family_dests -= 1;
        }
        Ok(())
    }

    fn service(&mut self, key: &ServiceKey) -> Result<ServiceSnapshot, BackendError> {
        self.services
            .get(key)
            .map(MemService::snapshot)
            .ok_or_else(|| BackendError::kernel(Operation::GetService(*key), Errno::ESRCH))
    }

    fn services(&mut self) -> Result<Vec<ServiceSnapshot>, BackendError> {
        Ok(self.services.values().map(MemService::snapshot).collect())
    }

    fn dests(&mut self, key: &ServiceKey) -> Result<Vec<DestSnapshot>, BackendError> {
        Ok(self.services.get(key).map(|s| s.dests.iter().map(MemDest::snapshot).collect()).unwrap_or_default())
    }

    fn set_timeouts(&mut self, t: &Timeouts) -> Result<(), BackendError> {
        // `ip_vs_set_timeout`: each value is an `int`, at most INT_MAX / HZ,
        // checked before any is set; 0 leaves one unchanged.
        let max = i32::MAX as u32 / self.hz;
        if t.tcp > max || t.tcp_fin > max || t.udp > max {
            return Err(BackendError::kernel(Operation::SetTimeouts, Errno::EINVAL));
        }
        if t.tcp != 0 {
            self.timeouts.tcp = t.tcp;
        }
        if t.tcp_fin != 0 {
            self.timeouts.tcp_fin = t.tcp_fin;
        }
        if t.udp != 0 {
            self.timeouts.udp = t.udp;
        }
        Ok(())
    }

    fn timeouts(&mut self) -> Result<Timeouts, BackendError> {
        Ok(self.timeouts)
    }

    fn start_daemon(&mut self, d: &DaemonConfig) -> Result<(), BackendError> {
        let op = Operation::StartDaemon { role: d.role, ifname: d.mcast_ifn.clone() };
        check::daemon(&op, d)?;
        let kernel = |errno| BackendError::kernel(op.clone(), errno);
        // `ip_vs_genl_new_daemon`: the group must be multicast; no daemon
        // while real servers of the other family exist.
        match d.mcast_group {
            Some(IpAddr::V4(g)) if !g.is_multicast() => return Err(kernel(Errno::EINVAL)),
            Some(IpAddr::V6(g)) if !g.is_multicast() => return Err(kernel(Errno::EINVAL)),
            _ => {}
        }
        if self.mixed_family_dests > 0 {
            return Err(kernel(Errno::EINVAL));
        }
        // `start_sync_thread`: defaults, then the interface, then the payload
        // size from its MTU, then one daemon per role.
        let group = d.mcast_group.unwrap_or(IpAddr::V4(SYNC_GROUP));
        let Some(&dev_mtu) = self.interfaces.get(&d.mcast_ifn) else {
            return Err(kernel(Errno::ENODEV));
        };
        let hlen: u32 = if group.is_ipv6() { 40 + 8 } else { 20 + 8 };
        let (mtu, min_mtu) = match d.role {
            DaemonRole::Backup => (dev_mtu.clamp(1500, 65535), 1024),
            DaemonRole::Master => (1500, 1),
        };
        let maxlen =
            if d.sync_maxlen != 0 { u32::from(d.sync_maxlen).clamp(min_mtu, 65535 - hlen) } else { mtu - hlen };
        let slot = match d.role {
            DaemonRole::Master => &mut self.master,
            DaemonRole::Backup => &mut self.backup,
        };
        if slot.is_some() {
            return Err(kernel(Errno::EEXIST));
        }
        *slot = Some(DaemonConfig {
            role: d.role,
            mcast_ifn: d.mcast_ifn.clone(),
            sync_id: d.sync_id,
            sync_maxlen: maxlen as u16,
            mcast_group: Some(group),
            mcast_port: if d.mcast_port == 0 { SYNC_PORT } else { d.mcast_port },
            mcast_ttl: if d.mcast_ttl == 0 { 1 } else { d.mcast_ttl },
        });
        Ok(())
    }

    fn stop_daemon(&mut self, role: DaemonRole) -> Result<(), BackendError> {
        let slot = match role {
            DaemonRole::Master => &mut self.master,
            DaemonRole::Backup => &mut self.backup,
        };
        slot.take().map(|_| ()).ok_or_else(|| BackendError::kernel(Operation::StopDaemon(role), Errno::ESRCH))
    }

    fn daemons(&mut self) -> Result<Vec<DaemonConfig>, BackendError> {
        Ok(self.master.iter().chain(self.backup.iter()).cloned().collect())
    }

    fn info(&mut self) -> Result<IpvsInfo, BackendError> {
        Ok(self.info)
    }

    fn zero(&mut self, service: Option<&ServiceKey>) -> Result<(), BackendError> {
        fn zero_service(s: &mut MemService) {
            s.stats = Stats::default();
            s.rates = Rates::default();
            for d in &mut s.dests {
                d.stats = Stats::default();
                d.rates = Rates::default();
            }
        }
        match service {
            None => self.services.values_mut().for_each(zero_service),
            Some(key) => {
                let s = self
                    .services
                    .get_mut(key)
                    .ok_or_else(|| BackendError::kernel(Operation::Zero(Some(*key)), Errno::ESRCH))?;
                zero_service(s);
            }
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), BackendError> {
        self.services.clear();
        self.mixed_family_dests = 0;
        Ok(())
    }
}

#[derive(Debug, Clone)]
struct MemLink {
    name: String,
}

/// Interfaces and their addresses in memory, answering every
/// [`AddressBackend`] call as the kernel's rtnetlink does (see the module
/// doc): `EEXIST` for a duplicate (IPv4: same address and prefix; IPv6: same
/// address), `EADDRNOTAVAIL` for removing an address that is not there,
/// `ENODEV` for an unknown interface, the interface name as the default IPv4
/// label, the IPv6 scope derived from the address, and `permanent` on every
/// address added this way.
///
/// It starts with `lo` at index 1 and no addresses.
#[derive(Debug, Clone)]
pub struct MemoryAddresses {
    links: BTreeMap<u32, MemLink>,
    next_index: u32,
    addrs: Vec<AddressEntry>,
    promote_secondaries: bool,
}

impl Default for MemoryAddresses {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryAddresses {
    /// `lo` at index 1, no addresses.
    pub fn new() -> Self {
        let mut links = BTreeMap::new();
        links.insert(1, MemLink { name: "lo".to_owned() });
        MemoryAddresses { links, next_index: 2, addrs: Vec::new(), promote_secondaries: false }
    }

    /// Creates an interface and returns its index.
    pub fn add_link(&mut self, name: &str) -> u32 {
        let index = self.next_index;
        self.next_index += 1;
        self.links.insert(index, MemLink { name: name.to_owned() });
        index
    }

    /// Creates an interface with a given index (to mirror a real one).
    /// Returns `false`, changing nothing, if the index or name is taken.
    pub fn add_link_with_index(&mut self, name: &str, ifindex: u32) -> bool {
        if self.links.contains_key(&ifindex) || self.links.values().any(|l| l.name == name) {
            return false;
        }
        self.links.insert(ifindex, MemLink { name: name.to_owned() });
        self.next_index = self.next_index.max(ifindex.saturating_add(1));
        true
    }

    /// Sets `net.ipv4.conf.*.promote_secondaries`: whether removing a
    /// primary IPv4 address promotes its first secondary instead of removing
    /// them all (off, the kernel's default).
    pub fn set_promote_secondaries(&mut self, on: bool) {
        self.promote_secondaries = on;
    }

    /// Deletes an interface and its addresses (as `ip link del`). Returns
    /// whether it existed.
    pub fn del_link(&mut self, ifindex: u32) -> bool {
        self.addrs.retain(|e| e.address.ifindex != ifindex);
        self.links.remove(&ifindex).is_some()
    }

    fn same_v4(a: &InterfaceAddress, b: &InterfaceAddress) -> bool {
        a.ifindex == b.ifindex && a.addr == b.addr && a.prefix_len == b.prefix_len
    }
}

impl AddressBackend for MemoryAddresses {
    fn link_index(&mut self, name: &str) -> Result<u32, BackendError> {
        let op = Operation::LinkIndex(name.to_owned());
        check::ifname(&op, name)?;
        self.links
            .iter()
            .find(|(_, l)| l.name == name)
            .map(|(i, _)| *i)
            .ok_or_else(|| BackendError::kernel(op, Errno::ENODEV))
    }

    fn add_address(&mut self, a: &InterfaceAddress) -> Result<(), BackendError> {
        let op = Operation::AddAddress { ifindex: a.ifindex, addr: a.addr, prefix_len: a.prefix_len };
        check::address(&op, a)?;
        let Some(link) = self.links.get(&a.ifindex) else {
            return Err(BackendError::kernel(op, Errno::ENODEV));
        };
        let mut entry = a.clone();
        let mut flags = AddrFlags::PERMANENT;
        match a.addr {
            IpAddr::V4(_) => {
                if self.addrs.iter().any(|e| Self::same_v4(&e.address, a)) {
                    return Err(BackendError::kernel(op, Errno::EEXIST));
                }
                if entry.label.is_none() {
                    entry.label = Some(link.name.clone());
                }
                // `__inet_insert_ifa`: another address of the same subnet
                // (same prefix length) makes this one secondary, unless the
                // scopes differ, which is `EINVAL`.
                for e in self.addrs.iter().filter(|e| {
                    e.address.ifindex == a.ifindex
                        && e.address.prefix_len == a.prefix_len
                        && same_subnet(e.address.addr, a.addr, a.prefix_len)
                }) {
                    if e.address.scope != a.scope {
                        return Err(BackendError::kernel(op, Errno::EINVAL));
                    }
                    flags |= AddrFlags::SECONDARY;
                }
            }
            IpAddr::V6(v6) => {
                if self.addrs.iter().any(|e| e.address.ifindex == a.ifindex && e.address.addr == a.addr) {
                    return Err(BackendError::kernel(op, Errno::EEXIST));
                }
                entry.scope = AddrScope::of_ipv6(v6);
                if a.nodad {
                    flags |= AddrFlags::NODAD;
                }
            }
        }
        if a.noprefixroute {
            flags |= AddrFlags::NOPREFIXROUTE;
        }
        self.addrs.push(AddressEntry { address: entry, flags: AddrFlags(flags) });
        Ok(())
    }

    fn del_address(&mut self, a: &InterfaceAddress) -> Result<(), BackendError> {
        let op = Operation::DelAddress { ifindex: a.ifindex, addr: a.addr, prefix_len: a.prefix_len };
        check::address(&op, a)?;
        if !self.links.contains_key(&a.ifindex) {
            return Err(BackendError::kernel(op, Errno::ENODEV));
        }
        let pos = self.addrs.iter().position(|e| {
            Self::same_v4(&e.address, a)
                && match (&a.label, a.addr) {
                    (Some(l), IpAddr::V4(_)) => e.address.label.as_deref() == Some(l.as_str()),
                    _ => true,
                }
        });
        let Some(i) = pos else {
            return Err(BackendError::kernel(op, Errno::EADDRNOTAVAIL));
        };
        let removed = self.addrs.remove(i);
        // `__inet_del_ifa`: when a primary IPv4 address goes, its secondaries
        // go with it, unless `promote_secondaries` is set (the kernel's
        // default is off), in which case the first becomes primary.
        if removed.address.addr.is_ipv4() && !removed.flags.contains(AddrFlags::SECONDARY) {
            let in_subnet = |e: &AddressEntry| {
                e.address.ifindex == removed.address.ifindex
                    && e.flags.contains(AddrFlags::SECONDARY)
                    && e.address.prefix_len == removed.address.prefix_len
                    && same_subnet(e.address.addr, removed.address.addr, removed.address.prefix_len)
            };
            if self.promote_secondaries {
                if let Some(s) = self.addrs.iter_mut().find(|e| in_subnet(e)) {
                    s.flags.0 &= !AddrFlags::SECONDARY;
                }
            } else {
                self.addrs.retain(|e| !in_subnet(e));
            }
        }
        Ok(())
    }

    fn addresses(&mut self, ifindex: Option<u32>) -> Result<Vec<AddressEntry>, BackendError> {
        let mut v: Vec<AddressEntry> =
            self.addrs.iter().filter(|e| ifindex.is_none_or(|i| e.address.ifindex == i)).cloned().collect();
        sort_addresses(&mut v);
        Ok(v)
    }
}

/// Sorts a listing by interface, family, address and prefix length.
pub(crate) fn sort_addresses(v: &mut [AddressEntry]) {
    v.sort_by(|a, b| {
        (a.address.ifindex, a.address.addr, a.address.prefix_len).cmp(&(
            b.address.ifindex,
            b.address.addr,
            b.address.prefix_len,
        ))
    });
}

fn same_subnet(a: IpAddr, b: IpAddr, prefix_len: u8) -> bool {
    match (a, b) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            let mask = if prefix_len == 0 { 0 } else { u32::MAX << (32 - u32::from(prefix_len.min(32))) };
            u32::from(a) & mask == u32::from(b) & mask
        }
        _ => false,
    }
}
