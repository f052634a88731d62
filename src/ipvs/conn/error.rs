//! Errors of the connection table: bad configuration, and packets handed to
//! the wrong service. What a packet itself causes (no server, a full table,
//! a port 0) is not an error but a [`Verdict::Drop`](super::Verdict::Drop)
//! with a [`DropReason`](super::DropReason).

use std::net::IpAddr;

use crate::ipvs::flow::Protocol;
use crate::ipvs::service::{Family, ServiceKey};

/// Why the connection table refused a call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConnError {
    /// A `--set` timeout above `INT_MAX / HZ` seconds (`EINVAL` in
    /// `ip_vs_set_timeout`).
    #[error("{field} timeout {value} s is above the maximum of {max} s")]
    TimeoutOutOfRange {
        /// `tcp`, `tcpfin` or `udp`.
        field: &'static str,
        /// The value given.
        value: u32,
        /// The largest accepted value.
        max: u32,
    },
    /// The shard count is not a power of two in 1..=4096.
    #[error("shard count {shards} is not a power of two in 1..=4096")]
    BadShardCount {
        /// The count given.
        shards: usize,
    },
    /// The expected connection count is more than the shards can hold.
    #[error("capacity {capacity} is above the {max} connections {shards} shard(s) can hold")]
    CapacityTooLarge {
        /// The capacity given.
        capacity: usize,
        /// The most the configured shards hold.
        max: usize,
        /// The shard count.
        shards: usize,
    },
    /// No hash seed was given and the operating system's random source
    /// failed.
    #[error("cannot draw a random hash seed: {reason}")]
    NoRandomSeed {
        /// What the random source reported.
        reason: String,
    },
    /// `conn_reuse_mode` outside 0..=3.
    #[error("conn_reuse_mode {value} is outside 0..=3")]
    BadConnReuseMode {
        /// The value given.
        value: u8,
    },
    /// The flow's protocol is not one the service carries.
    #[error("{service} does not carry {protocol}")]
    ProtocolMismatch {
        /// The service.
        service: ServiceKey,
        /// The flow's protocol.
        protocol: Protocol,
    },
    /// The segment (TCP flags, UDP, SCTP chunks) is of another protocol than
    /// the flow.
    #[error("a {segment} segment for a {flow} flow")]
    SegmentMismatch {
        /// The flow's protocol.
        flow: Protocol,
        /// The segment's protocol.
        segment: Protocol,
    },
    /// The flow's addresses are of another family than the service.
    #[error("{service}: {flow} flow for an {service_family} service")]
    FamilyMismatch {
        /// The service.
        service: ServiceKey,
        /// The service's family.
        service_family: Family,
        /// The flow's family.
        flow: Family,
    },
    /// The flow's source and destination are of different families.
    #[error("flow from {src} to {dst} mixes address families")]
    MixedFamilyFlow {
        /// Source address.
        src: IpAddr,
        /// Destination address.
        dst: IpAddr,
    },
    /// The flow's virtual address, port or firewall mark is not the
    /// service's.
    #[error("{service}: flow to {addr} port {port} mark {fwmark} is not for this service")]
    NotForService {
        /// The service.
        service: ServiceKey,
        /// The flow's destination address.
        addr: IpAddr,
        /// The flow's destination port.
        port: u16,
        /// The flow's firewall mark.
        fwmark: u32,
    },
}
