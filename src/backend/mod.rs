//! Backends: where lvskit's decisions meet a kernel (or a stand-in for one).
//!
//! * [`IpvsBackend`]: virtual services, real servers, timeouts, sync daemons,
//!   counters: everything `ipvsadm` does to the kernel's IPVS table, as typed
//!   calls, plus [`IpvsBackend::apply`] for a batch of [`IpvsOp`]s.
//! * [`AddressBackend`]: adding, removing and listing interface addresses
//!   (VIPs), what keepalived does over rtnetlink.
//! * [`memory`]: [`MemoryIpvs`] and [`MemoryAddresses`], always available,
//!   which answer every call the way the Debian 6.1 kernel does, errnos
//!   included. Tests and simulations use them.
//! * `netlink` (feature `netlink`, Linux): [`NetlinkIpvs`](netlink::NetlinkIpvs)
//!   over the generic netlink family `IPVS`, and
//!   [`NetlinkAddresses`](netlink::NetlinkAddresses) over rtnetlink.
//! * [`reconcile`](mod@reconcile): bring a backend to a desired state with the fewest
//!   operations, in batches, quiescing servers before removal when asked.
//! * [`dr`]: the real-server side of direct routing (VIP on `lo`,
//!   `arp_ignore`/`arp_announce`), with its undo.
//! * `raw_socket` (feature `raw-socket`, Linux): VRRP sockets, gratuitous
//!   ARP/NA sending, link and address monitoring, and the driver that runs
//!   VRRP instances on them.
//!
//! Backends hold no policy: they carry out calls and report what happened.
//! Every failure is a [`BackendError`] naming the [`Operation`] and its
//! object; kernel refusals keep their [`Errno`].
//!
//! Both backends check a request against the same client-side rules before
//! carrying it out (the rules `ipvsadm` applies and the kernel's message
//! policy: port 0 only with persistence, weight up to 65535, thresholds in
//! order, names that fit the kernel's fields …), so they refuse invalid input
//! with the same [`BackendError::Invalid`]. The scheduler name is left to the
//! kernel: it loads `ip_vs_<name>` on demand and answers `ENOENT` when there
//! is no such module.

use std::net::SocketAddr;

use crate::ipvs::sched::SchedError;
use crate::ipvs::{
    DaemonConfig, DaemonRole, DestConfig, DestSnapshot, IpvsInfo, ServiceConfig, ServiceError, ServiceKey,
    ServiceSnapshot, Timeouts,
};

pub mod addr;
pub mod dr;
pub mod error;
pub mod memory;
#[cfg(all(feature = "netlink", target_os = "linux"))]
#[cfg_attr(docsrs, doc(cfg(all(feature = "netlink", target_os = "linux"))))]
pub mod netlink;
#[cfg(all(feature = "raw-socket", target_os = "linux"))]
#[cfg_attr(docsrs, doc(cfg(all(feature = "raw-socket", target_os = "linux"))))]
pub mod raw_socket;
pub mod reconcile;

pub use addr::{AddrFlags, AddrScope, AddressEntry, InterfaceAddress};
pub use dr::DrSetup;
pub use error::{BackendError, Errno, InvalidInput, Operation};
pub use memory::{MemoryAddresses, MemoryIpvs};
pub use reconcile::{
    DesiredService, DesiredState, ReconcileError, ReconcileOptions, ReconcileReport, Reconciler, reconcile,
};

/// The longest scheduler name the kernel keeps (`IP_VS_SCHEDNAME_MAXLEN - 1`).
pub const SCHED_NAME_MAX: usize = 15;
/// The longest persistence-engine name lvskit sends (`IP_VS_PENAME_MAXLEN - 1`).
pub const PE_NAME_MAX: usize = 15;

/// One change to an IPVS table: the unit of [`IpvsBackend::apply`] and of
/// what [`reconcile()`] plans.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IpvsOp {
    /// Add a virtual service (`ipvsadm -A`).
    AddService(ServiceConfig),
    /// Edit a virtual service (`ipvsadm -E`): scheduler, flags, persistence,
    /// persistence engine. Its real servers stay.
    EditService(ServiceConfig),
    /// Delete a virtual service and its real servers (`ipvsadm -D`).
    DelService(ServiceKey),
    /// Add a real server (`ipvsadm -a`).
    AddDest(ServiceKey, DestConfig),
    /// Edit a real server (`ipvsadm -e`): weight, thresholds, forwarding.
    EditDest(ServiceKey, DestConfig),
    /// Delete a real server (`ipvsadm -d`).
    DelDest(ServiceKey, SocketAddr),
    /// Set the TCP, TCP FIN and UDP timeouts (`ipvsadm --set`; 0 leaves one
    /// unchanged).
    SetTimeouts(Timeouts),
    /// Start a connection-sync daemon (`ipvsadm --start-daemon`).
    StartDaemon(DaemonConfig),
    /// Stop a connection-sync daemon (`ipvsadm --stop-daemon`).
    StopDaemon(DaemonRole),
    /// Zero the counters of one service, or of all (`ipvsadm -Z`).
    Zero(Option<ServiceKey>),
    /// Delete every service (`ipvsadm -C`).
    Flush,
}

impl IpvsOp {
    /// The operation and object, as errors name them.
    pub fn operation(&self) -> Operation {
        match self {
            IpvsOp::AddService(s) => Operation::AddService(s.key),
            IpvsOp::EditService(s) => Operation::EditService(s.key),
            IpvsOp::DelService(k) => Operation::DelService(*k),
            IpvsOp::AddDest(k, d) => Operation::AddDest { service: *k, dest: d.socket_addr() },
            IpvsOp::EditDest(k, d) => Operation::EditDest { service: *k, dest: d.socket_addr() },
            IpvsOp::DelDest(k, a) => Operation::DelDest { service: *k, dest: *a },
            IpvsOp::SetTimeouts(_) => Operation::SetTimeouts,
            IpvsOp::StartDaemon(d) => Operation::StartDaemon { role: d.role, ifname: d.mcast_ifn.clone() },
            IpvsOp::StopDaemon(r) => Operation::StopDaemon(*r),
            IpvsOp::Zero(k) => Operation::Zero(*k),
            IpvsOp::Flush => Operation::Flush,
        }
    }
}

/// What happened to one operation of a batch.
#[derive(Debug, PartialEq)]
pub enum OpOutcome {
    /// Carried out.
    Applied,
    /// Refused (by the client-side checks or the kernel); nothing changed.
    Failed(BackendError),
    /// Sent, but the socket failed before the kernel's answer arrived: read
    /// the table to know.
    Unknown,
    /// Not sent, because the socket failed before.
    NotSent,
}

/// The outcome of [`IpvsBackend::apply`]: one [`OpOutcome`] per operation, in
/// order.
///
/// A batch is not a transaction. Every operation is attempted in order, each
/// is atomic in the kernel, and a refused one changes nothing, so the table
/// afterwards holds exactly the applied operations' effects (an operation
/// that depends on a refused one, such as adding a real server to a service
/// whose creation failed, is refused in turn). That is what the kernel does
/// with a netlink message carrying several requests, and what the in-memory
/// backend does too.
#[derive(Debug, PartialEq)]
pub struct BatchReport {
    /// One outcome per operation.
    pub outcomes: Vec<OpOutcome>,
    /// The socket error that left outcomes [`OpOutcome::Unknown`] or
    /// [`OpOutcome::NotSent`], if any.
    pub transport: Option<BackendError>,
}

impl BatchReport {
    /// A report where every operation was applied.
    pub fn all_applied(n: usize) -> Self {
        BatchReport { outcomes: (0..n).map(|_| OpOutcome::Applied).collect(), transport: None }
    }

    /// Whether every operation was applied.
    pub fn is_success(&self) -> bool {
        self.transport.is_none() && self.outcomes.iter().all(|o| *o == OpOutcome::Applied)
    }

    /// How many operations were applied.
    pub fn applied(&self) -> usize {
        self.outcomes.iter().filter(|o| **o == OpOutcome::Applied).count()
    }

    /// The first refused operation: its index and error.
    pub fn first_failure(&self) -> Option<(usize, &BackendError)> {
        self.outcomes.iter().enumerate().find_map(|(i, o)| match o {
            OpOutcome::Failed(e) => Some((i, e)),
            _ => None,
        })
    }

    /// Every refused operation: index and error.
    pub fn failures(&self) -> impl Iterator<Item = (usize, &BackendError)> {
        self.outcomes.iter().enumerate().filter_map(|(i, o)| match o {
            OpOutcome::Failed(e) => Some((i, e)),
            _ => None,
        })
    }

    /// `Ok` if every operation was applied, else the first problem: the
    /// socket error, or the first refused operation's error.
    pub fn into_result(self) -> Result<(), BackendError> {
        if let Some(e) = self.transport {
            return Err(e);
        }
        for o in self.outcomes {
            if let OpOutcome::Failed(e) = o {
                return Err(e);
            }
        }
        Ok(())
    }
}

/// Everything `ipvsadm` does to the kernel's IPVS table.
///
/// Implemented by [`MemoryIpvs`] and, with the `netlink` feature,
/// `NetlinkIpvs`. Calls are synchronous; `&mut self` because a backend owns
/// its socket or table.
///
/// Reads return services sorted by key (the kernel's dump order follows its
/// hash table, which depends on a kernel pointer and means nothing) and each
/// service's real servers in the kernel's list order, most recently added
/// first.
pub trait IpvsBackend {
    /// Adds a virtual service (`IPVS_CMD_NEW_SERVICE`). `EEXIST` if it is
    /// there; `ENOENT` if the kernel has no such scheduler or persistence
    /// engine.
    fn add_service(&mut self, service: &ServiceConfig) -> Result<(), BackendError>;

    /// Edits a virtual service (`IPVS_CMD_SET_SERVICE`). `ESRCH` if it is not
    /// there.
    fn edit_service(&mut self, service: &ServiceConfig) -> Result<(), BackendError>;

    /// Deletes a virtual service and its real servers
    /// (`IPVS_CMD_DEL_SERVICE`). `ESRCH` if it is not there.
    fn del_service(&mut self, key: &ServiceKey) -> Result<(), BackendError>;

    /// Adds a real server (`IPVS_CMD_NEW_DEST`). `ESRCH` without the
    /// service, `EEXIST` if the server is there, `EINVAL` for an address
    /// that cannot be a real server (multicast, broadcast, unspecified,
    /// IPv6 link-local that is not local).
    fn add_dest(&mut self, service: &ServiceKey, dest: &DestConfig) -> Result<(), BackendError>;

    /// Edits a real server (`IPVS_CMD_SET_DEST`). `ENOENT` if it is not
    /// there.
    fn edit_dest(&mut self, service: &ServiceKey, dest: &DestConfig) -> Result<(), BackendError>;

    /// Deletes a real server (`IPVS_CMD_DEL_DEST`). `ENOENT` if it is not
    /// there.
    fn del_dest(&mut self, service: &ServiceKey, dest: SocketAddr) -> Result<(), BackendError>;

    /// One service with its real servers and counters. `ESRCH` if it is not
    /// there.
    fn service(&mut self, key: &ServiceKey) -> Result<ServiceSnapshot, BackendError>;

    /// Every service with its real servers and counters, sorted by key.
    fn services(&mut self) -> Result<Vec<ServiceSnapshot>, BackendError>;

    /// A service's real servers with their counters, newest first. Like the
    /// kernel's dump, an empty list when the service does not exist.
    fn dests(&mut self, key: &ServiceKey) -> Result<Vec<DestSnapshot>, BackendError>;

    /// Sets the TCP, TCP FIN and UDP timeouts (`IPVS_CMD_SET_CONFIG`); a 0
    /// leaves that one unchanged, a value above `INT_MAX / HZ` seconds is
    /// `EINVAL`.
    fn set_timeouts(&mut self, timeouts: &Timeouts) -> Result<(), BackendError>;

    /// The current timeouts (`IPVS_CMD_GET_CONFIG`).
    fn timeouts(&mut self) -> Result<Timeouts, BackendError>;

    /// Starts a sync daemon (`IPVS_CMD_NEW_DAEMON`). `EEXIST` if one of that
    /// role runs, `ENODEV` without the interface, `EINVAL` for a group that
    /// is not multicast.
    fn start_daemon(&mut self, daemon: &DaemonConfig) -> Result<(), BackendError>;

    /// Stops a sync daemon (`IPVS_CMD_DEL_DAEMON`). `ESRCH` if none of that
    /// role runs.
    fn stop_daemon(&mut self, role: DaemonRole) -> Result<(), BackendError>;

    /// The running sync daemons, master first, with the settings the kernel
    /// filled in (group 224.0.0.81, port 8848, TTL 1, payload size from the
    /// MTU).
    fn daemons(&mut self) -> Result<Vec<DaemonConfig>, BackendError>;

    /// Version and connection-table size (`IPVS_CMD_GET_INFO`).
    fn info(&mut self) -> Result<IpvsInfo, BackendError>;

    /// Zeroes the counters of one service and its real servers, or of all
    /// (`IPVS_CMD_ZERO`). `ESRCH` for a missing service.
    fn zero(&mut self, service: Option<&ServiceKey>) -> Result<(), BackendError>;

    /// Deletes every service (`IPVS_CMD_FLUSH`).
    fn flush(&mut self) -> Result<(), BackendError>;

    /// Carries out one operation.
    fn execute(&mut self, op: &IpvsOp) -> Result<(), BackendError> {
        match op {
            IpvsOp::AddService(s) => self.add_service(s),
            IpvsOp::EditService(s) => self.edit_service(s),
            IpvsOp::DelService(k) => self.del_service(k),
            IpvsOp::AddDest(k, d) => self.add_dest(k, d),
            IpvsOp::EditDest(k, d) => self.edit_dest(k, d),
            IpvsOp::DelDest(k, a) => self.del_dest(k, *a),
            IpvsOp::SetTimeouts(t) => self.set_timeouts(t),
            IpvsOp::StartDaemon(d) => self.start_daemon(d),
            IpvsOp::StopDaemon(r) => self.stop_daemon(*r),
            IpvsOp::Zero(k) => self.zero(k.as_ref()),
            IpvsOp::Flush => self.flush(),
        }
    }

    /// Carries out a batch of operations in order, each attempted even when
    /// an earlier one was refused (see [`BatchReport`]). The netlink backend
    /// sends many per system call; this default carries them out one by one.
    fn apply(&mut self, ops: &[IpvsOp]) -> BatchReport {
        let outcomes = ops
            .iter()
            .map(|op| match self.execute(op) {
                Ok(()) => OpOutcome::Applied,
                Err(e) => OpOutcome::Failed(e),
            })
            .collect();
        BatchReport { outcomes, transport: None }
    }
}

/// Adding, removing and listing interface addresses: what a VRRP instance
/// does with its VIPs.
///
/// Implemented by [`MemoryAddresses`] and, with the `netlink` feature,
/// `NetlinkAddresses` (rtnetlink). Synchronous and cheap: a call is one
/// request and its answer, so a plain `std` event loop can make it between
/// two polls.
pub trait AddressBackend {
    /// The index of the interface called `name`. `ENODEV` if there is none.
    fn link_index(&mut self, name: &str) -> Result<u32, BackendError>;

    /// Adds an address (`RTM_NEWADDR` with `NLM_F_CREATE | NLM_F_EXCL`, as
    /// `ip addr add`). `EEXIST` if the interface has it (IPv4: the same
    /// address and prefix length; IPv6: the same address), `ENODEV` without
    /// the interface.
    fn add_address(&mut self, addr: &InterfaceAddress) -> Result<(), BackendError>;

    /// Removes an address (`RTM_DELADDR`), matched by interface, address
    /// and prefix length, and for IPv4 by label when one is given.
    /// `EADDRNOTAVAIL` if there is no such address, `ENODEV` without the
    /// interface.
    fn del_address(&mut self, addr: &InterfaceAddress) -> Result<(), BackendError>;

    /// The addresses of one interface, or of all, sorted by interface,
    /// family, address and prefix length.
    fn addresses(&mut self, ifindex: Option<u32>) -> Result<Vec<AddressEntry>, BackendError>;

    /// Whether the interface has `addr` (any prefix length).
    fn has_address(&mut self, ifindex: u32, addr: std::net::IpAddr) -> Result<bool, BackendError> {
        Ok(self.addresses(Some(ifindex))?.iter().any(|e| e.address.addr == addr))
    }
}

impl<B: IpvsBackend + ?Sized> IpvsBackend for &mut B {
    fn add_service(&mut self, service: &ServiceConfig) -> Result<(), BackendError> {
        (**self).add_service(service)
    }
    fn edit_service(&mut self, service: &ServiceConfig) -> Result<(), BackendError> {
        (**self).edit_service(service)
    }
    fn del_service(&mut self, key: &ServiceKey) -> Result<(), BackendError> {
        (**self).del_service(key)
    }
    fn add_dest(&mut self, service: &ServiceKey, dest: &DestConfig) -> Result<(), BackendError> {
        (**self).add_dest(service, dest)
    }
    fn edit_dest(&mut self, service: &ServiceKey, dest: &DestConfig) -> Result<(), BackendError> {
        (**self).edit_dest(service, dest)
    }
    fn del_dest(&mut self, service: &ServiceKey, dest: SocketAddr) -> Result<(), BackendError> {
        (**self).del_dest(service, dest)
    }
    fn service(&mut self, key: &ServiceKey) -> Result<ServiceSnapshot, BackendError> {
        (**self).service(key)
    }
    fn services(&mut self) -> Result<Vec<ServiceSnapshot>, BackendError> {
        (**self).services()
    }
    fn dests(&mut self, key: &ServiceKey) -> Result<Vec<DestSnapshot>, BackendError> {
        (**self).dests(key)
    }
    fn set_timeouts(&mut self, timeouts: &Timeouts) -> Result<(), BackendError> {
        (**self).set_timeouts(timeouts)
    }
    fn timeouts(&mut self) -> Result<Timeouts, BackendError> {
        (**self).timeouts()
    }
    fn start_daemon(&mut self, daemon: &DaemonConfig) -> Result<(), BackendError> {
        (**self).start_daemon(daemon)
    }
    fn stop_daemon(&mut self, role: DaemonRole) -> Result<(), BackendError> {
        (**self).stop_daemon(role)
    }
    fn daemons(&mut self) -> Result<Vec<DaemonConfig>, BackendError> {
        (**self).daemons()
    }
    fn info(&mut self) -> Result<IpvsInfo, BackendError> {
        (**self).info()
    }
    fn zero(&mut self, service: Option<&ServiceKey>) -> Result<(), BackendError> {
        (**self).zero(service)
    }
    fn flush(&mut self) -> Result<(), BackendError> {
        (**self).flush()
    }
    fn execute(&mut self, op: &IpvsOp) -> Result<(), BackendError> {
        (**self).execute(op)
    }
    fn apply(&mut self, ops: &[IpvsOp]) -> BatchReport {
        (**self).apply(ops)
    }
}

impl<B: AddressBackend + ?Sized> AddressBackend for &mut B {
    fn link_index(&mut self, name: &str) -> Result<u32, BackendError> {
        (**self).link_index(name)
    }
    fn add_address(&mut self, addr: &InterfaceAddress) -> Result<(), BackendError> {
        (**self).add_address(addr)
    }
    fn del_address(&mut self, addr: &InterfaceAddress) -> Result<(), BackendError> {
        (**self).del_address(addr)
    }
    fn addresses(&mut self, ifindex: Option<u32>) -> Result<Vec<AddressEntry>, BackendError> {
        (**self).addresses(ifindex)
    }
}

/// The client-side checks both backends make before carrying out an
/// operation (see the module doc).
pub(crate) mod check {
    use super::*;
    use crate::backend::addr::{IFNAME_MAX, check_name};

    /// The model's rules for a service, except the scheduler registry (the
    /// kernel decides which schedulers it has), plus the kernel's name
    /// lengths.
    pub(crate) fn service(op: &Operation, cfg: &ServiceConfig) -> Result<(), BackendError> {
        match cfg.validate() {
            // `validate` checks the scheduler name last, so an unknown name
            // means every other rule passed.
            Ok(()) | Err(ServiceError::Sched(SchedError::Unknown { .. })) => {}
            Err(e) => return Err(BackendError::invalid(op.clone(), e)),
        }
        check_name("scheduler", &cfg.scheduler, SCHED_NAME_MAX).map_err(|e| BackendError::invalid(op.clone(), e))?;
        if let Some(pe) = &cfg.pe_name {
            check_name("persistence engine", pe, PE_NAME_MAX).map_err(|e| BackendError::invalid(op.clone(), e))?;
        }
        Ok(())
    }

    /// The model's rules for a real server in a service of `key`'s family.
    pub(crate) fn dest(op: &Operation, key: &ServiceKey, dest: &DestConfig) -> Result<(), BackendError> {
        dest.validate(key.family()).map_err(|e| BackendError::invalid(op.clone(), e))
    }

    /// A sync daemon's interface name must fit the kernel's field.
    pub(crate) fn daemon(op: &Operation, d: &DaemonConfig) -> Result<(), BackendError> {
        check_name("interface", &d.mcast_ifn, IFNAME_MAX).map_err(|e| BackendError::invalid(op.clone(), e))
    }

    /// An address's options must suit its family.
    pub(crate) fn address(op: &Operation, a: &InterfaceAddress) -> Result<(), BackendError> {
        a.validate().map_err(|e| BackendError::invalid(op.clone(), e))
    }

    /// An interface name to look up.
    pub(crate) fn ifname(op: &Operation, name: &str) -> Result<(), BackendError> {
        check_name("interface", name, IFNAME_MAX).map_err(|e| BackendError::invalid(op.clone(), e))
    }
}
