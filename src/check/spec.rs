//! What to check and how often: the typed form of keepalived's
//! `virtual_server` / `real_server` / `*_CHECK` blocks, and the inheritance
//! rules that resolve unset values (`validate_check_config` in
//! keepalived's `check/check_data.c`).
//!
//! Values left `None` are inherited exactly as keepalived 2.2.7 does: a
//! checker takes its timing from its real server, the real server from its
//! virtual server, and the virtual server has the built-in defaults
//! (`delay_loop` 60 s, `connect_timeout` 5 s). Where nobody sets a value the
//! checker kind's own default applies ([`CheckKind::default_retry`],
//! [`CheckKind::default_delay_before_retry`]).

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::ipvs::{DestConfig, ServiceConfig};

use super::CheckError;
use super::dns::DnsType;
use super::http::{HttpProtocol, StatusSet};
use super::udp::BytePattern;

/// keepalived's default `delay_loop` for a virtual server, 60 s
/// (`KEEPALIVED_DEFAULT_DELAY`, `include/check_data.h`).
pub const DEFAULT_DELAY_LOOP: Duration = Duration::from_secs(60);
/// keepalived's default connection timeout for a virtual server, 5 s
/// (`alloc_vs`, `check/check_data.c`).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Delay before the first check of every checker, on top of its random
/// warmup (`BOOTSTRAP_DELAY`, one second, `lib/scheduler.h`).
pub const BOOTSTRAP_DELAY: Duration = Duration::from_secs(1);
/// The default `helo_name` of `SMTP_CHECK` (`SMTP_DEFAULT_HELO`).
pub const DEFAULT_HELO_NAME: &str = "smtpchecker.keepalived.org";

/// A command to execute without a shell: a program and its arguments, as
/// keepalived splits `misc_path` and `notify_*` strings into an argv.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Script {
    /// `argv[0]` is the program (a path); the rest are its arguments.
    pub argv: Vec<String>,
    /// Run as this user id, if set (keepalived's `user` keyword).
    pub uid: Option<u32>,
    /// Run with this group id, if set.
    pub gid: Option<u32>,
}

impl Script {
    /// A script from its argv; fails on an empty argv or an empty program.
    pub fn new<I, S>(argv: I) -> Result<Self, CheckError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let argv: Vec<String> = argv.into_iter().map(Into::into).collect();
        if argv.first().is_none_or(|p| p.is_empty()) {
            return Err(CheckError::EmptyScript);
        }
        Ok(Script { argv, uid: None, gid: None })
    }

    /// Sets the user and group the script runs as.
    pub fn user(mut self, uid: u32, gid: u32) -> Self {
        self.uid = Some(uid);
        self.gid = Some(gid);
        self
    }

    /// The program.
    pub fn program(&self) -> &str {
        &self.argv[0]
    }
}

impl fmt::Display for Script {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, a) in self.argv.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            f.write_str(a)?;
        }
        Ok(())
    }
}

/// Timing options that every level (virtual server, real server, checker)
/// may set; `None` inherits from the level above (`check_api.c`
/// `install_checker_common_keywords`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Timing {
    /// `delay_loop`: interval between checks of a healthy or failed server.
    pub delay_loop: Option<Duration>,
    /// `warmup`: the first check happens after a random delay in
    /// `0..=warmup` (plus one second); defaults to `delay_loop`.
    pub warmup: Option<Duration>,
    /// `retry` (`nb_get_retry` is its deprecated alias): failed attempts
    /// retried before a server is declared down.
    pub retry: Option<u32>,
    /// `delay_before_retry`: interval between retries.
    pub delay_before_retry: Option<Duration>,
    /// `connect_timeout`: time allowed to connect, and for each later
    /// step of a dialogue.
    pub connect_timeout: Option<Duration>,
    /// `alpha`: start the server as failed until its first success.
    pub alpha: Option<bool>,
}

impl Timing {
    /// Values set here win; unset ones come from `parent`.
    pub fn or(self, parent: Timing) -> Timing {
        Timing {
            delay_loop: self.delay_loop.or(parent.delay_loop),
            warmup: self.warmup.or(parent.warmup),
            retry: self.retry.or(parent.retry),
            delay_before_retry: self.delay_before_retry.or(parent.delay_before_retry),
            connect_timeout: self.connect_timeout.or(parent.connect_timeout),
            alpha: self.alpha.or(parent.alpha),
        }
    }
}

/// Where and how a checker connects (`connect_ip`, `connect_port`,
/// `bindto`, `bind_port`, `bind_if`, `fwmark`); unset values default to the
/// real server's address and port and to no binding.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConnectSpec {
    /// `connect_ip`: probe this address instead of the real server's.
    pub connect_ip: Option<IpAddr>,
    /// `connect_port`: probe this port instead of the real server's.
    pub connect_port: Option<u16>,
    /// `bindto`: source address.
    pub bindto: Option<IpAddr>,
    /// `bind_port`: source port.
    pub bind_port: Option<u16>,
    /// `bind_if`: bind to this interface (`SO_BINDTODEVICE`); required for
    /// an IPv6 link-local destination.
    pub bind_if: Option<String>,
    /// `fwmark`: mark the probe's packets (`SO_MARK`), 0 for none.
    pub fwmark: u32,
}

/// A resolved probe destination: where to connect and from where.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Target {
    /// Destination address and port.
    pub dst: SocketAddr,
    /// Source address and port to bind, if any (port 0: any port).
    pub bind: Option<SocketAddr>,
    /// Interface to bind to, if any.
    pub bind_if: Option<Arc<str>>,
    /// Packet mark, 0 for none.
    pub fwmark: u32,
}

impl ConnectSpec {
    /// Resolves the target against the real server's socket address. Fails
    /// when `connect_ip` and `bindto` are of different families, or an
    /// IPv6 link-local destination has no `bind_if` (`check_conn_opts`).
    pub fn resolve(&self, rs: SocketAddr) -> Result<Target, CheckError> {
        let dst = SocketAddr::new(self.connect_ip.unwrap_or(rs.ip()), self.connect_port.unwrap_or(rs.port()));
        let bind = match (self.bindto, self.bind_port) {
            (Some(ip), port) => Some(SocketAddr::new(ip, port.unwrap_or(0))),
            (None, Some(port)) => {
                let any = match dst.ip() {
                    IpAddr::V4(_) => IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
                    IpAddr::V6(_) => IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
                };
                Some(SocketAddr::new(any, port))
            }
            (None, None) => None,
        };
        if let Some(b) = bind {
            if b.is_ipv4() != dst.is_ipv4() {
                return Err(CheckError::BindFamily { dst, bind: b });
            }
        }
        if let IpAddr::V6(v6) = dst.ip() {
            if v6.is_unicast_link_local() && self.bind_if.is_none() {
                return Err(CheckError::LinkLocalNeedsInterface { dst });
            }
        }
        Ok(Target { dst, bind, bind_if: self.bind_if.as_deref().map(Arc::from), fwmark: self.fwmark })
    }
}

/// One URL of an `HTTP_GET`/`SSL_GET` checker (`url { path digest
/// status_code virtualhost }`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlSpec {
    /// The request path, sent as is.
    pub path: String,
    /// MD5 of the body, if it must match.
    pub digest: Option<[u8; 16]>,
    /// Accepted status codes; 200-299 when none is configured
    /// (`url_check`, `check/check_http.c`).
    pub status: StatusSet,
    /// `Host:` for this URL, overriding the checker's.
    pub virtualhost: Option<String>,
}

impl UrlSpec {
    /// A URL accepting keepalived's default status codes, 200 to 299.
    pub fn new(path: impl Into<String>) -> Self {
        UrlSpec { path: path.into(), digest: None, status: StatusSet::default_codes(), virtualhost: None }
    }

    /// Requires the body's MD5 digest.
    pub fn digest(mut self, digest: [u8; 16]) -> Self {
        self.digest = Some(digest);
        self
    }

    /// Requires the body's MD5 digest given as 32 hex digits, as in
    /// keepalived.conf.
    pub fn digest_hex(self, hex: &str) -> Result<Self, CheckError> {
        Ok(self.digest(parse_digest(hex)?))
    }

    /// Replaces the accepted status codes.
    pub fn status(mut self, status: StatusSet) -> Self {
        self.status = status;
        self
    }

    /// Sets this URL's virtual host.
    pub fn virtualhost(mut self, host: impl Into<String>) -> Self {
        self.virtualhost = Some(host.into());
        self
    }
}

/// Parses an MD5 digest written as 32 hex digits (`digest_handler`).
pub fn parse_digest(hex: &str) -> Result<[u8; 16], CheckError> {
    if hex.len() != 32 {
        return Err(CheckError::DigestLength { digest: hex.to_owned(), len: hex.len() });
    }
    let mut out = [0u8; 16];
    for (i, byte) in out.iter_mut().enumerate() {
        let pair =
            hex.get(2 * i..2 * i + 2).ok_or_else(|| CheckError::DigestHex { digest: hex.to_owned(), at: 2 * i })?;
        *byte =
            u8::from_str_radix(pair, 16).map_err(|_| CheckError::DigestHex { digest: hex.to_owned(), at: 2 * i })?;
    }
    Ok(out)
}

/// `HTTP_GET` / `SSL_GET`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpCheck {
    /// `SSL_GET` (TLS) rather than `HTTP_GET`.
    pub tls: bool,
    /// The URLs, checked one per probe in order; at least one.
    pub urls: Vec<UrlSpec>,
    /// `virtualhost`: the `Host:` header, when a URL does not set one. The
    /// caller resolves keepalived's fallbacks (the real server's, then the
    /// virtual server's `virtualhost`).
    pub virtualhost: Option<String>,
    /// `http_protocol`: 1.0 (default), 1.0C or 1.1.
    pub protocol: HttpProtocol,
    /// `enable_sni`: send the virtual host as TLS SNI.
    pub enable_sni: bool,
    /// `fast_recovery`: while a server is down for no known URL failure, or
    /// has not run yet, check again at once rather than after `delay_loop`.
    pub fast_recovery: bool,
}

impl HttpCheck {
    /// An `HTTP_GET` over these URLs with HTTP/1.0.
    pub fn http(urls: Vec<UrlSpec>) -> Self {
        HttpCheck {
            tls: false,
            urls,
            virtualhost: None,
            protocol: HttpProtocol::Http10,
            enable_sni: false,
            fast_recovery: false,
        }
    }

    /// An `SSL_GET` over these URLs with HTTP/1.0.
    pub fn ssl(urls: Vec<UrlSpec>) -> Self {
        HttpCheck { tls: true, ..Self::http(urls) }
    }

    /// The `Host:` value for URL `i`, if configured (the URL's, else the
    /// checker's).
    pub fn vhost(&self, i: usize) -> Option<&str> {
        self.urls.get(i).and_then(|u| u.virtualhost.as_deref()).or(self.virtualhost.as_deref())
    }
}

/// `MISC_CHECK`: a program whose exit status is the verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MiscCheck {
    /// `misc_path`, run without a shell.
    pub script: Script,
    /// `misc_timeout`; unset means the virtual server's `delay_loop`
    /// (`misc_check_thread`).
    pub timeout: Option<Duration>,
    /// `misc_dynamic`: exit codes 2..=255 mean up with weight `code - 2`.
    pub dynamic: bool,
}

/// `UDP_CHECK`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UdpCheck {
    /// `payload`; keepalived sends 32 bytes of `"keepalived check - "`
    /// repeated when none is set.
    pub payload: Option<Vec<u8>>,
    /// `require_reply`: silence means failure (otherwise only an ICMP error
    /// does).
    pub require_reply: bool,
    /// The expected reply prefix, with don't-care nibbles.
    pub reply: Option<BytePattern>,
    /// `min_reply_length` (checked only together with a reply pattern, as
    /// keepalived does).
    pub min_reply_len: u16,
    /// `max_reply_length`, 255 by default.
    pub max_reply_len: u16,
}

impl Default for UdpCheck {
    fn default() -> Self {
        UdpCheck { payload: None, require_reply: false, reply: None, min_reply_len: 0, max_reply_len: 255 }
    }
}

/// `DNS_CHECK`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsCheck {
    /// `type`, SOA by default.
    pub qtype: DnsType,
    /// `name`, the root (`""`) by default.
    pub name: String,
}

impl Default for DnsCheck {
    fn default() -> Self {
        DnsCheck { qtype: DnsType::Soa, name: String::new() }
    }
}

/// `SMTP_CHECK`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpCheck {
    /// `helo_name`.
    pub helo_name: String,
}

impl Default for SmtpCheck {
    fn default() -> Self {
        SmtpCheck { helo_name: DEFAULT_HELO_NAME.to_owned() }
    }
}

/// `FILE_CHECK`: a number read from a file sets the server's state and
/// weight (`track_file`, `trackers/track_file.c`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileCheck {
    /// The file to read.
    pub path: PathBuf,
    /// `weight`: 0 means "non-zero value = failed"; otherwise the value
    /// times the weight is added to the server's weight, and a product at
    /// or below `i32::MIN` is a failure.
    pub weight: i32,
    /// `reverse`: invert the meaning (weight times -1, or 0 = failed).
    pub reverse: bool,
    /// How often to read the file. keepalived watches it with inotify and
    /// reacts at once; lvskit polls (default 1 s).
    pub poll_interval: Duration,
}

impl FileCheck {
    /// A file check with weight 0 (non-zero means failed), polled every
    /// second.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        FileCheck { path: path.into(), weight: 0, reverse: false, poll_interval: Duration::from_secs(1) }
    }
}

/// The kind of check and its own options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckKind {
    /// `TCP_CHECK`: connect within the timeout.
    Tcp,
    /// `HTTP_GET` or `SSL_GET`.
    Http(HttpCheck),
    /// `MISC_CHECK`.
    Misc(MiscCheck),
    /// `UDP_CHECK`.
    Udp(UdpCheck),
    /// `DNS_CHECK`.
    Dns(DnsCheck),
    /// `SMTP_CHECK`.
    Smtp(SmtpCheck),
    /// `PING_CHECK`: ICMP echo.
    Ping,
    /// `FILE_CHECK`.
    File(FileCheck),
}

impl CheckKind {
    /// keepalived's keyword for this kind.
    pub fn name(&self) -> &'static str {
        match self {
            CheckKind::Tcp => "TCP_CHECK",
            CheckKind::Http(h) if h.tls => "SSL_GET",
            CheckKind::Http(_) => "HTTP_GET",
            CheckKind::Misc(_) => "MISC_CHECK",
            CheckKind::Udp(_) => "UDP_CHECK",
            CheckKind::Dns(_) => "DNS_CHECK",
            CheckKind::Smtp(_) => "SMTP_CHECK",
            CheckKind::Ping => "PING_CHECK",
            CheckKind::File(_) => "FILE_CHECK",
        }
    }

    /// The retry count when nobody sets one (`default_retry`): 1, except
    /// `MISC_CHECK` 0 and `DNS_CHECK` 3.
    pub fn default_retry(&self) -> u32 {
        match self {
            CheckKind::Misc(_) => 0,
            CheckKind::Dns(_) => 3,
            _ => 1,
        }
    }

    /// The delay before a retry when nobody sets one
    /// (`default_delay_before_retry`): 1 s, `HTTP_GET`/`SSL_GET` 3 s,
    /// `DNS_CHECK` the checker's `delay_loop` (`None` here).
    pub fn default_delay_before_retry(&self) -> Option<Duration> {
        match self {
            CheckKind::Http(_) => Some(Duration::from_secs(3)),
            CheckKind::Dns(_) => None,
            _ => Some(Duration::from_secs(1)),
        }
    }

    fn validate(&self) -> Result<(), CheckError> {
        match self {
            CheckKind::Http(h) => {
                if h.urls.is_empty() {
                    return Err(CheckError::NoUrls);
                }
                for (i, u) in h.urls.iter().enumerate() {
                    if u.path.is_empty() {
                        return Err(CheckError::EmptyUrlPath { url: i });
                    }
                    if u.status.is_empty() {
                        return Err(CheckError::NoStatusCodes { path: u.path.clone() });
                    }
                }
            }
            CheckKind::Dns(d) => {
                super::dns::validate_name(&d.name)?;
            }
            CheckKind::Udp(u) => {
                if u.payload.as_ref().is_some_and(|p| p.is_empty()) {
                    return Err(CheckError::EmptyPayload);
                }
            }
            CheckKind::Smtp(s) => {
                if s.helo_name.is_empty() || s.helo_name.contains(['\r', '\n']) {
                    return Err(CheckError::BadHeloName { helo: s.helo_name.clone() });
                }
            }
            CheckKind::Tcp | CheckKind::Misc(_) | CheckKind::Ping | CheckKind::File(_) => {}
        }
        Ok(())
    }
}

/// One checker of a real server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckerSpec {
    /// The check.
    pub kind: CheckKind,
    /// Timing set on the checker itself.
    pub timing: Timing,
    /// Connection options (ignored by `MISC_CHECK` and `FILE_CHECK`).
    pub connect: ConnectSpec,
}

impl CheckerSpec {
    /// A checker of this kind with nothing else set.
    pub fn new(kind: CheckKind) -> Self {
        CheckerSpec { kind, timing: Timing::default(), connect: ConnectSpec::default() }
    }

    /// `TCP_CHECK`.
    pub fn tcp() -> Self {
        Self::new(CheckKind::Tcp)
    }

    /// Sets the checker's timing.
    pub fn timing(mut self, timing: Timing) -> Self {
        self.timing = timing;
        self
    }

    /// Sets `delay_loop`.
    pub fn delay_loop(mut self, d: Duration) -> Self {
        self.timing.delay_loop = Some(d);
        self
    }

    /// Sets `retry`.
    pub fn retry(mut self, n: u32) -> Self {
        self.timing.retry = Some(n);
        self
    }

    /// Sets `delay_before_retry`.
    pub fn delay_before_retry(mut self, d: Duration) -> Self {
        self.timing.delay_before_retry = Some(d);
        self
    }

    /// Sets `connect_timeout`.
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.timing.connect_timeout = Some(d);
        self
    }

    /// Sets `warmup`.
    pub fn warmup(mut self, d: Duration) -> Self {
        self.timing.warmup = Some(d);
        self
    }

    /// Sets `alpha`.
    pub fn alpha(mut self, on: bool) -> Self {
        self.timing.alpha = Some(on);
        self
    }

    /// Sets the connection options.
    pub fn connect(mut self, connect: ConnectSpec) -> Self {
        self.connect = connect;
        self
    }
}

/// A real server and its checkers (`real_server` block).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RealServerSpec {
    /// The server as IPVS sees it; `weight` is its configured weight.
    pub dest: DestConfig,
    /// Timing defaults for its checkers.
    pub timing: Timing,
    /// `inhibit_on_failure`: keep a failed server with weight 0 instead of
    /// removing it; unset inherits the virtual server's.
    pub inhibit_on_failure: Option<bool>,
    /// `notify_up`.
    pub notify_up: Option<Script>,
    /// `notify_down`.
    pub notify_down: Option<Script>,
    /// The checkers; a server with none is always up.
    pub checkers: Vec<CheckerSpec>,
}

impl RealServerSpec {
    /// A real server with no checker.
    pub fn new(dest: DestConfig) -> Self {
        RealServerSpec {
            dest,
            timing: Timing::default(),
            inhibit_on_failure: None,
            notify_up: None,
            notify_down: None,
            checkers: Vec::new(),
        }
    }

    /// Adds a checker.
    pub fn checker(mut self, c: CheckerSpec) -> Self {
        self.checkers.push(c);
        self
    }

    /// Sets `inhibit_on_failure`.
    pub fn inhibit_on_failure(mut self, on: bool) -> Self {
        self.inhibit_on_failure = Some(on);
        self
    }

    /// The server's socket address.
    pub fn addr(&self) -> SocketAddr {
        self.dest.socket_addr()
    }
}

/// The `sorry_server`: takes the whole service when the quorum is lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SorryServer {
    /// The server (its weight is used as is; keepalived uses 1).
    pub dest: DestConfig,
    /// `sorry_server_inhibit`: keep it in the pool with weight 0 while
    /// unused, instead of removing it.
    pub inhibit: bool,
}

/// A virtual server and its real servers (`virtual_server` block).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualServerSpec {
    /// The IPVS services it configures, at least one: one for an address or
    /// a mark, one per address, port and mark of a `virtual_server_group`.
    /// They share the real servers, their checkers and the quorum.
    pub services: Vec<ServiceConfig>,
    /// Timing defaults for its real servers; unset `delay_loop` is 60 s and
    /// unset `connect_timeout` 5 s.
    pub timing: Timing,
    /// `inhibit_on_failure` for its real servers.
    pub inhibit_on_failure: bool,
    /// `quorum`: the live weight needed to keep the service up, 1 by
    /// default, lowered to the total weight if higher.
    pub quorum: u32,
    /// `hysteresis`: quorum is gained at `quorum + hysteresis` and lost
    /// below `quorum - hysteresis`; at most `quorum - 1`.
    pub hysteresis: u32,
    /// `sorry_server`.
    pub sorry_server: Option<SorryServer>,
    /// `ha_suspend`: check only while the virtual address is present on
    /// this host (see [`HealthChecker::set_address`](super::HealthChecker::set_address)).
    pub ha_suspend: bool,
    /// `omega`: on shutdown, report servers and quorum down.
    pub omega: bool,
    /// `quorum_up`.
    pub quorum_up: Option<Script>,
    /// `quorum_down`.
    pub quorum_down: Option<Script>,
    /// The real servers.
    pub real_servers: Vec<RealServerSpec>,
}

impl VirtualServerSpec {
    /// A virtual server with keepalived's defaults and no real server.
    pub fn new(service: ServiceConfig) -> Self {
        VirtualServerSpec {
            services: vec![service],
            timing: Timing::default(),
            inhibit_on_failure: false,
            quorum: 1,
            hysteresis: 0,
            sorry_server: None,
            ha_suspend: false,
            omega: false,
            quorum_up: None,
            quorum_down: None,
            real_servers: Vec::new(),
        }
    }

    /// Adds another IPVS service (a `virtual_server_group` member) sharing
    /// the real servers.
    pub fn also_service(mut self, service: ServiceConfig) -> Self {
        self.services.push(service);
        self
    }

    /// Adds a real server.
    pub fn real_server(mut self, rs: RealServerSpec) -> Self {
        self.real_servers.push(rs);
        self
    }

    /// Sets the timing defaults.
    pub fn timing(mut self, timing: Timing) -> Self {
        self.timing = timing;
        self
    }

    /// Sets `delay_loop`.
    pub fn delay_loop(mut self, d: Duration) -> Self {
        self.timing.delay_loop = Some(d);
        self
    }

    /// The timing every real server inherits, with keepalived's built-in
    /// defaults filled in.
    pub fn effective_timing(&self) -> Timing {
        self.timing.or(Timing {
            delay_loop: Some(DEFAULT_DELAY_LOOP),
            connect_timeout: Some(DEFAULT_CONNECT_TIMEOUT),
            alpha: Some(false),
            ..Timing::default()
        })
    }
}

/// A checker's fully resolved settings.
#[derive(Debug, Clone)]
pub struct ResolvedChecker {
    /// The check.
    pub kind: CheckKind,
    /// Where to probe (`None` for `MISC_CHECK` and `FILE_CHECK`).
    pub target: Option<Target>,
    /// `delay_loop`.
    pub delay_loop: Duration,
    /// `warmup`.
    pub warmup: Duration,
    /// `retry`.
    pub retry: u32,
    /// `delay_before_retry`.
    pub delay_before_retry: Duration,
    /// `connect_timeout`.
    pub connect_timeout: Duration,
    /// `alpha`.
    pub alpha: bool,
    /// The script timeout for `MISC_CHECK` (its `misc_timeout`, else the
    /// virtual server's `delay_loop`).
    pub script_timeout: Duration,
}

impl ResolvedChecker {
    /// Resolves `spec` of a real server `rs` in virtual server `vs`, as
    /// `validate_check_config` does.
    pub fn resolve(vs: &VirtualServerSpec, rs: &RealServerSpec, spec: &CheckerSpec) -> Result<Self, CheckError> {
        spec.kind.validate()?;
        let vs_timing = vs.effective_timing();
        let rs_timing = rs.timing.or(vs_timing);
        let t = spec.timing;
        let delay_loop = t.delay_loop.or(rs_timing.delay_loop).unwrap_or(DEFAULT_DELAY_LOOP);
        if delay_loop.is_zero() {
            return Err(CheckError::ZeroDelayLoop { rs: rs.addr() });
        }
        let connect_timeout = t.connect_timeout.or(rs_timing.connect_timeout).unwrap_or(DEFAULT_CONNECT_TIMEOUT);
        if connect_timeout.is_zero() {
            return Err(CheckError::ZeroTimeout { rs: rs.addr() });
        }
        let warmup = t.warmup.or(rs_timing.warmup).unwrap_or(delay_loop);
        let retry = t.retry.or(rs_timing.retry).unwrap_or_else(|| spec.kind.default_retry());
        let delay_before_retry = t
            .delay_before_retry
            .or(rs_timing.delay_before_retry)
            .or_else(|| spec.kind.default_delay_before_retry())
            .unwrap_or(delay_loop);
        let alpha = t.alpha.or(rs_timing.alpha).unwrap_or(false);
        let target = match &spec.kind {
            CheckKind::Misc(_) | CheckKind::File(_) => None,
            _ => Some(spec.connect.resolve(rs.addr())?),
        };
        let script_timeout = match &spec.kind {
            CheckKind::Misc(m) => m.timeout.unwrap_or(vs_timing.delay_loop.unwrap_or(DEFAULT_DELAY_LOOP)),
            _ => connect_timeout,
        };
        Ok(ResolvedChecker {
            kind: spec.kind.clone(),
            target,
            delay_loop,
            warmup,
            retry,
            delay_before_retry,
            connect_timeout,
            alpha,
            script_timeout,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipvs::{Protocol, ServiceKey};

    fn vs() -> VirtualServerSpec {
        VirtualServerSpec::new(ServiceConfig::new(
            ServiceKey::addr(Protocol::Tcp, "192.0.2.1".parse().unwrap(), 80),
            "rr",
        ))
    }

    fn rs() -> RealServerSpec {
        RealServerSpec::new(DestConfig::masq("198.51.100.1".parse().unwrap(), 8080))
    }

    fn resolve(v: &VirtualServerSpec, r: &RealServerSpec, c: CheckerSpec) -> ResolvedChecker {
        ResolvedChecker::resolve(v, r, &c).unwrap()
    }

    #[test]
    fn defaults_per_kind_follow_check_data_c() {
        let (v, r) = (vs(), rs());
        let t = resolve(&v, &r, CheckerSpec::tcp());
        assert_eq!(
            (t.delay_loop, t.warmup, t.retry, t.delay_before_retry, t.connect_timeout, t.alpha),
            (
                Duration::from_secs(60),
                Duration::from_secs(60),
                1,
                Duration::from_secs(1),
                Duration::from_secs(5),
                false
            )
        );
        let h = resolve(&v, &r, CheckerSpec::new(CheckKind::Http(HttpCheck::http(vec![UrlSpec::new("/")]))));
        assert_eq!((h.retry, h.delay_before_retry), (1, Duration::from_secs(3)));
        let d =
            resolve(&v, &r, CheckerSpec::new(CheckKind::Dns(DnsCheck::default())).delay_loop(Duration::from_secs(7)));
        assert_eq!((d.retry, d.delay_before_retry), (3, Duration::from_secs(7)));
        let m = resolve(
            &v.clone().delay_loop(Duration::from_secs(9)),
            &r,
            CheckerSpec::new(CheckKind::Misc(MiscCheck {
                script: Script::new(["/bin/true"]).unwrap(),
                timeout: None,
                dynamic: false,
            }))
            .delay_loop(Duration::from_secs(2)),
        );
        assert_eq!((m.retry, m.script_timeout, m.target.is_none()), (0, Duration::from_secs(9), true));
    }

    #[test]
    fn timing_is_inherited_checker_then_real_server_then_virtual_server() {
        let mut v = vs();
        v.timing = Timing { retry: Some(5), warmup: Some(Duration::ZERO), alpha: Some(true), ..Timing::default() };
        let mut r = rs();
        r.timing = Timing { retry: Some(2), connect_timeout: Some(Duration::from_secs(3)), ..Timing::default() };
        let c = resolve(&v, &r, CheckerSpec::tcp().delay_before_retry(Duration::from_millis(500)));
        assert_eq!(
            (c.retry, c.connect_timeout, c.warmup, c.alpha, c.delay_before_retry),
            (2, Duration::from_secs(3), Duration::ZERO, true, Duration::from_millis(500))
        );
        let c = resolve(&v, &r, CheckerSpec::tcp().retry(0).alpha(false));
        assert_eq!((c.retry, c.alpha), (0, false));
    }

    #[test]
    fn targets_resolve_connect_options() {
        let rsa: SocketAddr = "198.51.100.1:8080".parse().unwrap();
        let t = ConnectSpec::default().resolve(rsa).unwrap();
        assert_eq!((t.dst, t.bind, t.fwmark), (rsa, None, 0));
        let c = ConnectSpec {
            connect_ip: Some("198.51.100.9".parse().unwrap()),
            connect_port: Some(9000),
            bindto: Some("198.51.100.200".parse().unwrap()),
            bind_port: Some(4000),
            bind_if: Some("eth1".into()),
            fwmark: 42,
        };
        let t = c.resolve(rsa).unwrap();
        assert_eq!(t.dst, "198.51.100.9:9000".parse().unwrap());
        assert_eq!(t.bind, Some("198.51.100.200:4000".parse().unwrap()));
        assert_eq!((t.bind_if.as_deref(), t.fwmark), (Some("eth1"), 42));
        let port_only = ConnectSpec { bind_port: Some(4000), ..Default::default() }.resolve(rsa).unwrap();
        assert_eq!(port_only.bind, Some("0.0.0.0:4000".parse().unwrap()));
        let mixed = ConnectSpec { bindto: Some("2001:db8::1".parse().unwrap()), ..Default::default() };
        assert!(matches!(mixed.resolve(rsa), Err(CheckError::BindFamily { .. })));
        let ll: SocketAddr = "[fe80::1]:80".parse().unwrap();
        assert!(matches!(ConnectSpec::default().resolve(ll), Err(CheckError::LinkLocalNeedsInterface { .. })));
        assert!(ConnectSpec { bind_if: Some("eth0".into()), ..Default::default() }.resolve(ll).is_ok());
    }

    #[test]
    fn invalid_specs_are_typed_errors() {
        let (v, r) = (vs(), rs());
        let err = |c: CheckerSpec| ResolvedChecker::resolve(&v, &r, &c).unwrap_err();
        assert_eq!(err(CheckerSpec::new(CheckKind::Http(HttpCheck::http(vec![])))), CheckError::NoUrls);
        assert_eq!(err(CheckerSpec::tcp().delay_loop(Duration::ZERO)), CheckError::ZeroDelayLoop { rs: r.addr() });
        assert!(matches!(
            err(CheckerSpec::new(CheckKind::Dns(DnsCheck { name: "a..b".into(), ..Default::default() }))),
            CheckError::DnsName { .. }
        ));
        assert!(matches!(parse_digest("abc"), Err(CheckError::DigestLength { len: 3, .. })));
        assert!(matches!(parse_digest("zz41402abc4b2a76b9719d911017c592"), Err(CheckError::DigestHex { at: 0, .. })));
        assert_eq!(parse_digest("5d41402abc4b2a76b9719d911017c592").unwrap()[0], 0x5d);
        assert_eq!(Script::new(Vec::<String>::new()), Err(CheckError::EmptyScript));
        assert_eq!(Script::new(["/bin/x", "a b"]).unwrap().to_string(), "/bin/x a b");
    }
}
