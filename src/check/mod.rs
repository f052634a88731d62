//! Health checking: keepalived's checkers as a sans-IO engine.
//!
//! * [`HealthChecker`] decides when each real server is probed, what the
//!   results mean (retries, alpha, up after one success), and what the pool
//!   of each virtual server should be (removal or weight 0 under
//!   `inhibit_on_failure`, dynamic weights, quorum and hysteresis with the
//!   `sorry_server`, `ha_suspend`), exactly as keepalived 2.2.7's
//!   `check/` does. It yields [`Probe`]s, [`HealthEvent`]s and
//!   [`DesiredService`]s, and takes results and time as inputs.
//! * [`spec`] holds the typed checker configuration (`TCP_CHECK`,
//!   `HTTP_GET`, `SSL_GET`, `MISC_CHECK`, `UDP_CHECK`, `DNS_CHECK`,
//!   `SMTP_CHECK`, `PING_CHECK`, `FILE_CHECK` and the common connection
//!   options) and keepalived's inheritance of defaults.
//! * [`http`], [`dns`], [`smtp`], [`udp`], [`icmp`] and [`file`](mod@file) are the
//!   pure protocol pieces a runner uses: request and query builders and
//!   bounded, incremental readers of what servers send back, with
//!   keepalived's verdict rules.
//! * `runner` (feature `probe`, Linux) carries probes out on a `mio` event
//!   loop with non-blocking sockets, rustls for `SSL_GET`, child processes
//!   for `MISC_CHECK` and notify scripts.
//!
//! ```
//! use std::net::{IpAddr, Ipv4Addr};
//! use std::time::{Duration, Instant};
//! use rand::SeedableRng;
//! use lvskit::check::{CheckerSpec, HealthChecker, ProbeResult, RealServerSpec, VirtualServerSpec};
//! use lvskit::ipvs::{DestConfig, Protocol, ServiceConfig, ServiceKey};
//!
//! let vip = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
//! let vs = VirtualServerSpec::new(ServiceConfig::new(ServiceKey::addr(Protocol::Tcp, vip, 80), "wlc"))
//!     .delay_loop(Duration::from_secs(6))
//!     .real_server(
//!         RealServerSpec::new(DestConfig::masq(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1)), 80))
//!             .checker(CheckerSpec::tcp().connect_timeout(Duration::from_secs(10)).retry(3)),
//!     );
//! let start = Instant::now();
//! let mut hc = HealthChecker::new(vec![vs], rand::rngs::StdRng::seed_from_u64(1), start)?;
//! // The server starts in the pool; its first check is due 1 s + warmup later.
//! assert_eq!(hc.desired()[0].dests.len(), 1);
//! let at = hc.poll_timeout().unwrap();
//! hc.handle_timeout(at);
//! let probe = hc.poll_probe().expect("a TCP probe");
//! // ... a runner connects to probe.target and reports:
//! hc.handle_result(probe.id, ProbeResult::Success, at + Duration::from_millis(1))?;
//! assert_eq!(hc.desired()[0].dests.len(), 1);
//! # Ok::<(), lvskit::check::CheckError>(())
//! ```

pub mod checker;
pub mod dns;
pub mod file;
pub mod from_config;
#[doc(hidden)]
pub mod fuzzing;
pub mod http;
pub mod icmp;
pub mod outcome;
#[cfg(all(feature = "probe", target_os = "linux"))]
pub mod runner;
pub mod smtp;
pub mod spec;
pub mod udp;

use std::net::SocketAddr;

pub use checker::{
    Adjustment, CheckerId, CheckerStatus, DesiredService, HealthChecker, HealthEvent, HttpProbe, Probe, ProbeId,
    ProbeSpec, RsId, ServerStatus, VsId,
};
pub use outcome::{Failure, ProbeResult, ScriptExit};
pub use spec::{
    CheckKind, CheckerSpec, ConnectSpec, DnsCheck, FileCheck, HttpCheck, MiscCheck, RealServerSpec, ResolvedChecker,
    Script, SmtpCheck, SorryServer, Target, Timing, UdpCheck, UrlSpec, VirtualServerSpec,
};

/// An invalid checker configuration or a misuse of the checker's inputs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CheckError {
    /// A script with no program.
    #[error("script has no program")]
    EmptyScript,
    /// `bindto` and the destination are of different address families.
    #[error("bindto {bind} does not match the address family of {dst}")]
    BindFamily {
        /// Destination.
        dst: SocketAddr,
        /// Bind address.
        bind: SocketAddr,
    },
    /// An IPv6 link-local destination needs `bind_if`.
    #[error("checker link local address {dst} requires a bind_if")]
    LinkLocalNeedsInterface {
        /// Destination.
        dst: SocketAddr,
    },
    /// A digest of the wrong length.
    #[error("digest '{digest}' character length should be 32 rather than {len}")]
    DigestLength {
        /// The digest as written.
        digest: String,
        /// Its length.
        len: usize,
    },
    /// A digest with a non-hex character.
    #[error("unable to interpret hex digit in digest '{digest}' at offset {at}")]
    DigestHex {
        /// The digest as written.
        digest: String,
        /// Offset of the bad pair.
        at: usize,
    },
    /// `HTTP_GET`/`SSL_GET` without a URL.
    #[error("HTTP/SSL_GET checker has no urls specified")]
    NoUrls,
    /// A URL without a path.
    #[error("HTTP/SSL_GET url #{url} has no path")]
    EmptyUrlPath {
        /// Index of the URL.
        url: usize,
    },
    /// A URL accepting no status code.
    #[error("url {path} accepts no status code")]
    NoStatusCodes {
        /// The path.
        path: String,
    },
    /// A status code range outside 100..=599 or reversed.
    #[error("invalid HTTP status code range {min}-{max} (codes are 100-599)")]
    StatusRange {
        /// Low end.
        min: u16,
        /// High end.
        max: u16,
    },
    /// A `status_code` argument that is not `N` or `N-M`.
    #[error("invalid HTTP_GET status code '{arg}'")]
    StatusSyntax {
        /// The argument.
        arg: String,
    },
    /// A path or host that would break the request.
    #[error("url path '{path}' or its virtual host contains a space, CR or LF")]
    RequestSyntax {
        /// The path.
        path: String,
    },
    /// A request longer than keepalived's buffer.
    #[error("HTTP request of {len} bytes exceeds {max} bytes")]
    RequestTooLong {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// An invalid `DNS_CHECK` name.
    #[error("DNS_CHECK name '{name}': {reason}")]
    DnsName {
        /// The name.
        name: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// An invalid hex string (`payload`, `require_reply`).
    #[error("invalid hex string '{text}' at offset {at}")]
    HexString {
        /// The string.
        text: String,
        /// Offset of the bad character.
        at: usize,
    },
    /// An empty UDP payload.
    #[error("UDP_CHECK payload is empty")]
    EmptyPayload,
    /// An unusable `helo_name`.
    #[error("SMTP_CHECK helo_name '{helo}' is empty or contains CR/LF")]
    BadHeloName {
        /// The name.
        helo: String,
    },
    /// `delay_loop` of zero.
    #[error("delay_loop of checker on {rs} is zero")]
    ZeroDelayLoop {
        /// The real server.
        rs: SocketAddr,
    },
    /// `connect_timeout` of zero.
    #[error("connect_timeout of checker on {rs} is zero")]
    ZeroTimeout {
        /// The real server.
        rs: SocketAddr,
    },
    /// A `keepalived.conf` directive lvskit's checker cannot run; `span`
    /// locates it (`loaded.sources.locate(span)` gives
    /// file:line:col).
    #[error("{keyword}: {message}")]
    FromConfig {
        /// Where it is.
        span: crate::config::source::Span,
        /// The keyword.
        keyword: &'static str,
        /// What is wrong.
        message: String,
    },
    /// A virtual server without an IPVS service.
    #[error("virtual server has no IPVS service")]
    NoService,
    /// More than `u32::MAX` checkers.
    #[error("too many checkers")]
    TooManyCheckers,
    /// A result for a probe that is not awaited.
    #[error("no probe {id} is awaiting a result")]
    UnknownProbe {
        /// The probe id.
        id: String,
    },
    /// A result after [`HealthChecker::shutdown`].
    #[error("result for probe {id} after shutdown")]
    ShutDown {
        /// The probe id.
        id: String,
    },
}
