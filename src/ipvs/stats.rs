//! Traffic counters and rate estimates, as the kernel reports them per
//! service, per real server and in total (`struct ip_vs_kstats`,
//! `include/net/ip_vs.h`; `ipvsadm -L --stats` and `--rate` print them).

/// Cumulative counters since the entry was created or last zeroed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Stats {
    /// Connections scheduled.
    pub conns: u64,
    /// Packets from clients.
    pub in_pkts: u64,
    /// Packets to clients.
    pub out_pkts: u64,
    /// Bytes from clients.
    pub in_bytes: u64,
    /// Bytes to clients.
    pub out_bytes: u64,
}

/// Rate estimates (per second), as the kernel's estimator keeps them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Rates {
    /// Connections per second.
    pub cps: u64,
    /// Packets per second from clients.
    pub in_pps: u64,
    /// Packets per second to clients.
    pub out_pps: u64,
    /// Bytes per second from clients.
    pub in_bps: u64,
    /// Bytes per second to clients.
    pub out_bps: u64,
}
