//! [`HealthChecker`]: keepalived's health-check scheduler and pool policy
//! as a sans-IO state machine.
//!
//! It decides *when* each checker probes (`delay_loop`, the random
//! `warmup`, `delay_before_retry` between retries, `retry` attempts before
//! a server is declared down, up again after one success), what a probe's
//! result means for the checker, the real server and its virtual server
//! (removal or weight 0 under `inhibit_on_failure`, `misc_dynamic` and
//! `FILE_CHECK` weights, quorum with hysteresis bringing the
//! `sorry_server` in and out, `ha_suspend`), and reports it as
//! [`HealthEvent`]s and a desired pool ([`DesiredService`]) for a data
//! plane to apply. It opens no socket and reads no clock: the caller feeds
//! [`handle_timeout`](HealthChecker::handle_timeout) and
//! [`handle_result`](HealthChecker::handle_result) with `now`, carries out
//! the [`Probe`]s it polls, and comes back at
//! [`poll_timeout`](HealthChecker::poll_timeout).
//!
//! The rules are those of keepalived 2.2.7, per checker kind, because its
//! checkers differ in small ways (`check/check_tcp.c`, `check_http.c`,
//! `check_misc.c`, `check_udp.c`, `check_dns.c`, `check_smtp.c`,
//! `check_ping.c`, `trackers/track_file.c`; the pool policy from
//! `check/ipwrapper.c`; defaults from `check/check_data.c`):
//!
//! * The first probe of every checker comes one second after start plus a
//!   uniformly random delay in `0..=warmup` (`register_checkers_thread`).
//! * At start every checker has used up its retries, so the first failure
//!   marks a server down at once; later, a server that is up is marked
//!   down only after `retry` more attempts, spaced `delay_before_retry`,
//!   all failed. One success marks a server up.
//! * TCP_CHECK keeps retrying while a server is down; UDP, DNS and
//!   PING_CHECK probe a down server only every `delay_loop`; SMTP_CHECK
//!   starts every cycle with fresh retries; MISC_CHECK times its runs from
//!   their start rather than their end; HTTP_GET checks one URL per probe
//!   and, once a URL failed, waits `max(delay_before_retry, delay_loop)`.
//!
//! Memory: 448 bytes per checker (its resolved settings included; URL
//! lists, scripts and payloads are shared through `Arc`s), 80 bytes per
//! real server, and 24 bytes per timer entry, of which a checker has at
//! most one pending (its next launch; overdue results are found by a sweep
//! over the probes out, about once per probe budget). Timer operations are
//! O(log n) in the number of checkers; `benches/check.rs` measures a whole probe cycle
//! (launch, result, reschedule: about 0.1 µs with 10 000 checkers).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::RngExt;
use rand::rngs::StdRng;

use crate::ipvs::snapshot::{DestSnapshot, ServiceSnapshot};
use crate::ipvs::{DestConfig, ServiceConfig, ServiceKey};

use super::CheckError;
use super::file::{self, FileStatus};
use super::outcome::{Failure, ProbeResult, ScriptExit};
use super::spec::{
    BOOTSTRAP_DELAY, CheckKind, FileCheck, HttpCheck, MiscCheck, ResolvedChecker, Script, SmtpCheck, Target, UdpCheck,
    VirtualServerSpec,
};

/// Index of a virtual server, in the order given to [`HealthChecker::new`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VsId(pub u32);
/// Index of a real server across all virtual servers, in configuration order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RsId(pub u32);
/// Index of a checker across all real servers, in configuration order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CheckerId(pub u32);

/// Identifies one probe; a result must carry the id of the probe it answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProbeId(u64);

impl ProbeId {
    /// The id of probe `seq` of `checker` (for runners that carry ids
    /// across a process boundary; a made-up id is refused by
    /// [`HealthChecker::handle_result`] unless that probe is awaited).
    pub fn new(checker: CheckerId, seq: u32) -> Self {
        ProbeId((u64::from(checker.0) << 32) | u64::from(seq))
    }

    /// The checker that issued the probe.
    pub fn checker(self) -> CheckerId {
        CheckerId((self.0 >> 32) as u32)
    }

    /// The probe's sequence number within its checker.
    pub fn seq(self) -> u32 {
        self.0 as u32
    }
}

impl fmt::Display for ProbeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}#{}", self.checker().0, self.seq())
    }
}

/// An `HTTP_GET`/`SSL_GET` checker with its requests prebuilt, one per URL.
#[derive(Debug)]
pub struct HttpProbe {
    /// The check.
    pub check: HttpCheck,
    /// The request for each URL.
    pub requests: Vec<Vec<u8>>,
}

/// What a probe must do; shared parts are reference-counted so that
/// issuing a probe allocates little.
#[derive(Debug, Clone)]
pub enum ProbeSpec {
    /// Connect (and close).
    Tcp,
    /// Fetch URL `url` of `http` and judge it with
    /// [`http::ResponseReader`](super::http::ResponseReader).
    Http {
        /// The checker's URLs and prebuilt requests.
        http: Arc<HttpProbe>,
        /// The URL to fetch.
        url: usize,
    },
    /// Send a datagram and judge the reply with [`udp::judge`](super::udp::judge).
    Udp(Arc<UdpCheck>),
    /// Send `query` and judge replies with [`dns::judge_reply`](super::dns::judge_reply).
    Dns {
        /// The query's ID.
        id: u16,
        /// The query datagram.
        query: Vec<u8>,
    },
    /// Hold the [`smtp::SmtpDialogue`](super::smtp::SmtpDialogue).
    Smtp(Arc<SmtpCheck>),
    /// Send one ICMP echo with this identifier (used on raw sockets) and
    /// sequence number.
    Ping {
        /// Identifier.
        id: u16,
        /// Sequence number.
        seq: u16,
    },
    /// Run the script; the deadline is when it gets SIGTERM.
    Misc(Arc<MiscCheck>),
    /// Read the file.
    File(Arc<FileCheck>),
}

/// A probe for the caller (or a runner) to carry out.
#[derive(Debug, Clone)]
pub struct Probe {
    /// Pass this back with the result.
    pub id: ProbeId,
    /// Where to connect (`None` for scripts and files).
    pub target: Option<Target>,
    /// What to do.
    pub spec: ProbeSpec,
    /// The time by which the connection must be up, and the allowed
    /// silence between later steps of a dialogue (`connect_timeout`).
    pub step_timeout: Duration,
    /// The time by which the whole probe must be over; past it, the result
    /// is a failure. For scripts, the time to send SIGTERM.
    ///
    /// A runner that cannot start the probe at once (all its slots busy)
    /// may hold it until `deadline` and then start it with its whole budget
    /// (`deadline` shifted by the wait); a probe still waiting at
    /// `deadline` is reported as [`ProbeResult::NotRun`] with
    /// [`Failure::NotStarted`], never as a failure of the server. The
    /// checker therefore waits for a result until `deadline` plus the
    /// budget (`deadline` minus launch) plus a grace period (5 s, 15 s for
    /// scripts); past that it gives the probe up as not run and asks for it
    /// to be cancelled ([`HealthChecker::poll_cancelled`]).
    pub deadline: Instant,
}

/// Something that happened, for logs, notify scripts and data planes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HealthEvent {
    /// A checker passed after failing (or on its first run in alpha mode).
    CheckerUp {
        /// The checker.
        checker: CheckerId,
        /// Its real server.
        rs: RsId,
    },
    /// A checker failed for good (after its retries).
    CheckerDown {
        /// The checker.
        checker: CheckerId,
        /// Its real server.
        rs: RsId,
        /// The last failure.
        reason: Failure,
    },
    /// One probe failed.
    CheckFailed {
        /// The checker.
        checker: CheckerId,
        /// Why.
        reason: Failure,
        /// Whether a retry follows before the server is declared down.
        retrying: bool,
    },
    /// A real server came up (`notify_up`); run `script` if you run scripts.
    ServerUp {
        /// Its virtual server.
        vs: VsId,
        /// The server.
        rs: RsId,
        /// `notify_up`.
        script: Option<Arc<Script>>,
    },
    /// A real server went down (`notify_down`).
    ServerDown {
        /// Its virtual server.
        vs: VsId,
        /// The server.
        rs: RsId,
        /// `notify_down`.
        script: Option<Arc<Script>>,
    },
    /// A real server's weight changed (MISC_CHECK dynamic, FILE_CHECK).
    WeightChanged {
        /// Its virtual server.
        vs: VsId,
        /// The server.
        rs: RsId,
        /// Weight before.
        from: u32,
        /// Weight now.
        to: u32,
    },
    /// The virtual server gained its quorum (`quorum_up`).
    QuorumUp {
        /// The virtual server.
        vs: VsId,
        /// Live weight.
        weight: i64,
        /// The threshold it reached.
        threshold: i64,
        /// At start.
        init: bool,
        /// `quorum_up`.
        script: Option<Arc<Script>>,
    },
    /// The virtual server lost its quorum (`quorum_down`).
    QuorumDown {
        /// The virtual server.
        vs: VsId,
        /// Live weight.
        weight: i64,
        /// The threshold it fell below.
        threshold: i64,
        /// At start.
        init: bool,
        /// `quorum_down`.
        script: Option<Arc<Script>>,
    },
    /// The sorry server entered (`true`) or left the pool.
    SorryServer {
        /// The virtual server.
        vs: VsId,
        /// Whether it now serves.
        active: bool,
    },
    /// A probe could not be attempted; the checker tries again after
    /// `delay_loop` without changing state.
    ProbeNotRun {
        /// The checker.
        checker: CheckerId,
        /// Why.
        reason: Failure,
    },
    /// A checker was suspended or resumed by `ha_suspend`.
    CheckerEnabled {
        /// The checker.
        checker: CheckerId,
        /// Whether it now runs.
        enabled: bool,
    },
    /// The desired pool of a virtual server changed; read it with
    /// [`HealthChecker::desired_services`].
    PoolChanged {
        /// The virtual server.
        vs: VsId,
    },
}

/// A note on a setting keepalived would have corrected (with a warning),
/// and that lvskit corrected the same way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Adjustment {
    /// The virtual server concerned.
    pub service: ServiceKey,
    /// What was changed.
    pub message: String,
}

/// The pool a virtual server should have now is the reconciler's own
/// type (`backend::reconcile::DesiredService`): the checker's output goes
/// to [`reconcile`](crate::backend::reconcile::reconcile) as it is. Its `dests` are the real servers with the weight they should
/// have, in configuration order (the sorry server last).
pub use crate::backend::reconcile::DesiredService;

impl DesiredService {
    /// As a snapshot with zero counters, for reconcilers that compare
    /// snapshots.
    pub fn to_snapshot(&self) -> ServiceSnapshot {
        ServiceSnapshot::idle(self.config.clone(), self.dests.iter().map(|&d| DestSnapshot::idle(d)).collect())
    }
}

impl From<&DesiredService> for DesiredService {
    /// The same pool, cloned.
    fn from(d: &DesiredService) -> Self {
        d.clone()
    }
}

/// A checker's state, for display.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckerStatus {
    /// The kind's keyword (`TCP_CHECK` …).
    pub kind: &'static str,
    /// Whether it currently passes.
    pub up: bool,
    /// Whether it has concluded at least once.
    pub has_run: bool,
    /// Retries used in the current failure streak.
    pub retries: u32,
    /// Whether it runs (false while `ha_suspend` holds it).
    pub enabled: bool,
    /// The last failure, if any.
    pub last_failure: Option<Failure>,
    /// Its weight contribution (MISC dynamic, FILE_CHECK).
    pub weight_offset: i64,
}

/// A real server's state, for display.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerStatus {
    /// The server.
    pub dest: DestConfig,
    /// Whether all its checkers pass.
    pub alive: bool,
    /// Its effective weight (configured weight plus checker offsets).
    pub weight: i64,
    /// Checkers currently failing.
    pub failed_checkers: u32,
    /// `inhibit_on_failure`.
    pub inhibit: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Style {
    Tcp,
    UdpLike,
    Smtp,
    Misc,
    Http,
    File,
}

#[derive(Debug)]
enum Template {
    Tcp,
    Http(Arc<HttpProbe>),
    Udp(Arc<UdpCheck>),
    Dns { name: String, qtype: super::dns::DnsType },
    Smtp(Arc<SmtpCheck>),
    Ping,
    Misc(Arc<MiscCheck>),
    File(Arc<FileCheck>),
}

#[derive(Debug)]
struct CheckerState {
    vs: u32,
    rs: u32,
    cfg: ResolvedChecker,
    template: Template,
    style: Style,
    enabled: bool,
    is_up: bool,
    has_run: bool,
    retry_it: u32,
    cur_weight: i64,
    epoch: u32,
    seq: u32,
    /// While a probe is out: when its result is overdue.
    overdue_at: Option<Instant>,
    /// The next timer is a retry (SMTP: no fresh retries).
    retry_pending: bool,
    url_it: usize,
    failed_url: Option<usize>,
    last_exit_code: u8,
    last_ran: Instant,
    /// How late the caller ran the timer that launched the probe in flight.
    late: Duration,
    file_value: i64,
    last_failure: Option<Failure>,
}

#[derive(Debug)]
struct RsState {
    vs: u32,
    dest: DestConfig,
    iweight: i64,
    effective_weight: i64,
    alive: bool,
    inhibit: bool,
    num_failed: u32,
    notify_up: Option<Arc<Script>>,
    notify_down: Option<Arc<Script>>,
}

#[derive(Debug)]
struct VsState {
    configs: Vec<ServiceConfig>,
    rs: Vec<u32>,
    quorum: u32,
    hysteresis: u32,
    quorum_up: bool,
    sorry: Option<(DestConfig, bool)>,
    sorry_alive: bool,
    ha_suspend: bool,
    addr_count: u32,
    omega: bool,
    quorum_up_script: Option<Arc<Script>>,
    quorum_down_script: Option<Arc<Script>>,
    dirty: bool,
}

/// How long after a probe's deadline the checker waits for its result
/// before treating it as failed (a runner that lost a probe).
const RESULT_GRACE: Duration = Duration::from_secs(5);
/// The same for scripts, which keepalived kills with SIGTERM at the
/// deadline and SIGKILL two seconds later.
const SCRIPT_GRACE: Duration = Duration::from_secs(15);
/// keepalived's largest weight (`IPVS_WEIGHT_LIMIT`, `INT32_MAX`).
const WEIGHT_LIMIT: i64 = i32::MAX as i64;

/// `real_weight` (`include/check_data.h`): an effective weight clamped to
/// what IPVS takes.
fn real_weight(w: i64) -> u32 {
    w.clamp(0, WEIGHT_LIMIT) as u32
}

/// keepalived's health checker: checkers, servers and pool policy on
/// virtual time. See the [module docs](self).
#[derive(Debug)]
pub struct HealthChecker {
    vss: Vec<VsState>,
    rss: Vec<RsState>,
    checkers: Vec<CheckerState>,
    timers: BinaryHeap<Reverse<(Instant, u32, u32)>>,
    probes: VecDeque<Probe>,
    events: VecDeque<HealthEvent>,
    rng: StdRng,
    adjustments: Vec<Adjustment>,
    rs_init_notifies: bool,
    /// Virtual servers whose pool changed since the last flush.
    dirty: Vec<u32>,
    /// Probes out.
    out: usize,
    /// When to look for overdue results (the earliest guard of the probes
    /// out when it was set).
    sweep_at: Option<Instant>,
    /// Probes given up on, for the runner to drop.
    cancelled: VecDeque<ProbeId>,
    /// After [`shutdown`](Self::shutdown): no probe, no timer, no result.
    shut_down: bool,
}

impl HealthChecker {
    /// Builds the checker for these virtual servers, starting at `now`:
    /// servers without a failing (alpha) checker are put in the pool at
    /// once, as keepalived does at start, and every checker's first probe
    /// is due one second plus a random warmup later.
    pub fn new(vss: Vec<VirtualServerSpec>, rng: StdRng, now: Instant) -> Result<Self, CheckError> {
        Self::with_options(vss, rng, now, false)
    }

    /// As [`new`](Self::new), with keepalived's global `rs_init_notifies`
    /// (report the servers that start up as [`HealthEvent::ServerUp`]).
    pub fn with_options(
        vss: Vec<VirtualServerSpec>,
        rng: StdRng,
        now: Instant,
        rs_init_notifies: bool,
    ) -> Result<Self, CheckError> {
        let mut hc = HealthChecker {
            vss: Vec::new(),
            rss: Vec::new(),
            checkers: Vec::new(),
            timers: BinaryHeap::new(),
            probes: VecDeque::new(),
            events: VecDeque::new(),
            rng,
            adjustments: Vec::new(),
            rs_init_notifies,
            dirty: Vec::new(),
            out: 0,
            sweep_at: None,
            cancelled: VecDeque::new(),
            shut_down: false,
        };
        for vs in vss {
            hc.add_vs(vs, now)?;
        }
        hc.init_services();
        for c in 0..hc.checkers.len() {
            let st = &hc.checkers[c];
            if st.style == Style::File {
                // Read tracked files at once: keepalived knows their values
                // before it starts.
                let at = now;
                hc.schedule(c, at, false);
            } else {
                let w = st.cfg.warmup.as_micros() as u64;
                let r = if w == 0 { 0 } else { hc.rng.random_range(0..=w) };
                let at = now + BOOTSTRAP_DELAY + Duration::from_micros(r);
                hc.schedule(c, at, false);
            }
        }
        hc.flush_dirty();
        Ok(hc)
    }

    fn adjust(&mut self, service: ServiceKey, message: String) {
        self.adjustments.push(Adjustment { service, message });
    }

    fn add_vs(&mut self, spec: VirtualServerSpec, now: Instant) -> Result<(), CheckError> {
        let Some(first) = spec.services.first() else { return Err(CheckError::NoService) };
        let key = first.key;
        if spec.real_servers.is_empty() {
            self.adjust(key, "virtual server has no real servers - ignoring".to_owned());
            return Ok(());
        }
        let mut ha_suspend = spec.ha_suspend;
        if ha_suspend && spec.services.iter().any(|s| matches!(s.key, ServiceKey::Fwmark { .. })) {
            self.adjust(key, "cannot use ha_suspend with fwmarks - clearing ha_suspend".to_owned());
            ha_suspend = false;
        }
        let vs_index = self.vss.len() as u32;
        let mut rs_ids = Vec::new();
        let mut weight_sum: u64 = 0;
        let mut sorry = spec.sorry_server.map(|s| (s.dest, s.inhibit));
        for rs in &spec.real_servers {
            let addr = rs.addr();
            if rs_ids.iter().any(|&i: &u32| self.rss[i as usize].dest.socket_addr() == addr) {
                self.adjust(key, format!("real server {addr} is duplicated - removing second rs"));
                continue;
            }
            let inhibit = rs.inhibit_on_failure.unwrap_or(spec.inhibit_on_failure);
            if let Some((sd, si)) = sorry.as_mut() {
                if sd.socket_addr() == addr && *si != inhibit {
                    self.adjust(key, format!("real server {addr} matches sorry server, but inhibit setting differs"));
                    *si = inhibit;
                }
            }
            let rs_index = self.rss.len() as u32;
            let iweight = i64::from(rs.dest.weight);
            weight_sum += rs.dest.weight as u64;
            self.rss.push(RsState {
                vs: vs_index,
                dest: rs.dest,
                iweight,
                effective_weight: iweight,
                alive: false,
                inhibit,
                num_failed: 0,
                notify_up: rs.notify_up.clone().map(Arc::new),
                notify_down: rs.notify_down.clone().map(Arc::new),
            });
            rs_ids.push(rs_index);
            for cs in &rs.checkers {
                let cfg = ResolvedChecker::resolve(&spec, rs, cs)?;
                self.add_checker(vs_index, rs_index, cfg, now)?;
            }
        }
        let mut quorum = spec.quorum;
        if u64::from(quorum) > weight_sum {
            self.adjust(
                key,
                format!(
                    "quorum {quorum} exceeds total weight of real servers {weight_sum}, reducing quorum to {weight_sum}"
                ),
            );
            quorum = weight_sum as u32;
        }
        let mut hysteresis = spec.hysteresis;
        if hysteresis >= quorum && hysteresis != 0 {
            let h = quorum.saturating_sub(1);
            self.adjust(key, format!("hysteresis {hysteresis} >= quorum {quorum}; setting hysteresis to {h}"));
            hysteresis = h;
        }
        // set_quorum_states: no server is alive yet.
        let quorum_up = 0 >= i64::from(quorum) + i64::from(hysteresis);
        self.vss.push(VsState {
            configs: spec.services,
            rs: rs_ids,
            quorum,
            hysteresis,
            quorum_up,
            sorry,
            sorry_alive: false,
            ha_suspend,
            addr_count: 0,
            omega: spec.omega,
            quorum_up_script: spec.quorum_up.map(Arc::new),
            quorum_down_script: spec.quorum_down.map(Arc::new),
            dirty: false,
        });
        Ok(())
    }

    fn add_checker(&mut self, vs: u32, rs: u32, cfg: ResolvedChecker, now: Instant) -> Result<(), CheckError> {
        if self.checkers.len() >= u32::MAX as usize {
            return Err(CheckError::TooManyCheckers);
        }
        let (template, style) = match &cfg.kind {
            CheckKind::Tcp => (Template::Tcp, Style::Tcp),
            CheckKind::Http(h) => {
                let dst =
                    cfg.target.as_ref().map(|t| t.dst).unwrap_or_else(|| self.rss[rs as usize].dest.socket_addr());
                let requests = (0..h.urls.len())
                    .map(|i| super::http::build_request(&h.urls[i].path, h.protocol, h.vhost(i), dst))
                    .collect::<Result<Vec<_>, _>>()?;
                (Template::Http(Arc::new(HttpProbe { check: h.clone(), requests })), Style::Http)
            }
            CheckKind::Udp(u) => (Template::Udp(Arc::new(u.clone())), Style::UdpLike),
            CheckKind::Dns(d) => (Template::Dns { name: d.name.clone(), qtype: d.qtype }, Style::UdpLike),
            CheckKind::Smtp(s) => (Template::Smtp(Arc::new(s.clone())), Style::Smtp),
            CheckKind::Ping => (Template::Ping, Style::UdpLike),
            CheckKind::Misc(m) => (Template::Misc(Arc::new(m.clone())), Style::Misc),
            CheckKind::File(f) => (Template::File(Arc::new(f.clone())), Style::File),
        };
        let mut st = CheckerState {
            vs,
            rs,
            template,
            style,
            enabled: true,
            is_up: true,
            has_run: false,
            retry_it: cfg.retry,
            cur_weight: 0,
            epoch: 0,
            seq: 0,
            overdue_at: None,
            retry_pending: false,
            url_it: 0,
            failed_url: None,
            last_exit_code: 0,
            last_ran: now,
            late: Duration::ZERO,
            file_value: 0,
            last_failure: None,
            cfg,
        };
        if let Template::File(f) = &st.template {
            // FILE_CHECK: no alpha, no run; its state follows the file,
            // which reads as 0 until it is read.
            st.has_run = true;
            st.cfg.alpha = false;
            if file::status(0, f.weight, f.reverse) == FileStatus::Fault {
                st.is_up = false;
                self.rss[rs as usize].num_failed += 1;
            }
        } else if st.cfg.alpha {
            // validate_check_config: alpha checkers start failed.
            st.is_up = false;
            self.rss[rs as usize].num_failed += 1;
        }
        self.checkers.push(st);
        Ok(())
    }

    /// `init_services`: put the healthy servers in the pool, then settle the
    /// quorum (which may bring the sorry server in).
    fn init_services(&mut self) {
        // ha_suspend: checkers of such virtual servers start suspended
        // until their address is reported present.
        for c in &mut self.checkers {
            c.enabled = !self.vss[c.vs as usize].ha_suspend;
        }
        for v in 0..self.vss.len() {
            for i in 0..self.vss[v].rs.len() {
                let r = self.vss[v].rs[i] as usize;
                if self.rss[r].num_failed == 0 && !self.rss[r].alive {
                    self.rss[r].alive = true;
                    if self.rs_init_notifies {
                        self.rs_notify(r);
                    }
                }
            }
            self.update_quorum_state(v, true);
            self.mark_dirty(v);
        }
    }

    /// Settings keepalived would have corrected, corrected the same way.
    pub fn adjustments(&self) -> &[Adjustment] {
        &self.adjustments
    }

    fn schedule(&mut self, c: usize, at: Instant, retry: bool) {
        let st = &mut self.checkers[c];
        st.epoch = st.epoch.wrapping_add(1);
        st.retry_pending = retry;
        self.timers.push(Reverse((at, c as u32, st.epoch)));
    }

    /// When to call [`handle_timeout`](Self::handle_timeout) next, if
    /// anything is pending. It may be early (after a result made a timer
    /// obsolete); an early call does nothing.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let t = self.timers.peek().map(|Reverse((t, _, _))| *t);
        match (t, self.sweep_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The next probe to carry out.
    pub fn poll_probe(&mut self) -> Option<Probe> {
        self.probes.pop_front()
    }

    /// The next probe the checker gave up on (no result by its deadline,
    /// its budget and a grace period; or pending at
    /// [`shutdown`](Self::shutdown)): tell the runner to drop it
    /// ([`Runner::cancel`](super::runner::Runner::cancel) with the `probe`
    /// feature). A late result for it is refused anyway.
    pub fn poll_cancelled(&mut self) -> Option<ProbeId> {
        self.cancelled.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<HealthEvent> {
        self.events.pop_front()
    }

    /// Probes waiting to be polled.
    pub fn pending_probes(&self) -> usize {
        self.probes.len()
    }

    /// Runs the timers due at `now`: launches probes, and fails probes whose
    /// result is overdue.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.shut_down {
            return;
        }
        if self.sweep_at.is_some_and(|t| t <= now) {
            self.sweep(now);
        }
        while let Some(&Reverse((at, c, epoch))) = self.timers.peek() {
            if at > now {
                break;
            }
            self.timers.pop();
            let c = c as usize;
            if self.checkers[c].epoch != epoch || self.checkers[c].overdue_at.is_some() {
                continue;
            }
            self.launch(c, at, now);
        }
        self.flush_dirty();
    }

    /// Gives up the probes whose result is overdue (a runner that lost
    /// them) as not run, so their checkers keep their rhythm without a
    /// verdict on the server, queues them for cancellation, and sets the
    /// next sweep. One pass over the checkers, about once per probe budget.
    fn sweep(&mut self, now: Instant) {
        let first = self.cancelled.len();
        let mut next: Option<Instant> = None;
        for (c, st) in self.checkers.iter().enumerate() {
            match st.overdue_at {
                Some(guard) if guard <= now => self.cancelled.push_back(ProbeId::new(CheckerId(c as u32), st.seq)),
                Some(guard) => next = Some(next.map_or(guard, |n| n.min(guard))),
                None => {}
            }
        }
        self.sweep_at = next;
        for i in first..self.cancelled.len() {
            let id = self.cancelled[i];
            let _ = self.handle_result(
                id,
                ProbeResult::NotRun(Failure::Aborted { reason: "no result from the runner" }),
                now,
            );
        }
    }

    /// Launches checker `c`'s probe, due at `at`, at `now`.
    ///
    /// The caller's lateness (`now - at`, the time its loop took to come
    /// back) is remembered and taken off the next interval, so that a busy
    /// host does not shift every later check: the next probe is due
    /// `delay_loop` after the end of this one as if it had started on time.
    /// With a punctual caller (and on virtual time) this is exactly
    /// keepalived's "`delay_loop` after the check ends".
    fn launch(&mut self, c: usize, at: Instant, now: Instant) {
        let st = &mut self.checkers[c];
        st.late = now.saturating_duration_since(at);
        if st.style == Style::Smtp && !st.retry_pending {
            // smtp_start_check_thread: every cycle starts with fresh retries.
            st.retry_it = 0;
        }
        if !st.enabled {
            let d = self.interval(c);
            self.schedule(c, at + d, false);
            return;
        }
        st.seq = st.seq.wrapping_add(1);
        let id = ProbeId::new(CheckerId(c as u32), st.seq);
        let to = st.cfg.connect_timeout;
        let (spec, budget, grace) = match &st.template {
            Template::Tcp => (ProbeSpec::Tcp, to, RESULT_GRACE),
            Template::Http(h) => (ProbeSpec::Http { http: Arc::clone(h), url: st.url_it }, to * 3, RESULT_GRACE),
            Template::Udp(u) => (ProbeSpec::Udp(Arc::clone(u)), to, RESULT_GRACE),
            Template::Dns { name, qtype } => {
                let qid: u16 = self.rng.random();
                (ProbeSpec::Dns { id: qid, query: super::dns::build_query(qid, name, *qtype) }, to, RESULT_GRACE)
            }
            Template::Smtp(s) => (ProbeSpec::Smtp(Arc::clone(s)), to * 6, RESULT_GRACE),
            Template::Ping => {
                let pid: u16 = self.rng.random();
                (ProbeSpec::Ping { id: pid, seq: st.seq as u16 }, to, RESULT_GRACE)
            }
            Template::Misc(m) => {
                st.last_ran = at;
                (ProbeSpec::Misc(Arc::clone(m)), st.cfg.script_timeout, SCRIPT_GRACE)
            }
            Template::File(f) => (ProbeSpec::File(Arc::clone(f)), Duration::from_secs(1), RESULT_GRACE),
        };
        let deadline = now + budget;
        // The result is overdue after the latest end a runner may give it
        // (started at the deadline after queueing, with its whole budget)
        // plus a grace period.
        let guard = deadline + budget + grace;
        st.overdue_at = Some(guard);
        let probe = Probe { id, target: st.cfg.target.clone(), spec, step_timeout: to, deadline };
        self.probes.push_back(probe);
        self.out += 1;
        if self.sweep_at.is_none_or(|t| guard < t) {
            self.sweep_at = Some(guard);
        }
    }

    /// Feeds the result of probe `id`, observed at `now`. A result for a
    /// probe that is no longer awaited (answered already, or given up on)
    /// is refused with [`CheckError::UnknownProbe`] and changes nothing.
    pub fn handle_result(&mut self, id: ProbeId, result: ProbeResult, now: Instant) -> Result<(), CheckError> {
        let c = id.checker().0 as usize;
        if self.shut_down {
            return Err(CheckError::ShutDown { id: id.to_string() });
        }
        match self.checkers.get(c) {
            Some(st) if st.overdue_at.is_some() && st.seq == id.seq() => {}
            _ => return Err(CheckError::UnknownProbe { id: id.to_string() }),
        }
        self.checkers[c].overdue_at = None;
        self.out -= 1;
        if self.out == 0 {
            self.sweep_at = None;
        }
        // Schedule from where the probe would have ended had it started on
        // time (see `launch`).
        let now = now.checked_sub(self.checkers[c].late).unwrap_or(now);
        match (self.checkers[c].style, result) {
            (_, ProbeResult::NotRun(reason)) => self.not_run(c, reason, now),
            (Style::Misc, ProbeResult::Script(exit)) => self.misc_result(c, exit, now),
            (Style::Misc, ProbeResult::Failure(f)) => self.misc_failure(c, f, now),
            (Style::Misc, ProbeResult::Success) => self.misc_result(c, ScriptExit::Exited(0), now),
            (Style::File, ProbeResult::FileValue(v)) => self.file_result(c, v, now),
            (Style::Http, ProbeResult::Success) => self.http_epilog(c, None, now),
            (Style::Http, ProbeResult::Failure(f)) => self.http_epilog(c, Some(f), now),
            (Style::Tcp | Style::UdpLike | Style::Smtp, ProbeResult::Success) => self.epilog(c, None, now),
            (Style::Tcp | Style::UdpLike | Style::Smtp, ProbeResult::Failure(f)) => self.epilog(c, Some(f), now),
            // A result of the wrong kind says nothing about the server: it
            // is taken as a probe that did not run, with the mismatch as
            // reason.
            (_, other) => {
                let reason =
                    Failure::UnexpectedResult { checker: self.checkers[c].cfg.kind.name(), got: result_name(&other) };
                self.not_run(c, reason, now);
            }
        }
        self.flush_dirty();
        Ok(())
    }

    /// A probe that did not run: no verdict on the server, the next one
    /// after the checker's interval.
    fn not_run(&mut self, c: usize, reason: Failure, now: Instant) {
        self.checkers[c].last_failure = Some(reason.clone());
        self.events.push_back(HealthEvent::ProbeNotRun { checker: CheckerId(c as u32), reason });
        let d = self.interval(c);
        self.schedule(c, now + d, false);
    }

    /// The time between probes: a tracked file's poll interval, every
    /// other checker's `delay_loop`.
    fn interval(&self, c: usize) -> Duration {
        match &self.checkers[c].template {
            Template::File(f) => f.poll_interval,
            _ => self.checkers[c].cfg.delay_loop,
        }
    }

    /// The epilogs of the TCP, UDP-like and SMTP checkers: what a success
    /// or a failure does to the state, and when the next probe is due.
    fn epilog(&mut self, c: usize, failure: Option<Failure>, now: Instant) {
        let style = self.checkers[c].style;
        let st = &self.checkers[c];
        let (delay_loop, dbr, retry) = (st.cfg.delay_loop, st.cfg.delay_before_retry, st.cfg.retry);
        let (is_up, has_run, retry_it) = (st.is_up, st.has_run, st.retry_it);
        let Some(f) = failure else {
            // Success: the same for every kind.
            let st = &mut self.checkers[c];
            st.retry_it = 0;
            if !is_up || !has_run {
                self.update_svr_checker_state(c, true, None);
            }
            self.checkers[c].has_run = true;
            self.schedule(c, now + delay_loop, false);
            return;
        };
        self.checkers[c].last_failure = Some(f.clone());
        match style {
            // HTTP, MISC and FILE have epilogs of their own and never come
            // here; TCP_CHECK's rules stand in for them.
            Style::Tcp | Style::Http | Style::Misc | Style::File => {
                // tcp_epilog: retries go on even while the server is down.
                if retry_it >= retry {
                    self.checkers[c].retry_it = 0;
                    self.events.push_back(HealthEvent::CheckFailed {
                        checker: CheckerId(c as u32),
                        reason: f.clone(),
                        retrying: false,
                    });
                    if is_up || !has_run {
                        self.update_svr_checker_state(c, false, Some(f));
                    }
                    self.checkers[c].has_run = true;
                    self.schedule(c, now + delay_loop, false);
                } else {
                    self.checkers[c].retry_it += 1;
                    self.events.push_back(HealthEvent::CheckFailed {
                        checker: CheckerId(c as u32),
                        reason: f,
                        retrying: true,
                    });
                    self.checkers[c].has_run = true;
                    self.schedule(c, now + dbr, true);
                }
            }
            Style::UdpLike => {
                // udp_epilog / icmp_epilog / dns_final: no retries once down.
                if (is_up || !has_run) && retry_it >= retry {
                    self.checkers[c].retry_it = 0;
                    self.events.push_back(HealthEvent::CheckFailed {
                        checker: CheckerId(c as u32),
                        reason: f.clone(),
                        retrying: false,
                    });
                    self.update_svr_checker_state(c, false, Some(f));
                    self.checkers[c].has_run = true;
                    self.schedule(c, now + delay_loop, false);
                } else if is_up {
                    self.checkers[c].retry_it += 1;
                    self.events.push_back(HealthEvent::CheckFailed {
                        checker: CheckerId(c as u32),
                        reason: f,
                        retrying: true,
                    });
                    self.checkers[c].has_run = true;
                    self.schedule(c, now + dbr, true);
                } else {
                    self.events.push_back(HealthEvent::CheckFailed {
                        checker: CheckerId(c as u32),
                        reason: f,
                        retrying: false,
                    });
                    self.checkers[c].has_run = true;
                    self.schedule(c, now + delay_loop, false);
                }
            }
            Style::Smtp => {
                // smtp_final: retry while attempts are left in this cycle.
                let st = &mut self.checkers[c];
                st.retry_it += 1;
                if st.retry_it <= retry {
                    self.events.push_back(HealthEvent::CheckFailed {
                        checker: CheckerId(c as u32),
                        reason: f,
                        retrying: true,
                    });
                    self.schedule(c, now + dbr, true);
                } else {
                    self.events.push_back(HealthEvent::CheckFailed {
                        checker: CheckerId(c as u32),
                        reason: f.clone(),
                        retrying: false,
                    });
                    if is_up || !has_run {
                        self.update_svr_checker_state(c, false, Some(f));
                    }
                    self.schedule(c, now + delay_loop, false);
                }
            }
        }
    }

    /// `epilog` / `timeout_epilog` of `check_http.c`.
    fn http_epilog(&mut self, c: usize, failure: Option<Failure>, now: Instant) {
        let nurls = match &self.checkers[c].template {
            Template::Http(h) => h.check.urls.len(),
            _ => 1,
        };
        let fast_recovery = match &self.checkers[c].template {
            Template::Http(h) => h.check.fast_recovery,
            _ => false,
        };
        let st = &self.checkers[c];
        let (delay_loop, dbr, retry) = (st.cfg.delay_loop, st.cfg.delay_before_retry, st.cfg.retry);
        let delay;
        let failed = failure.is_some();
        match failure {
            None => {
                // REGISTER_CHECKER_NEW
                let st = &mut self.checkers[c];
                let next = st.url_it + 1;
                let finished = next >= nurls;
                st.retry_it = 0;
                if finished && st.failed_url.is_none() {
                    if !st.is_up || !st.has_run {
                        self.update_svr_checker_state(c, true, None);
                        self.checkers[c].has_run = true;
                    }
                    let st = &mut self.checkers[c];
                    st.url_it = 0;
                    st.retry_it = 0;
                } else if st.failed_url.is_some() {
                    // The failed URL answers again: check them all anew.
                    st.failed_url = None;
                    st.url_it = 0;
                    st.retry_it = 0;
                } else {
                    st.url_it = next;
                }
                let st = &mut self.checkers[c];
                delay = delay_loop;
                if !st.has_run {
                    st.retry_it = retry;
                }
            }
            Some(f) => {
                let checker = CheckerId(c as u32);
                self.checkers[c].last_failure = Some(f.clone());
                let st = &mut self.checkers[c];
                if st.is_up || !st.has_run {
                    st.has_run = true;
                    // REGISTER_CHECKER_RETRY
                    st.retry_it += 1;
                    if st.retry_it > retry {
                        self.events.push_back(HealthEvent::CheckFailed { checker, reason: f.clone(), retrying: false });
                        if self.checkers[c].is_up {
                            self.update_svr_checker_state(c, false, Some(f));
                        }
                        let st = &mut self.checkers[c];
                        st.failed_url = Some(st.url_it);
                    } else {
                        self.events.push_back(HealthEvent::CheckFailed { checker, reason: f, retrying: true });
                    }
                } else {
                    // REGISTER_CHECKER_FAILED: already known down, no retry.
                    self.events.push_back(HealthEvent::CheckFailed { checker, reason: f, retrying: false });
                }
                let st = &self.checkers[c];
                delay = if st.failed_url.is_some() { dbr.max(delay_loop) } else { dbr };
            }
        }
        let st = &self.checkers[c];
        let immediate = fast_recovery && (!st.has_run || (!st.is_up && st.failed_url.is_none()));
        let retry_next = failed && st.failed_url.is_none();
        let at = if immediate { now } else { now + delay };
        self.schedule(c, at, retry_next);
    }

    /// `misc_check_child_thread`.
    fn misc_result(&mut self, c: usize, exit: ScriptExit, now: Instant) {
        let dynamic = match &self.checkers[c].template {
            Template::Misc(m) => m.dynamic,
            _ => false,
        };
        let r = self.checkers[c].rs as usize;
        let st = &self.checkers[c];
        let (is_up, has_run) = (st.is_up, st.has_run);
        let mut down: Option<Failure> = None;
        let mut up = false;
        match exit {
            ScriptExit::Exited(status) if status == 0 || (dynamic && status >= 2) => {
                if status != self.checkers[c].last_exit_code {
                    let old = self.checkers[c].cur_weight;
                    let new = if status != 0 { i64::from(status) - 2 - self.rss[r].iweight } else { 0 };
                    let eff = self.rss[r].effective_weight - old + new;
                    self.checkers[c].cur_weight = new;
                    self.update_svr_wgt(r, eff, true);
                    self.checkers[c].last_exit_code = status;
                }
                if !is_up || !has_run {
                    up = true;
                }
                self.checkers[c].retry_it = 0;
            }
            other => {
                let f = match other {
                    ScriptExit::Exited(code) => Failure::Exit { code: i32::from(code) },
                    ScriptExit::Signaled { timed_out: true, .. } => Failure::ScriptTimeout,
                    ScriptExit::Signaled { signal, .. } => Failure::Signal { signal },
                    ScriptExit::SpawnFailed { kind, errno } => Failure::Spawn { kind, errno },
                };
                self.checkers[c].last_failure = Some(f.clone());
                let checker = CheckerId(c as u32);
                if is_up || !has_run {
                    let st = &mut self.checkers[c];
                    if st.retry_it < st.cfg.retry {
                        st.retry_it += 1;
                        self.events.push_back(HealthEvent::CheckFailed { checker, reason: f, retrying: true });
                    } else {
                        st.retry_it = 0;
                        if let ScriptExit::Exited(code) = other {
                            st.last_exit_code = code;
                        }
                        // keepalived drops the dynamic weight here for exit
                        // codes only; lvskit drops it for any failure.
                        let old = st.cur_weight;
                        st.cur_weight = 0;
                        self.rss[r].effective_weight -= old;
                        self.events.push_back(HealthEvent::CheckFailed { checker, reason: f.clone(), retrying: false });
                        down = Some(f);
                    }
                } else {
                    self.events.push_back(HealthEvent::CheckFailed { checker, reason: f, retrying: false });
                }
            }
        }
        if up {
            self.update_svr_checker_state(c, true, None);
        } else if let Some(f) = down {
            self.update_svr_checker_state(c, false, Some(f));
            self.checkers[c].cur_weight = 0;
        }
        let st = &mut self.checkers[c];
        st.has_run = true;
        let delay = if st.retry_it > 0 { st.cfg.delay_before_retry } else { st.cfg.delay_loop };
        let mut at = st.last_ran + delay;
        if at <= now {
            at = now + Duration::from_micros(1);
        }
        let retry = st.retry_it > 0;
        self.schedule(c, at, retry);
    }

    fn misc_failure(&mut self, c: usize, f: Failure, now: Instant) {
        let exit = match f {
            Failure::ScriptTimeout => ScriptExit::Signaled { signal: 15, timed_out: true },
            Failure::Spawn { kind, errno } => ScriptExit::SpawnFailed { kind, errno },
            Failure::Exit { code } => ScriptExit::Exited(code.clamp(0, 255) as u8),
            Failure::Signal { signal } => ScriptExit::Signaled { signal, timed_out: false },
            _ => ScriptExit::Signaled { signal: 9, timed_out: true },
        };
        self.misc_result(c, exit, now);
    }

    /// `process_update_checker_track_file_status`.
    fn file_result(&mut self, c: usize, value: Option<i64>, now: Instant) {
        let (weight, reverse) = match &self.checkers[c].template {
            Template::File(f) => (f.weight, f.reverse),
            _ => (0, false),
        };
        let interval = self.interval(c);
        self.schedule(c, now + interval, false);
        let Some(value) = value else { return };
        let old_value = self.checkers[c].file_value;
        if value == old_value {
            return;
        }
        self.checkers[c].file_value = value;
        let prev = file::status(old_value, weight, reverse);
        let new = file::status(value, weight, reverse);
        if prev == new {
            return;
        }
        let r = self.checkers[c].rs as usize;
        match (prev, new) {
            (_, FileStatus::Fault) => {
                let f = Failure::FileFault { value };
                self.checkers[c].last_failure = Some(f.clone());
                self.update_svr_checker_state(c, false, Some(f));
                let old = self.checkers[c].cur_weight;
                self.rss[r].effective_weight -= old;
                self.checkers[c].cur_weight = 0;
            }
            (FileStatus::Fault, FileStatus::Weight(w)) => {
                self.checkers[c].cur_weight = i64::from(w);
                self.rss[r].effective_weight += i64::from(w);
                self.update_svr_checker_state(c, true, None);
            }
            (FileStatus::Weight(p), FileStatus::Weight(w)) => {
                let eff = self.rss[r].effective_weight + i64::from(w) - i64::from(p);
                self.update_svr_wgt(r, eff, true);
                self.checkers[c].cur_weight = i64::from(w);
            }
        }
    }

    // ---- pool policy (check/ipwrapper.c) ----

    fn set_checker_state(&mut self, c: usize, up: bool) {
        let st = &mut self.checkers[c];
        if st.is_up == up {
            return;
        }
        st.is_up = up;
        let rs = &mut self.rss[st.rs as usize];
        if !up {
            rs.num_failed += 1;
        } else if rs.num_failed > 0 {
            rs.num_failed -= 1;
        }
    }

    /// `update_svr_checker_state`.
    fn update_svr_checker_state(&mut self, c: usize, alive: bool, reason: Option<Failure>) {
        let st = &self.checkers[c];
        let r = st.rs as usize;
        if st.is_up == alive {
            if !st.has_run {
                if st.cfg.alpha || !alive {
                    self.rs_notify(r);
                }
                self.checkers[c].has_run = true;
            }
            return;
        }
        self.checkers[c].has_run = true;
        if alive {
            if self.rss[r].num_failed <= 1 {
                self.perform_svr_state(r, true);
            }
        } else if self.rss[r].num_failed == 0 {
            self.perform_svr_state(r, false);
        }
        self.set_checker_state(c, alive);
        let checker = CheckerId(c as u32);
        let rs = RsId(r as u32);
        self.events.push_back(match reason {
            None => HealthEvent::CheckerUp { checker, rs },
            Some(reason) => HealthEvent::CheckerDown { checker, rs, reason },
        });
    }

    /// `perform_svr_state`.
    fn perform_svr_state(&mut self, r: usize, alive: bool) {
        if self.rss[r].alive == alive {
            return;
        }
        let v = self.rss[r].vs as usize;
        self.rss[r].alive = alive;
        self.mark_dirty(v);
        self.rs_notify(r);
        self.update_quorum_state(v, false);
    }

    /// `do_rs_notifies`.
    fn rs_notify(&mut self, r: usize) {
        let rs = &self.rss[r];
        let (vs, id) = (VsId(rs.vs), RsId(r as u32));
        self.events.push_back(if rs.alive {
            HealthEvent::ServerUp { vs, rs: id, script: rs.notify_up.clone() }
        } else {
            HealthEvent::ServerDown { vs, rs: id, script: rs.notify_down.clone() }
        });
    }

    /// `weigh_live_realservers`.
    fn live_weight(&self, v: usize) -> i64 {
        self.vss[v]
            .rs
            .iter()
            .map(|&r| &self.rss[r as usize])
            .filter(|rs| rs.alive)
            .map(|rs| i64::from(real_weight(rs.effective_weight)))
            .sum()
    }

    /// `update_quorum_state`.
    fn update_quorum_state(&mut self, v: usize, init: bool) {
        let weight = self.live_weight(v);
        let vs = &self.vss[v];
        let sign = if vs.quorum_up { -1 } else { 1 };
        let threshold = i64::from(vs.quorum) + sign * i64::from(vs.hysteresis);
        let id = VsId(v as u32);
        if !vs.quorum_up && weight >= threshold {
            let vs = &mut self.vss[v];
            vs.quorum_up = true;
            if vs.sorry.is_some() && vs.sorry_alive {
                vs.sorry_alive = false;
                self.mark_dirty(v);
                self.events.push_back(HealthEvent::SorryServer { vs: id, active: false });
            }
            let script = self.vss[v].quorum_up_script.clone();
            self.events.push_back(HealthEvent::QuorumUp { vs: id, weight, threshold, init, script });
        } else if (vs.quorum_up && (weight == 0 || weight < threshold))
            || (init && !vs.quorum_up && vs.sorry.is_some() && !vs.sorry_alive)
        {
            let vs = &mut self.vss[v];
            vs.quorum_up = false;
            if vs.sorry.is_some() && !vs.sorry_alive {
                vs.sorry_alive = true;
                self.mark_dirty(v);
                self.events.push_back(HealthEvent::SorryServer { vs: id, active: true });
            }
            let script = self.vss[v].quorum_down_script.clone();
            self.events.push_back(HealthEvent::QuorumDown { vs: id, weight, threshold, init, script });
        }
    }

    /// `update_svr_wgt`.
    fn update_svr_wgt(&mut self, r: usize, weight: i64, update_quorum: bool) {
        let old = real_weight(self.rss[r].effective_weight);
        let new = real_weight(weight);
        self.rss[r].effective_weight = weight;
        if new != old {
            let v = self.rss[r].vs as usize;
            self.events.push_back(HealthEvent::WeightChanged {
                vs: VsId(v as u32),
                rs: RsId(r as u32),
                from: old,
                to: new,
            });
            self.vss[v].dirty = true;
            if update_quorum {
                self.update_quorum_state(v, false);
            }
        }
    }

    fn mark_dirty(&mut self, v: usize) {
        if !self.vss[v].dirty {
            self.vss[v].dirty = true;
            self.dirty.push(v as u32);
        }
    }

    fn flush_dirty(&mut self) {
        self.dirty.sort_unstable();
        for v in self.dirty.drain(..) {
            self.vss[v as usize].dirty = false;
            self.events.push_back(HealthEvent::PoolChanged { vs: VsId(v) });
        }
    }

    // ---- ha_suspend ----

    /// Reports that `addr` was added to (`present`) or removed from this
    /// host, as keepalived learns it from netlink
    /// (`update_checker_activity`): the checkers of `ha_suspend` virtual
    /// servers on that address run only while it is present. Suspended
    /// checkers keep their state.
    pub fn set_address(&mut self, addr: IpAddr, present: bool) {
        for v in 0..self.vss.len() {
            let vs = &mut self.vss[v];
            if !vs.ha_suspend {
                continue;
            }
            if !vs.configs.iter().any(|c| matches!(c.key, ServiceKey::Addr { addr: a, .. } if a == addr)) {
                continue;
            }
            if present {
                vs.addr_count += 1;
            } else {
                vs.addr_count = vs.addr_count.saturating_sub(1);
            }
            let count = vs.addr_count;
            for c in 0..self.checkers.len() {
                let st = &mut self.checkers[c];
                if st.vs as usize != v {
                    continue;
                }
                if present != st.enabled && (present || count == 0) {
                    st.enabled = present;
                    self.events
                        .push_back(HealthEvent::CheckerEnabled { checker: CheckerId(c as u32), enabled: present });
                }
            }
        }
    }

    // ---- shutdown ----

    /// keepalived's stop (`clear_services`): the desired pools become empty
    /// and, for virtual servers with `omega`, the live servers are reported
    /// down and the quorum lost. Pending probes are dropped, the probes
    /// out are queued for cancellation ([`poll_cancelled`](Self::poll_cancelled)),
    /// and from then on no timer runs and every result is refused with
    /// [`CheckError::ShutDown`]. A second call changes nothing.
    pub fn shutdown(&mut self) -> Vec<DesiredService> {
        self.shut_down = true;
        self.timers.clear();
        self.sweep_at = None;
        self.probes.clear();
        for (c, st) in self.checkers.iter_mut().enumerate() {
            if st.overdue_at.take().is_some() {
                self.cancelled.push_back(ProbeId::new(CheckerId(c as u32), st.seq));
            }
        }
        self.out = 0;
        for v in 0..self.vss.len() {
            let omega = self.vss[v].omega;
            for i in 0..self.vss[v].rs.len() {
                let r = self.vss[v].rs[i] as usize;
                if self.rss[r].alive {
                    self.rss[r].alive = false;
                    if omega {
                        self.rs_notify(r);
                    }
                }
            }
            let weight = self.live_weight(v);
            let vs = &mut self.vss[v];
            vs.sorry_alive = false;
            if vs.quorum_up {
                vs.quorum_up = false;
                if omega {
                    let threshold = i64::from(vs.quorum) - i64::from(vs.hysteresis);
                    let script = vs.quorum_down_script.clone();
                    self.events.push_back(HealthEvent::QuorumDown {
                        vs: VsId(v as u32),
                        weight,
                        threshold,
                        init: false,
                        script,
                    });
                }
            }
        }
        self.vss
            .iter()
            .flat_map(|vs| vs.configs.iter().map(|c| DesiredService { config: c.clone(), dests: Vec::new() }))
            .collect()
    }

    // ---- queries ----

    /// The virtual servers, in order, with their IPVS services.
    pub fn virtual_servers(&self) -> impl Iterator<Item = (VsId, &[ServiceConfig])> {
        self.vss.iter().enumerate().map(|(i, v)| (VsId(i as u32), v.configs.as_slice()))
    }

    /// The real servers of a virtual server, in configuration order.
    pub fn real_servers(&self, vs: VsId) -> impl Iterator<Item = RsId> + '_ {
        self.vss.get(vs.0 as usize).into_iter().flat_map(|v| v.rs.iter().map(|&r| RsId(r)))
    }

    /// The real server with this address in a virtual server.
    pub fn find_real_server(&self, vs: VsId, addr: SocketAddr) -> Option<RsId> {
        self.real_servers(vs).find(|r| self.rss[r.0 as usize].dest.socket_addr() == addr)
    }

    /// The checkers of a real server.
    pub fn checkers_of(&self, rs: RsId) -> impl Iterator<Item = CheckerId> + '_ {
        self.checkers.iter().enumerate().filter(move |(_, c)| c.rs == rs.0).map(|(i, _)| CheckerId(i as u32))
    }

    /// Number of checkers.
    pub fn checker_count(&self) -> usize {
        self.checkers.len()
    }

    /// A real server's state.
    pub fn server_status(&self, rs: RsId) -> Option<ServerStatus> {
        let s = self.rss.get(rs.0 as usize)?;
        Some(ServerStatus {
            dest: s.dest,
            alive: s.alive,
            weight: s.effective_weight,
            failed_checkers: s.num_failed,
            inhibit: s.inhibit,
        })
    }

    /// The virtual server a real server belongs to.
    pub fn vs_of(&self, rs: RsId) -> Option<VsId> {
        self.rss.get(rs.0 as usize).map(|s| VsId(s.vs))
    }

    /// A checker's state.
    pub fn checker_status(&self, c: CheckerId) -> Option<CheckerStatus> {
        let s = self.checkers.get(c.0 as usize)?;
        Some(CheckerStatus {
            kind: s.cfg.kind.name(),
            up: s.is_up,
            has_run: s.has_run,
            retries: s.retry_it,
            enabled: s.enabled,
            last_failure: s.last_failure.clone(),
            weight_offset: s.cur_weight,
        })
    }

    /// A checker's resolved settings.
    pub fn checker_config(&self, c: CheckerId) -> Option<&ResolvedChecker> {
        self.checkers.get(c.0 as usize).map(|s| &s.cfg)
    }

    /// The real server a checker belongs to.
    pub fn rs_of(&self, c: CheckerId) -> Option<RsId> {
        self.checkers.get(c.0 as usize).map(|s| RsId(s.rs))
    }

    /// Whether a virtual server has its quorum.
    pub fn quorum_up(&self, vs: VsId) -> Option<bool> {
        self.vss.get(vs.0 as usize).map(|v| v.quorum_up)
    }

    /// Whether the sorry server of a virtual server is serving.
    pub fn sorry_active(&self, vs: VsId) -> Option<bool> {
        self.vss.get(vs.0 as usize).map(|v| v.sorry.is_some() && v.sorry_alive)
    }

    /// The pool a virtual server should have now (what keepalived's
    /// `ipvs_cmd` calls would have left in the kernel):
    ///
    /// * while the sorry server serves, it alone has its weight, and the
    ///   real servers with `inhibit_on_failure` stay with weight 0;
    /// * otherwise each live real server has its effective weight
    ///   (clamped to 0..=`i32::MAX`), a failed one with
    ///   `inhibit_on_failure` has weight 0, and a sorry server with
    ///   `sorry_server_inhibit` waits with weight 0.
    ///
    /// A virtual server of a `virtual_server_group` gives one entry per
    /// service of the group, all with the same servers. After
    /// [`shutdown`](Self::shutdown) every pool is empty.
    pub fn desired_services(&self, vs: VsId) -> Vec<DesiredService> {
        let Some(v) = self.vss.get(vs.0 as usize) else { return Vec::new() };
        if self.shut_down {
            return v.configs.iter().map(|c| DesiredService { config: c.clone(), dests: Vec::new() }).collect();
        }
        let sorry_active = v.sorry.is_some() && v.sorry_alive;
        let mut dests: Vec<DestConfig> = Vec::with_capacity(v.rs.len() + 1);
        for &r in &v.rs {
            let rs = &self.rss[r as usize];
            if sorry_active {
                if rs.inhibit {
                    dests.push(rs.dest.weight(0));
                }
            } else if rs.alive {
                dests.push(rs.dest.weight(real_weight(rs.effective_weight)));
            } else if rs.inhibit {
                dests.push(rs.dest.weight(0));
            }
        }
        if let Some((sd, inhibit)) = v.sorry {
            let entry = if sorry_active {
                Some(sd)
            } else if inhibit {
                Some(sd.weight(0))
            } else {
                None
            };
            if let Some(e) = entry {
                match dests.iter().position(|d| d.socket_addr() == e.socket_addr()) {
                    // A sorry server that is also a real server: while it
                    // serves as sorry server it has the sorry weight;
                    // otherwise its real-server entry stands.
                    Some(i) if sorry_active => dests[i] = e,
                    Some(_) => {}
                    None => dests.push(e),
                }
            }
        }
        v.configs.iter().map(|c| DesiredService { config: c.clone(), dests: dests.clone() }).collect()
    }

    /// The desired pools of all virtual servers, service by service.
    pub fn desired(&self) -> Vec<DesiredService> {
        (0..self.vss.len()).flat_map(|v| self.desired_services(VsId(v as u32))).collect()
    }

    /// The desired pools of all virtual servers as one table for
    /// [`reconcile`](crate::backend::reconcile::reconcile) or a
    /// [`Reconciler`](crate::backend::reconcile::Reconciler). Reconciling it
    /// with pruning on deletes services it does not list; after
    /// [`shutdown`](Self::shutdown) it lists every service with no server.
    pub fn desired_state(&self) -> crate::backend::reconcile::DesiredState {
        self.desired().into_iter().collect()
    }
}

fn result_name(r: &ProbeResult) -> &'static str {
    match r {
        ProbeResult::Success => "success",
        ProbeResult::Failure(_) => "failure",
        ProbeResult::Script(_) => "script exit",
        ProbeResult::FileValue(_) => "file value",
        ProbeResult::NotRun(_) => "not run",
    }
}

#[cfg(test)]
mod size_tests {
    use super::*;

    #[test]
    fn per_entry_memory() {
        // Documented in the module docs: a checker's state without its spec
        // allocations, a real server's, and a timer entry.
        let c = std::mem::size_of::<CheckerState>();
        let r = std::mem::size_of::<RsState>();
        let t = std::mem::size_of::<Reverse<(Instant, u32, u32)>>();
        eprintln!("CheckerState {c} B, RsState {r} B, timer {t} B");
        assert!(c <= 448 && r <= 80 && t <= 24, "{c} {r} {t}");
    }
}
