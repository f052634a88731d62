//! The crate's top-level error.
//!
//! Each module has its own [`thiserror`] enum carrying the numbers and names
//! needed to act on a failure; [`Error`] wraps them so that an embedder can use
//! one `?` across modules. It is `#[non_exhaustive]`: new modules add variants.

use crate::backend::BackendError;
use crate::check::CheckError;
use crate::config::ConfigError;
use crate::ipvs::conn::ConnError;
use crate::ipvs::sched::SchedError;
use crate::ipvs::service::ServiceError;

/// Any error lvskit returns.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An invalid virtual service or real server (see [`ServiceError`]).
    #[error(transparent)]
    Service(#[from] ServiceError),
    /// A scheduler could not be built (see [`SchedError`]).
    #[error(transparent)]
    Sched(#[from] SchedError),
    /// A VRRP packet that does not decode or encode (see
    /// [`crate::wire::vrrp::Error`]).
    #[error(transparent)]
    VrrpWire(#[from] crate::wire::vrrp::Error),
    /// A backend call failed (see [`BackendError`]).
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// A configuration that cannot be run (see [`ConfigError`]).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A `vrrp_instance` or sync group keepalived would refuse (see
    /// [`crate::vrrp::ConfigError`]).
    #[error(transparent)]
    VrrpConfig(#[from] crate::vrrp::ConfigError),
    /// An invalid health-check configuration (see [`CheckError`]).
    #[error(transparent)]
    Check(#[from] CheckError),
    /// A VRRP socket, packet socket or rtnetlink monitor failed (see
    /// [`crate::backend::raw_socket::RawSocketError`]).
    #[cfg(all(feature = "raw-socket", target_os = "linux"))]
    #[error(transparent)]
    RawSocket(#[from] crate::backend::raw_socket::RawSocketError),
    /// A connection-table call was refused (see [`ConnError`]).
    #[error(transparent)]
    Conn(#[from] ConnError),
}
