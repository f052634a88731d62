//! What an IPVS table holds, as plain values: services with their real
//! servers and counters, the global timeouts, the sync daemons and the
//! table's identity. These are what a backend's reads return (the kernel's
//! dumps, an in-memory table), what `ipvsadm -L` renders and what a
//! reconciler compares against a desired state.

use std::net::IpAddr;

use super::dest::DestConfig;
use super::service::ServiceConfig;
use super::stats::{Rates, Stats};

/// One real server with its live counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DestSnapshot {
    /// Settings.
    pub config: DestConfig,
    /// Active connections (`ActiveConn`).
    pub active_conns: u32,
    /// Inactive connections (`InActConn`).
    pub inactive_conns: u32,
    /// Persistence templates pointing at it.
    pub persistent_conns: u32,
    /// Traffic counters.
    pub stats: Stats,
    /// Rate estimates.
    pub rates: Rates,
}

impl DestSnapshot {
    /// `config` with every counter at zero: a server as a table holds it
    /// before any traffic (what reconcilers compare desired pools as).
    pub(crate) fn idle(config: DestConfig) -> Self {
        DestSnapshot {
            config,
            active_conns: 0,
            inactive_conns: 0,
            persistent_conns: 0,
            stats: Stats::default(),
            rates: Rates::default(),
        }
    }
}

/// One virtual service with its real servers (in the kernel's list order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceSnapshot {
    /// Settings.
    pub config: ServiceConfig,
    /// Real servers, in the order the table lists them.
    pub dests: Vec<DestSnapshot>,
    /// Traffic counters.
    pub stats: Stats,
    /// Rate estimates.
    pub rates: Rates,
}

impl ServiceSnapshot {
    /// `config` with `dests` and every counter at zero.
    pub(crate) fn idle(config: ServiceConfig, dests: Vec<DestSnapshot>) -> Self {
        ServiceSnapshot { config, dests, stats: Stats::default(), rates: Rates::default() }
    }
}

/// The three protocol timeouts `ipvsadm --set tcp tcpfin udp` changes, in
/// seconds. In a request, 0 means "leave unchanged" (`ip_vs_set_timeout`,
/// `net/netfilter/ipvs/ip_vs_ctl.c`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Timeouts {
    /// TCP ESTABLISHED, 900 s by default.
    pub tcp: u32,
    /// TCP FIN_WAIT, 120 s by default.
    pub tcp_fin: u32,
    /// UDP, 300 s by default.
    pub udp: u32,
}

impl Default for Timeouts {
    /// The kernel's defaults: 900 / 120 / 300 seconds
    /// (`tcp_timeouts[]` in `ip_vs_proto_tcp.c`, `udp_timeouts[]` in
    /// `ip_vs_proto_udp.c`).
    fn default() -> Self {
        Timeouts { tcp: 900, tcp_fin: 120, udp: 300 }
    }
}

/// Role of a connection-synchronisation daemon (`IP_VS_STATE_MASTER`/`BACKUP`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DaemonRole {
    /// Sends connection updates.
    Master,
    /// Receives them.
    Backup,
}

impl DaemonRole {
    /// The kernel's state bit (1 master, 2 backup).
    pub const fn state(self) -> u32 {
        match self {
            DaemonRole::Master => 1,
            DaemonRole::Backup => 2,
        }
    }
}

/// A connection-synchronisation daemon (`ipvsadm --start-daemon`,
/// keepalived's `lvs_sync_daemon`; `IPVS_DAEMON_ATTR_*`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DaemonConfig {
    /// Master or backup.
    pub role: DaemonRole,
    /// Multicast interface name.
    pub mcast_ifn: String,
    /// Sync id (0..=255 in ipvsadm).
    pub sync_id: u32,
    /// Maximum UDP payload, 0 for the kernel's choice.
    pub sync_maxlen: u16,
    /// Multicast group, `None` for the default 224.0.0.81.
    pub mcast_group: Option<IpAddr>,
    /// Multicast port, 0 for the default 8848.
    pub mcast_port: u16,
    /// Multicast TTL, 0 for the default 1.
    pub mcast_ttl: u8,
}

/// The table's identity (`IPVS_CMD_GET_INFO`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IpvsInfo {
    /// IPVS version, `(major << 16) | (minor << 8) | patch` (1.2.1 is 0x010201).
    pub version: u32,
    /// Size of the connection hash table.
    pub conn_tab_size: u32,
}
