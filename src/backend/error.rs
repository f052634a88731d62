//! What a backend call can fail with, and how a failure names its operation
//! and object.
//!
//! Every [`BackendError`] carries an [`Operation`]: the command and the object
//! it was about (`add real server 198.51.100.1:80 to TCP 192.0.2.1:80`), so a
//! log line or a batch report is enough to act on. Kernel refusals keep the
//! kernel's errno ([`Errno`]); the in-memory backend returns the same errno
//! for the same call, so code written against one behaves the same against
//! the other.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use crate::ipvs::{DaemonRole, ServiceError, ServiceKey};

/// A Linux errno value as the kernel returned it (positive).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Errno(pub i32);

impl fmt::Debug for Errno {
    /// `EEXIST(17)`, or `Errno(42)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "{name}({})", self.0),
            None => write!(f, "Errno({})", self.0),
        }
    }
}

impl Errno {
    /// Operation not permitted (missing `CAP_NET_ADMIN`).
    pub const EPERM: Errno = Errno(1);
    /// No such entry: a real server, a scheduler or persistence-engine module.
    pub const ENOENT: Errno = Errno(2);
    /// No such virtual service, or no such sync daemon running.
    pub const ESRCH: Errno = Errno(3);
    /// Out of memory.
    pub const ENOMEM: Errno = Errno(12);
    /// Permission denied.
    pub const EACCES: Errno = Errno(13);
    /// Busy.
    pub const EBUSY: Errno = Errno(16);
    /// Already exists.
    pub const EEXIST: Errno = Errno(17);
    /// No such network interface.
    pub const ENODEV: Errno = Errno(19);
    /// Invalid argument.
    pub const EINVAL: Errno = Errno(22);
    /// Value out of range (IPVS: thresholds in the wrong order).
    pub const ERANGE: Errno = Errno(34);
    /// Message too long.
    pub const EMSGSIZE: Errno = Errno(90);
    /// Protocol not available (IPVS is being unloaded).
    pub const ENOPROTOOPT: Errno = Errno(92);
    /// Operation not supported.
    pub const EOPNOTSUPP: Errno = Errno(95);
    /// Address family not supported (IPv6 disabled).
    pub const EAFNOSUPPORT: Errno = Errno(97);
    /// Address not available: removing an address the interface does not have.
    pub const EADDRNOTAVAIL: Errno = Errno(99);
    /// No buffer space (a netlink socket overran).
    pub const ENOBUFS: Errno = Errno(105);

    /// The symbolic name (`"EEXIST"`), if it is one lvskit knows.
    pub const fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            1 => "EPERM",
            2 => "ENOENT",
            3 => "ESRCH",
            12 => "ENOMEM",
            13 => "EACCES",
            16 => "EBUSY",
            17 => "EEXIST",
            19 => "ENODEV",
            22 => "EINVAL",
            34 => "ERANGE",
            90 => "EMSGSIZE",
            92 => "ENOPROTOOPT",
            95 => "EOPNOTSUPP",
            97 => "EAFNOSUPPORT",
            99 => "EADDRNOTAVAIL",
            105 => "ENOBUFS",
            _ => return None,
        })
    }

    /// What the errno means for the IPVS and address commands.
    const fn meaning(self) -> &'static str {
        match self.0 {
            1 => "operation not permitted",
            2 => "no such entry",
            3 => "no such service or daemon",
            12 => "out of memory",
            13 => "permission denied",
            16 => "busy",
            17 => "already exists",
            19 => "no such device",
            22 => "invalid argument",
            34 => "out of range",
            90 => "message too long",
            92 => "protocol not available",
            95 => "not supported",
            97 => "address family not supported",
            99 => "address not available",
            105 => "no buffer space",
            _ => "error",
        }
    }
}

impl fmt::Display for Errno {
    /// `EEXIST (already exists)`, or `errno 42` for one lvskit has no name for.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "{name} ({})", self.meaning()),
            None => write!(f, "errno {}", self.0),
        }
    }
}

/// A backend command and the object it is about, for error messages and
/// batch reports.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Operation {
    /// `IPVS_CMD_NEW_SERVICE`.
    AddService(ServiceKey),
    /// `IPVS_CMD_SET_SERVICE`.
    EditService(ServiceKey),
    /// `IPVS_CMD_DEL_SERVICE`.
    DelService(ServiceKey),
    /// `IPVS_CMD_GET_SERVICE` for one service.
    GetService(ServiceKey),
    /// `IPVS_CMD_GET_SERVICE` dump.
    ListServices,
    /// `IPVS_CMD_NEW_DEST`.
    AddDest {
        /// The virtual service.
        service: ServiceKey,
        /// The real server.
        dest: SocketAddr,
    },
    /// `IPVS_CMD_SET_DEST`.
    EditDest {
        /// The virtual service.
        service: ServiceKey,
        /// The real server.
        dest: SocketAddr,
    },
    /// `IPVS_CMD_DEL_DEST`.
    DelDest {
        /// The virtual service.
        service: ServiceKey,
        /// The real server.
        dest: SocketAddr,
    },
    /// `IPVS_CMD_GET_DEST` dump.
    ListDests(ServiceKey),
    /// `IPVS_CMD_SET_CONFIG`.
    SetTimeouts,
    /// `IPVS_CMD_GET_CONFIG`.
    GetTimeouts,
    /// `IPVS_CMD_NEW_DAEMON`.
    StartDaemon {
        /// Master or backup.
        role: DaemonRole,
        /// Multicast interface.
        ifname: String,
    },
    /// `IPVS_CMD_DEL_DAEMON`.
    StopDaemon(DaemonRole),
    /// `IPVS_CMD_GET_DAEMON` dump.
    ListDaemons,
    /// `IPVS_CMD_GET_INFO`.
    GetInfo,
    /// `IPVS_CMD_ZERO`, of one service or of all.
    Zero(Option<ServiceKey>),
    /// `IPVS_CMD_FLUSH`.
    Flush,
    /// Resolving a generic netlink family by name.
    ResolveFamily(&'static str),
    /// A raw request sent with [`NetlinkIpvs::request`](super::netlink::NetlinkIpvs::request)
    /// (the IPVS command number).
    Raw(u8),
    /// `RTM_NEWADDR`.
    AddAddress {
        /// Interface index.
        ifindex: u32,
        /// Address.
        addr: IpAddr,
        /// Prefix length.
        prefix_len: u8,
    },
    /// `RTM_DELADDR`.
    DelAddress {
        /// Interface index.
        ifindex: u32,
        /// Address.
        addr: IpAddr,
        /// Prefix length.
        prefix_len: u8,
    },
    /// `RTM_GETADDR` dump.
    ListAddresses,
    /// `RTM_GETLINK` dump.
    ListLinks,
    /// `RTM_GETLINK` by name.
    LinkIndex(String),
    /// Reading or writing a sysctl (`/proc/sys/...`).
    Sysctl(String),
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Operation::AddService(k) => write!(f, "add service {k}"),
            Operation::EditService(k) => write!(f, "edit service {k}"),
            Operation::DelService(k) => write!(f, "delete service {k}"),
            Operation::GetService(k) => write!(f, "get service {k}"),
            Operation::ListServices => f.write_str("list services"),
            Operation::AddDest { service, dest } => write!(f, "add real server {dest} to {service}"),
            Operation::EditDest { service, dest } => write!(f, "edit real server {dest} of {service}"),
            Operation::DelDest { service, dest } => write!(f, "delete real server {dest} from {service}"),
            Operation::ListDests(k) => write!(f, "list real servers of {k}"),
            Operation::SetTimeouts => f.write_str("set timeouts"),
            Operation::GetTimeouts => f.write_str("get timeouts"),
            Operation::StartDaemon { role, ifname } => write!(f, "start {} sync daemon on {ifname}", role_name(*role)),
            Operation::StopDaemon(role) => write!(f, "stop {} sync daemon", role_name(*role)),
            Operation::ListDaemons => f.write_str("list sync daemons"),
            Operation::GetInfo => f.write_str("get IPVS info"),
            Operation::Zero(Some(k)) => write!(f, "zero counters of {k}"),
            Operation::Zero(None) => f.write_str("zero all counters"),
            Operation::Flush => f.write_str("flush the table"),
            Operation::ResolveFamily(name) => write!(f, "resolve generic netlink family {name}"),
            Operation::Raw(cmd) => write!(f, "IPVS command {cmd}"),
            Operation::AddAddress { ifindex, addr, prefix_len } => {
                write!(f, "add address {addr}/{prefix_len} on interface {ifindex}")
            }
            Operation::DelAddress { ifindex, addr, prefix_len } => {
                write!(f, "delete address {addr}/{prefix_len} from interface {ifindex}")
            }
            Operation::ListAddresses => f.write_str("list addresses"),
            Operation::ListLinks => f.write_str("list links"),
            Operation::LinkIndex(name) => write!(f, "look up interface {name}"),
            Operation::Sysctl(path) => write!(f, "sysctl {path}"),
        }
    }
}

fn role_name(role: DaemonRole) -> &'static str {
    match role {
        DaemonRole::Master => "master",
        DaemonRole::Backup => "backup",
    }
}

/// Why a request was refused before it was sent: it breaks a rule `ipvsadm`
/// or the kernel's message policy enforces on the client side.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidInput {
    /// The service or real server breaks the model's rules.
    #[error(transparent)]
    Model(#[from] ServiceError),
    /// A name the kernel keeps in a fixed-size field is too long or holds a
    /// NUL byte.
    #[error("{field} {value:?} is not a valid name (1..={max} bytes, no NUL)")]
    Name {
        /// Which name (`"scheduler"`, `"persistence engine"`, `"interface"`, `"label"`).
        field: &'static str,
        /// The name given.
        value: String,
        /// The longest the kernel keeps.
        max: usize,
    },
    /// A prefix length longer than the address.
    #[error("prefix length {prefix_len} is too long for {addr}")]
    PrefixLength {
        /// The address.
        addr: IpAddr,
        /// The prefix length given.
        prefix_len: u8,
    },
    /// An option that exists only for the other address family.
    #[error("{option} does not apply to {addr}")]
    FamilyOption {
        /// The option (`"label"`, `"broadcast"`, `"nodad"`).
        option: &'static str,
        /// The address.
        addr: IpAddr,
    },
}

/// Why a backend call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackendError {
    /// The request was refused before it was sent (both backends refuse it
    /// the same way).
    #[error("{op}: {reason}")]
    Invalid {
        /// The operation.
        op: Operation,
        /// What is wrong with it.
        reason: InvalidInput,
    },
    /// The kernel refused the operation (or the in-memory backend, which
    /// refuses with the errno the kernel would).
    #[error("{op}: {errno}")]
    Kernel {
        /// The operation.
        op: Operation,
        /// The kernel's errno.
        errno: Errno,
    },
    /// The netlink socket failed (open, send or receive).
    #[error("{op}: netlink socket: {source}")]
    Io {
        /// The operation.
        op: Operation,
        /// The socket error.
        #[source]
        source: std::io::Error,
    },
    /// The kernel's reply could not be decoded, or describes something the
    /// model cannot represent.
    #[error("{op}: malformed reply: {reason}")]
    Decode {
        /// The operation.
        op: Operation,
        /// What was wrong.
        reason: String,
    },
    /// A generic netlink family is not registered (for IPVS: the `ip_vs`
    /// module is not loaded, or the kernel has no IPVS).
    #[error("generic netlink family {0:?} not found (is its kernel module loaded?)")]
    FamilyNotFound(&'static str),
}

impl BackendError {
    /// The operation that failed, if the error is about one.
    pub fn operation(&self) -> Option<&Operation> {
        match self {
            BackendError::Invalid { op, .. }
            | BackendError::Kernel { op, .. }
            | BackendError::Io { op, .. }
            | BackendError::Decode { op, .. } => Some(op),
            BackendError::FamilyNotFound(_) => None,
        }
    }

    /// The kernel's errno, for a kernel refusal.
    pub fn errno(&self) -> Option<Errno> {
        match self {
            BackendError::Kernel { errno, .. } => Some(*errno),
            _ => None,
        }
    }

    /// Whether the kernel said the object already exists (`EEXIST`).
    pub fn is_exists(&self) -> bool {
        self.errno() == Some(Errno::EEXIST)
    }

    /// Whether the kernel said the object does not exist (`ESRCH` for
    /// services and daemons, `ENOENT` for real servers, `EADDRNOTAVAIL` for
    /// addresses).
    pub fn is_not_found(&self) -> bool {
        matches!(self.errno(), Some(Errno::ESRCH | Errno::ENOENT | Errno::EADDRNOTAVAIL))
    }

    pub(crate) fn kernel(op: Operation, errno: Errno) -> Self {
        BackendError::Kernel { op, errno }
    }

    pub(crate) fn invalid(op: Operation, reason: impl Into<InvalidInput>) -> Self {
        BackendError::Invalid { op, reason: reason.into() }
    }
}

/// Two errors are equal when they have the same variant, operation, errno
/// or reason (I/O errors compare by kind): what a test needs to check that
/// two backends fail the same way.
impl PartialEq for BackendError {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (BackendError::Invalid { op: a, reason: r }, BackendError::Invalid { op: b, reason: s }) => {
                a == b && r == s
            }
            (BackendError::Kernel { op: a, errno: e }, BackendError::Kernel { op: b, errno: f }) => a == b && e == f,
            (BackendError::Io { op: a, source: e }, BackendError::Io { op: b, source: f }) => {
                a == b && e.kind() == f.kind()
            }
            (BackendError::Decode { op: a, reason: r }, BackendError::Decode { op: b, reason: s }) => a == b && r == s,
            (BackendError::FamilyNotFound(a), BackendError::FamilyNotFound(b)) => a == b,
            _ => false,
        }
    }
}
