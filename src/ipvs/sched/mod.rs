//! IPVS schedulers: one [`Scheduler`] trait, one file per algorithm, and a
//! registry that builds one by its kernel name ([`new`], [`NAMES`]).
//!
//! Each scheduler reproduces the choice sequence of the kernel's
//! `net/netfilter/ipvs/ip_vs_<name>.c` (Debian's 6.1, and 6.12 for `twos`),
//! not just its spirit: same list order, same tie-breaks, same integer
//! arithmetic. A scheduler sees the service's real servers as a slice in
//! the kernel's list order (newest first, see
//! [`Service`](super::Service)), is told when that list changes (the
//! kernel's `add_dest`/`del_dest`/`upd_dest` hooks), and picks an index.
//! Picking never allocates (lblcr excepted when its pool of set members must
//! grow past its high-water mark).
//!
//! Where the kernel scans every server at every pick (lc, wlc, sed, nq, fo,
//! ovf, twos, and the wlc step of lblc and lblcr), lvskit keeps an index over
//! the servers' loads and picks in O(1) or O(log n), choosing exactly what
//! the scan would, including its tie-breaks by list order (from
//! [`INDEX_FROM`] servers up; below, the scan is cheaper). The index follows
//! the servers' counters and overload flags through
//! [`Scheduler::load_changed`], which [`Service`](super::Service) calls for
//! every change made through [`Dest`]'s methods; [`SchedParams::literal_scan`]
//! selects the kernel's literal scans instead (also available as each
//! module's `scan` function).
//!
//! | name | module | follows |
//! |---|---|---|
//! | `rr` | [`rr`] | `ip_vs_rr.c` |
//! | `wrr` | [`wrr`] | `ip_vs_wrr.c` |
//! | `lc` | [`lc`] | `ip_vs_lc.c` |
//! | `wlc` | [`wlc`] | `ip_vs_wlc.c` |
//! | `sed` | [`sed`] | `ip_vs_sed.c` |
//! | `nq` | [`nq`] | `ip_vs_nq.c` |
//! | `fo` | [`fo`] | `ip_vs_fo.c` |
//! | `ovf` | [`ovf`] | `ip_vs_ovf.c` |
//! | `twos` | [`twos`] | `ip_vs_twos.c` (6.12) |
//! | `sh` | [`sh`] | `ip_vs_sh.c` |
//! | `dh` | [`dh`] | `ip_vs_dh.c` |
//! | `mh` | [`mh`] | `ip_vs_mh.c` |
//! | `lblc` | [`lblc`] | `ip_vs_lblc.c` |
//! | `lblcr` | [`lblcr`] | `ip_vs_lblcr.c` |

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::dest::Dest;
use super::flow::Flow;
use super::service::{Family, ServiceFlags};

pub mod dh;
pub mod fo;
mod index;
pub mod lblc;
pub mod lblcr;
pub mod lc;
pub mod mh;
pub mod nq;
pub mod ovf;
pub mod rr;
pub mod sed;
pub mod sh;
pub mod twos;
pub mod wlc;
pub mod wrr;

pub use dh::DestHashing;
pub use fo::WeightedFailover;
pub use lblc::LocalityLeastConn;
pub use lblcr::LocalityLeastConnReplication;
pub use lc::LeastConn;
pub use mh::{MH_TABLE_SIZES, MaglevHashing};
pub use nq::NeverQueue;
pub use ovf::WeightedOverflow;
pub use rr::RoundRobin;
pub use sed::ShortestExpectedDelay;
pub use sh::SourceHashing;
pub use twos::PowerOfTwo;
pub use wlc::WeightedLeastConn;
pub use wrr::WeightedRoundRobin;

/// Everything a scheduler may look at to pick a real server.
#[derive(Debug, Clone, Copy)]
pub struct SchedRequest<'a> {
    /// The service's real servers in the kernel's list order.
    pub dests: &'a [Arc<Dest>],
    /// The packet's flow.
    pub flow: &'a Flow,
    /// The service's flags (sh/mh read theirs at every pick, as the kernel does).
    pub flags: ServiceFlags,
    /// The current time, for schedulers that age state (lblc, lblcr).
    pub now: Instant,
}

/// A scheduling algorithm bound to one service.
///
/// The list-change hooks receive the list *after* the change, like the
/// kernel's hooks, which run once the entry is linked or unlinked.
///
/// Schedulers that index the servers' loads instead of scanning them at every
/// pick ([`tracks_load`](Self::tracks_load) is true) must also be told, through
/// [`load_changed`](Self::load_changed), whenever a server's connection
/// counters or overload flag change. [`Service`](super::Service) does that by
/// itself; if you drive a scheduler without a `Service`, call `load_changed`
/// yourself, or build the scheduler with [`SchedParams::literal_scan`].
pub trait Scheduler: Send + Sync + fmt::Debug {
    /// The kernel name (`"rr"`, `"wlc"` …).
    fn name(&self) -> &'static str;

    /// Tells the scheduler its service's address family before [`init`](Self::init)
    /// (mh hashes real servers of the other family, allowed with tunnelling,
    /// the way the kernel does: by the service's family).
    fn set_family(&mut self, family: Family) {
        let _ = family;
    }

    /// Binds to a service whose current list is `dests` (`init_service`).
    fn init(&mut self, dests: &[Arc<Dest>]) {
        let _ = dests;
    }

    /// `dests[index]` was just linked (`add_dest`).
    fn add_dest(&mut self, dests: &[Arc<Dest>], index: usize) {
        let _ = (dests, index);
    }

    /// `removed`, which sat at `index`, was just unlinked (`del_dest`).
    fn del_dest(&mut self, dests: &[Arc<Dest>], removed: &Arc<Dest>, index: usize) {
        let _ = (dests, removed, index);
    }

    /// `dests[index]` had its weight, thresholds or method changed (`upd_dest`).
    fn update_dest(&mut self, dests: &[Arc<Dest>], index: usize) {
        let _ = (dests, index);
    }

    /// Whether the scheduler keeps an index over the servers' connection
    /// counters or overload flags, and so must hear of their changes through
    /// [`load_changed`](Self::load_changed). The kernel has no such hook: its
    /// schedulers scan every server at every pick.
    ///
    /// The answer may change as servers come and go (lvskit's schedulers
    /// index only from [`SchedParams::index_from`] servers up). When it turns
    /// true, [`Service`](super::Service) re-arms the servers' notifications
    /// and calls [`init`](Self::init) again, so that the scheduler reads
    /// every server afresh.
    fn tracks_load(&self) -> bool {
        false
    }

    /// The connection counters or the overload flag of `dests[index]`
    /// changed (called only if [`tracks_load`](Self::tracks_load)).
    fn load_changed(&mut self, dests: &[Arc<Dest>], index: usize) {
        let _ = (dests, index);
    }

    /// Picks a real server: an index into `req.dests`, or `None` when no
    /// server may take the flow.
    fn schedule(&mut self, req: &SchedRequest<'_>) -> Option<usize>;
}

/// Parameters for building a scheduler. Build one with
/// `SchedParams { seed: 7, ..SchedParams::default() }`; the defaults are the
/// kernel's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SchedParams {
    /// Seed for schedulers that draw random numbers (twos).
    pub seed: u64,
    /// mh lookup table size, one of the kernel's primes [`MH_TABLE_SIZES`]
    /// (`CONFIG_IP_VS_MH_TAB_INDEX`; Debian's kernel uses 4093).
    pub mh_table_size: u32,
    /// How long an lblc cache entry may stay unused before the periodic
    /// full check drops it (the `net.ipv4.vs.lblc_expiration` sysctl, 24 h).
    pub lblc_expiration: Duration,
    /// How long an lblcr server set may go unchanged before its most loaded
    /// member is dropped, and an entry unused before the full check drops it
    /// (the `net.ipv4.vs.lblcr_expiration` sysctl, 24 h).
    pub lblcr_expiration: Duration,
    /// Use the kernel's literal O(n) scans in lc, wlc, sed, nq, fo, ovf,
    /// twos, lblc and lblcr instead of their indexes. The choices are the
    /// same; the scans need no [`Scheduler::load_changed`] calls, at O(n) per
    /// pick. Off by default.
    pub literal_scan: bool,
    /// From how many real servers up those schedulers use their index
    /// rather than the scan ([`INDEX_FROM`] by default; 0: always). Below
    /// it the scan costs less than keeping the index up to date as
    /// connections come and go.
    pub index_from: usize,
}

/// The default [`SchedParams::index_from`]: with fewer servers the scan is
/// cheaper than the index's upkeep (about equal at 64 in `benches/sched.rs`).
pub const INDEX_FROM: usize = 64;

impl Default for SchedParams {
    fn default() -> Self {
        SchedParams {
            seed: 0,
            mh_table_size: mh::DEFAULT_TABLE_SIZE,
            lblc_expiration: Duration::from_secs(24 * 60 * 60),
            lblcr_expiration: Duration::from_secs(24 * 60 * 60),
            literal_scan: false,
            index_from: INDEX_FROM,
        }
    }
}

/// Why a scheduler could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SchedError {
    /// No scheduler has this kernel name.
    #[error("unknown scheduler {name:?} (known: rr wrr lc wlc sed nq fo ovf twos sh dh mh lblc lblcr)")]
    Unknown {
        /// The name asked for.
        name: String,
    },
    /// The mh table size is not one of the kernel's primes.
    #[error(
        "mh table size {size} is not one of the kernel's primes (251 509 1021 2039 4093 8191 16381 32749 65521 131071)"
    )]
    MhTableSize {
        /// The size asked for.
        size: u32,
    },
}

/// The kernel names of the schedulers [`new`] builds.
pub const NAMES: &[&str] =
    &["rr", "wrr", "lc", "wlc", "sed", "nq", "fo", "ovf", "twos", "sh", "dh", "mh", "lblc", "lblcr"];

/// Builds the scheduler the kernel calls `name`.
pub fn new(name: &str, params: &SchedParams) -> Result<Box<dyn Scheduler>, SchedError> {
    let (scan, from) = (params.literal_scan, params.index_from);
    Ok(match name {
        "rr" => Box::new(RoundRobin::new()),
        "wrr" => Box::new(WeightedRoundRobin::new()),
        "lc" => Box::new(LeastConn::with_params(scan, from)),
        "wlc" => Box::new(WeightedLeastConn::with_params(scan, from)),
        "sed" => Box::new(ShortestExpectedDelay::with_params(scan, from)),
        "nq" => Box::new(NeverQueue::with_params(scan, from)),
        "fo" => Box::new(WeightedFailover::with_params(scan, from)),
        "ovf" => Box::new(WeightedOverflow::with_params(scan, from)),
        "twos" => Box::new(PowerOfTwo::new(params.seed, scan, from)),
        "sh" => Box::new(SourceHashing::new()),
        "dh" => Box::new(DestHashing::new()),
        "mh" => Box::new(MaglevHashing::new(params.mh_table_size)?),
        "lblc" => Box::new(LocalityLeastConn::new(params.lblc_expiration, scan, from)),
        "lblcr" => Box::new(LocalityLeastConnReplication::new(params.lblcr_expiration, scan, from)),
        _ => return Err(SchedError::Unknown { name: name.to_owned() }),
    })
}

/// Whether a server may take new connections: not overloaded and weight
/// above 0 (the test every kernel scheduler makes).
#[inline]
pub(crate) fn usable(d: &Dest) -> bool {
    !d.is_overloaded() && d.weight() > 0
}

/// The kernel's `hash_32(val, bits)` (`include/linux/hash.h`): multiply by
/// `GOLDEN_RATIO_32` and keep the top `bits` bits.
#[inline]
pub(crate) fn hash_32(val: u32, bits: u32) -> u32 {
    val.wrapping_mul(0x61C8_8647) >> (32 - bits)
}

/// The 32-bit fold of an address the hashing schedulers use: an IPv4
/// address as a host-order number, an IPv6 address as the XOR of its four
/// 32-bit words (`addr->ip6[0] ^ … ^ addr->ip6[3]`, then `ntohl`).
#[inline]
pub(crate) fn fold_addr(addr: IpAddr) -> u32 {
    match addr {
        IpAddr::V4(a) => u32::from(a),
        IpAddr::V6(a) => {
            let b = u128::from(a);
            (b >> 96) as u32 ^ (b >> 64) as u32 ^ (b >> 32) as u32 ^ b as u32
        }
    }
}

/// [`fold_addr`] as the kernel computes it for a service of family `family`:
/// it reads the address union by the service's family, so an IPv6 real
/// server in an IPv4 service folds to its first word and an IPv4 one in an
/// IPv6 service to its address (the other words are zero).
#[inline]
pub(crate) fn fold_addr_as(family: Family, addr: IpAddr) -> u32 {
    match (family, addr) {
        (Family::V4, IpAddr::V6(a)) => (u128::from(a) >> 96) as u32,
        _ => fold_addr(addr),
    }
}

/// `(active + 1)`: the expected-delay overhead of sed and nq.
#[inline]
pub(crate) fn active_plus_one(d: &Dest) -> u64 {
    d.active_conns() as u64 + 1
}

#[cfg(test)]
pub(crate) mod testutil;
