//! VRRP routers as sans-IO state machines: [`VrrpInstance`] (RFC 5798
//! section 6, RFC 3768 for v2) behaving like keepalived 2.2.7's
//! `vrrp_instance`, [`SyncGroup`] (`vrrp_sync_group`), tracking
//! ([`track`]), and the configuration they take ([`InstanceConfig`]).
//!
//! It sits between the codecs ([`crate::wire`]) and a driver that owns the
//! sockets: the driver hands in received packets, timeouts and link or
//! tracker changes with the current time, and carries out what comes out of
//! the `poll_*` calls. Nothing here reads a clock or opens a socket, so the
//! same code runs in tests on virtual time (see `tests/vrrp_sim.rs`) and on
//! a real network.
//!
//! ```
//! use std::net::{IpAddr, Ipv4Addr};
//! use std::time::{Duration, Instant};
//! use lvskit::vrrp::{Input, InstanceConfig, State, Transmit, VrrpInstance};
//!
//! let config = InstanceConfig::new("VI_1", 51)
//!     .interface("eth0")
//!     .priority(150)
//!     .vip("192.0.2.100/24".parse::<lvskit::vrrp::VirtualAddress>()?);
//! let mut vi = VrrpInstance::new(config)?;
//! let t0 = Instant::now();
//! vi.handle_input(t0, Input::InterfaceAddress(Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 11)))));
//! vi.handle_input(t0, Input::Startup);
//! assert_eq!(vi.state(), State::Backup);
//!
//! // No master speaks: Master_Down_Interval = 3 x 1 s + (256 - 150) / 256 s.
//! let deadline = vi.poll_timeout().unwrap();
//! assert_eq!(deadline - t0, Duration::from_micros(3_414_062));
//! vi.handle_timeout(deadline);
//! assert_eq!(vi.state(), State::Master);
//! assert!(matches!(vi.poll_transmit(), Some(Transmit::Advert(_))));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod config;
mod from_config;
mod instance;
mod output;
mod sync;
pub mod track;

pub use config::{
    Auth, ConfigError, ConfigWarning, InitialState, InstanceConfig, TrackKind, TrackState, TrackedObject,
    UnicastChecksum, UnicastPeer, VirtualAddress,
};
pub use from_config::{Routers, routers};
pub use instance::{Input, RxMeta, VrrpInstance};
pub use output::{
    Action, Advert, Discard, Event, FaultReason, GratuitousArp, MasterReason, Reason, State, Stats, Transmit,
    UnsolicitedNa,
};
pub use sync::{GroupEvent, SyncGroup};
pub use track::ScriptTracker;
