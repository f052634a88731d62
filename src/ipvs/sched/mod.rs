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
//! Picking never allocates.

use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use super::dest::Dest;
use super::flow::Flow;
use super::service::ServiceFlags;

mod rr;

pub use rr::RoundRobin;

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
pub trait Scheduler: Send + Sync + fmt::Debug {
    /// The kernel name (`"rr"`, `"wlc"` …).
    fn name(&self) -> &'static str;

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

    /// Picks a real server: an index into `req.dests`, or `None` when no
    /// server may take the flow.
    fn schedule(&mut self, req: &SchedRequest<'_>) -> Option<usize>;
}

/// Parameters for building a scheduler.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SchedParams {
    /// Seed for schedulers that draw random numbers (twos).
    pub seed: u64,
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
}

/// The kernel names of the schedulers [`new`] builds.
pub const NAMES: &[&str] = &["rr"];

/// Builds the scheduler the kernel calls `name`.
pub fn new(name: &str, params: &SchedParams) -> Result<Box<dyn Scheduler>, SchedError> {
    let _ = params;
    Ok(match name {
        "rr" => Box::new(RoundRobin::new()),
        _ => return Err(SchedError::Unknown { name: name.to_owned() }),
    })
}

/// Whether a server may take new connections: not overloaded and weight
/// above 0 (the test every kernel scheduler makes).
#[inline]
pub(crate) fn usable(d: &Dest) -> bool {
    !d.is_overloaded() && d.weight() > 0
}
