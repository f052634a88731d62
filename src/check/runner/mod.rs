//! Carrying probes out: a single-threaded `mio` event loop with
//! non-blocking sockets (feature `probe`, Linux).
//!
//! [`Runner`] takes the [`Probe`]s a [`HealthChecker`] yields, runs many at
//! once (at most [`RunnerConfig::max_in_flight`] sockets and processes; the
//! rest wait in order), and hands back each probe's [`ProbeResult`] by its
//! deadline. It uses the pure pieces of [`check`](crate::check) for every
//! protocol decision, so a verdict here is the verdict of the pure tests:
//!
//! * `TCP_CHECK`: connect within `connect_timeout`, then close. A connect
//!   that has completed by the time the call returns (a server on this
//!   host), as a second `connect(2)` tells, is judged within
//!   [`Runner::submit`]: no slot, no epoll registration, no event, so
//!   `socket`, `connect` twice and `close` are the whole probe.
//! * `HTTP_GET`/`SSL_GET`: connect, TLS (rustls; no certificate
//!   verification, as keepalived), send keepalived's request, read to the
//!   end of the stream through [`http::ResponseReader`], MD5 with `md-5`.
//! * `UDP_CHECK`, `DNS_CHECK`: connected datagram sockets; an ICMP error
//!   arrives as a receive error.
//! * `SMTP_CHECK`: [`smtp::SmtpDialogue`].
//! * `PING_CHECK`: an unprivileged ICMP socket where
//!   `net.ipv4.ping_group_range` permits, a raw socket otherwise, else a
//!   [`Failure::PingNotPermitted`] saying how to permit it.
//! * `MISC_CHECK` and notify scripts: child processes without a shell,
//!   watched through pidfds, with keepalived's SIGTERM/SIGKILL sequence.
//! * `FILE_CHECK`: the file is read when the probe is submitted.
//!
//! Timeouts: the connection must be up within the probe's `step_timeout`
//! (`connect_timeout`), each later step must make progress within it again
//! (keepalived's per-read timer), and the whole probe must be over by its
//! `deadline`, which bounds slow senders that keepalived's per-read timer
//! would wait on forever.
//!
//! Backlog: a probe that waits for a free slot starts with its whole budget
//! (its deadlines shifted by the wait), but only if a slot frees before its
//! `deadline`; otherwise it is reported as [`ProbeResult::NotRun`] with
//! [`Failure::NotStarted`], and the checker tries again a `delay_loop`
//! later without judging the server, as keepalived does when it cannot
//! even open a socket for a check ("Rescheduling"). So every probe is
//! answered by `deadline` plus its budget, before the checker gives it up
//! (see [`Probe::deadline`]), and the queue holds at most
//! [`RunnerConfig::max_queued`] probes (beyond that a submission is
//! answered `NotStarted` at once). [`Runner::cancel`] drops a probe the
//! checker gave up on. Memory per probe is bounded: response
//! heads are capped (4095 bytes), bodies are hashed as they stream, and
//! datagrams are read into one shared 64 KiB buffer.
//!
//! [`Driver`] couples a [`HealthChecker`] and a [`Runner`] for programs
//! that want a ready loop.

mod net;
pub mod script;
pub mod tls;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

use md5::{Digest, Md5};
use mio::net::{TcpStream, UdpSocket};
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use rustix::io::Errno;
use socket2::{Protocol, SockAddr, Socket, Type};

use super::checker::{HttpProbe, Probe, ProbeId, ProbeSpec};
use super::outcome::{Failure, ProbeResult, ScriptExit};
use super::spec::{Script, Target, UdpCheck};
use super::{HealthChecker, dns, file, http, icmp, smtp, udp};
use net::SetupError;

/// How a [`Runner`] is set up.
#[derive(Debug, Clone)]
pub struct RunnerConfig {
    /// Most probes (sockets or processes) at once; others wait in order.
    pub max_in_flight: usize,
    /// Most probes and scripts waiting for a slot; a probe submitted
    /// beyond it is answered [`Failure::NotStarted`] at once (a script,
    /// [`ScriptExit::SpawnFailed`] with `WouldBlock`).
    pub max_queued: usize,
    /// TLS client configuration for `SSL_GET`; `None` builds keepalived's
    /// (no certificate verification).
    pub tls: Option<Arc<rustls::ClientConfig>>,
}

impl Default for RunnerConfig {
    fn default() -> Self {
        RunnerConfig { max_in_flight: 1024, max_queued: 65_536, tls: None }
    }
}

/// Identifies a script started with [`Runner::spawn_script`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ScriptToken(pub u64);

#[derive(Debug, Clone, Copy)]
enum Owner {
    Probe(ProbeId),
    Script(ScriptToken),
}

struct HttpTask {
    stream: TcpStream,
    tls: Option<rustls::ClientConnection>,
    http: Arc<HttpProbe>,
    url: usize,
    connected: bool,
    sent: usize,
    reader: http::ResponseReader,
    md5: Option<Md5>,
}

struct SmtpTask {
    stream: TcpStream,
    connected: bool,
    dialogue: smtp::SmtpDialogue,
    out: Vec<u8>,
    sent: usize,
}

enum Kind {
    /// The stream, connecting (one connected within `connect` is judged
    /// at once, without a task).
    Tcp(TcpStream),
    Http(Box<HttpTask>),
    Smtp(Box<SmtpTask>),
    Udp(UdpSocket, Arc<UdpCheck>),
    Dns(UdpSocket, u16),
    Ping {
        sock: Socket,
        v6: bool,
        raw: bool,
        expect: Option<(u16, u16)>,
    },
    Script(script::Running),
}

struct Task {
    owner: Owner,
    kind: Kind,
    step_timeout: Duration,
    /// The whole probe must be over by then.
    deadline: Instant,
    /// Last progress; the current step must progress within `step_timeout`.
    step_start: Instant,
    /// Scripts: when to escalate the timeout sequence next.
    script_at: Option<Instant>,
    registered: bool,
}

enum Step {
    Pending,
    Done(ProbeResult),
}

/// What an event said about a socket (`None`: no event, a first attempt).
#[derive(Debug, Clone, Copy, Default)]
struct Ready {
    writable: bool,
    error: bool,
}

impl Task {
    fn due(&self) -> Instant {
        match &self.kind {
            Kind::Script(_) => self.script_at.unwrap_or(self.deadline),
            _ => self.deadline.min(self.step_start + self.step_timeout),
        }
    }

    fn connecting(&self) -> bool {
        match &self.kind {
            Kind::Tcp(..) => true,
            Kind::Http(h) => !h.connected,
            Kind::Smtp(s) => !s.connected,
            _ => false,
        }
    }
}

/// Probes in flight on a `mio` event loop. See the [module docs](self).
pub struct Runner {
    poll: Poll,
    events: Events,
    slots: Vec<Option<Task>>,
    free: Vec<usize>,
    freed_in_batch: Vec<usize>,
    ready: Vec<(usize, Ready)>,
    in_flight: usize,
    max_in_flight: usize,
    max_queued: usize,
    queue: VecDeque<(Owner, QueuedWork, Instant)>,
    /// The earliest deadline of a queued probe.
    queue_due: Option<Instant>,
    /// (due, slot, generation of the task in the slot).
    timers: BinaryHeap<Reverse<(Instant, usize, u32)>>,
    /// Per slot, bumped each time a task takes it, so that timers of
    /// earlier tasks in the same slot are dropped when they come up.
    generation: Vec<u32>,
    /// Tasks started since the last I/O turn, and their earliest due time:
    /// they join the timer heap only if they outlive that turn (most probes
    /// of a nearby server do not).
    fresh: Vec<(usize, u32)>,
    fresh_due: Option<Instant>,
    results: VecDeque<(ProbeId, ProbeResult)>,
    script_results: VecDeque<(ScriptToken, ScriptExit)>,
    tls: Arc<rustls::ClientConfig>,
    scratch: Vec<u8>,
    next_token: u64,
    polled_children: usize,
}

enum QueuedWork {
    Probe(Probe),
    Script(Arc<Script>, Duration),
}

impl std::fmt::Debug for Runner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runner")
            .field("in_flight", &self.in_flight)
            .field("queued", &self.queue.len())
            .field("max_in_flight", &self.max_in_flight)
            .finish()
    }
}

fn io_fail(step: &'static str, e: &io::Error) -> Failure {
    Failure::Io { step, kind: e.kind(), errno: e.raw_os_error() }
}

fn would_block(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::WouldBlock
}

impl Runner {
    /// A runner with this configuration.
    pub fn new(cfg: RunnerConfig) -> io::Result<Self> {
        let tls = match cfg.tls {
            Some(t) => t,
            None => tls::keepalived_client_config().map_err(io::Error::other)?,
        };
        Ok(Runner {
            poll: Poll::new()?,
            events: Events::with_capacity(1024),
            slots: Vec::new(),
            free: Vec::new(),
            freed_in_batch: Vec::new(),
            ready: Vec::with_capacity(1024),
            in_flight: 0,
            max_in_flight: cfg.max_in_flight.max(1),
            max_queued: cfg.max_queued,
            queue: VecDeque::new(),
            queue_due: None,
            timers: BinaryHeap::new(),
            generation: Vec::new(),
            fresh: Vec::new(),
            fresh_due: None,
            results: VecDeque::new(),
            script_results: VecDeque::new(),
            tls,
            scratch: vec![0; 65536],
            next_token: 0,
            polled_children: 0,
        })
    }

    /// Probes and scripts running.
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// Probes and scripts waiting for a free slot.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// Starts `probe` now, or queues it when `max_in_flight` are running
    /// (see the [module docs](self) on backlog).
    pub fn submit(&mut self, probe: Probe, now: Instant) {
        if let ProbeSpec::File(f) = &probe.spec {
            // Files are read on the spot, as keepalived reads them.
            let v = read_track_file(&f.path);
            self.results.push_back((probe.id, ProbeResult::FileValue(v)));
            return;
        }
        self.admit(Owner::Probe(probe.id), QueuedWork::Probe(probe), now);
    }

    /// Runs a script (a notify script, say) without a shell, giving it
    /// `timeout` before keepalived's SIGTERM/SIGKILL sequence; its exit
    /// comes back through [`poll_script_result`](Self::poll_script_result).
    pub fn spawn_script(&mut self, script: Arc<Script>, timeout: Duration, now: Instant) -> ScriptToken {
        self.next_token += 1;
        let token = ScriptToken(self.next_token);
        self.admit(Owner::Script(token), QueuedWork::Script(script, timeout), now);
        token
    }

    /// Starts `work` now, or queues it when `max_in_flight` are running;
    /// with `max_queued` waiting already it is answered at once (a probe
    /// [`Failure::NotStarted`], a script [`ScriptExit::SpawnFailed`] with
    /// `WouldBlock`).
    fn admit(&mut self, owner: Owner, work: QueuedWork, now: Instant) {
        if self.in_flight < self.max_in_flight {
            return self.start(owner, work, now, Duration::ZERO);
        }
        if self.queue.len() >= self.max_queued {
            let refused = match owner {
                Owner::Probe(_) => {
                    ProbeResult::NotRun(Failure::NotStarted { reason: "runner queue full", waited: Duration::ZERO })
                }
                Owner::Script(_) => {
                    ProbeResult::Script(ScriptExit::SpawnFailed { kind: io::ErrorKind::WouldBlock, errno: None })
                }
            };
            return self.finish(owner, refused);
        }
        if let QueuedWork::Probe(p) = &work {
            let d = p.deadline;
            self.queue_due = Some(self.queue_due.map_or(d, |q| q.min(d)));
        }
        self.queue.push_back((owner, work, now));
    }

    /// The next finished probe.
    pub fn poll_result(&mut self) -> Option<(ProbeId, ProbeResult)> {
        self.results.pop_front()
    }

    /// The next finished script started with [`spawn_script`](Self::spawn_script).
    pub fn poll_script_result(&mut self) -> Option<(ScriptToken, ScriptExit)> {
        self.script_results.pop_front()
    }

    /// The earliest time the runner has something to do without I/O.
    pub fn next_deadline(&self) -> Option<Instant> {
        let t = self.timers.peek().map(|Reverse((t, _, _))| *t);
        [t, self.fresh_due, self.queue_due].into_iter().flatten().min()
    }

    /// Drops probe `id`, queued or running, without a result (the checker
    /// gave it up). Returns whether it was found. O(queued + in flight):
    /// for the rare give-up, not for every probe.
    pub fn cancel(&mut self, id: ProbeId) -> bool {
        let is = |o: &Owner| matches!(o, Owner::Probe(p) if *p == id);
        if let Some(i) = self.queue.iter().position(|(o, _, _)| is(o)) {
            self.queue.remove(i);
            return true;
        }
        if let Some(slot) = self.slots.iter().position(|t| t.as_ref().is_some_and(|t| is(&t.owner))) {
            self.discard(slot, true);
            return true;
        }
        if let Some(i) = self.results.iter().position(|(p, _)| *p == id) {
            self.results.remove(i);
            return true;
        }
        false
    }

    fn alloc(&mut self) -> usize {
        let i = match self.free.pop() {
            Some(i) => i,
            None => {
                self.slots.push(None);
                self.generation.push(0);
                self.slots.len() - 1
            }
        };
        self.generation[i] = self.generation[i].wrapping_add(1);
        i
    }

    fn finish(&mut self, owner: Owner, result: ProbeResult) {
        match owner {
            Owner::Probe(id) => self.results.push_back((id, result)),
            Owner::Script(t) => {
                let exit = match result {
                    ProbeResult::Script(x) => x,
                    ProbeResult::Failure(Failure::Spawn { kind, errno }) => ScriptExit::SpawnFailed { kind, errno },
                    _ => ScriptExit::Signaled { signal: 0, timed_out: true },
                };
                self.script_results.push_back((t, exit));
            }
        }
    }

    fn start(&mut self, owner: Owner, work: QueuedWork, now: Instant, waited: Duration) {
        let built = match work {
            QueuedWork::Probe(p) => self.build(p, now, waited),
            QueuedWork::Script(s, timeout) => match script::spawn(&s) {
                Ok(r) => Ok(Task {
                    owner,
                    kind: Kind::Script(r),
                    step_timeout: timeout,
                    deadline: now + timeout,
                    step_start: now,
                    script_at: Some(now + timeout),
                    registered: false,
                }),
                Err(e) => Err(ProbeResult::Script(ScriptExit::SpawnFailed { kind: e.kind(), errno: e.raw_os_error() })),
            },
        };
        let mut task = match built {
            Ok(t) => t,
            Err(result) => {
                self.finish(owner, result);
                return;
            }
        };
        let slot = self.alloc();
        let token = Token(slot);
        let reg = match &mut task.kind {
            Kind::Tcp(s) => self.poll.registry().register(s, token, Interest::READABLE | Interest::WRITABLE),
            Kind::Http(h) => {
                self.poll.registry().register(&mut h.stream, token, Interest::READABLE | Interest::WRITABLE)
            }
            Kind::Smtp(h) => {
                self.poll.registry().register(&mut h.stream, token, Interest::READABLE | Interest::WRITABLE)
            }
            Kind::Udp(s, _) | Kind::Dns(s, _) => self.poll.registry().register(s, token, Interest::READABLE),
            Kind::Ping { sock, .. } => {
                self.poll.registry().register(&mut SourceFd(&sock.as_raw_fd()), token, Interest::READABLE)
            }
            Kind::Script(r) => match &r.pidfd {
                Some(fd) => self.poll.registry().register(&mut SourceFd(&fd.as_raw_fd()), token, Interest::READABLE),
                None => {
                    self.polled_children += 1;
                    Ok(())
                }
            },
        };
        match reg {
            Ok(()) => task.registered = !matches!(&task.kind, Kind::Script(r) if r.pidfd.is_none()),
            Err(e) => {
                self.free.push(slot);
                self.finish(
                    owner,
                    ProbeResult::NotRun(Failure::Setup { what: "register", kind: e.kind(), errno: e.raw_os_error() }),
                );
                return;
            }
        }
        let due = task.due();
        self.slots[slot] = Some(task);
        self.in_flight += 1;
        self.fresh.push((slot, self.generation[slot]));
        self.fresh_due = Some(self.fresh_due.map_or(due, |d| d.min(due)));
        // Some work can go on before any event (a connect that succeeded
        // at once, a datagram already sent).
        self.drive(slot, now, None);
    }

    fn build(&mut self, p: Probe, now: Instant, waited: Duration) -> Result<Task, ProbeResult> {
        let owner = Owner::Probe(p.id);
        let mk = |kind| Task {
            owner,
            kind,
            step_timeout: p.step_timeout,
            deadline: p.deadline + waited,
            step_start: now,
            script_at: None,
            registered: false,
        };
        let target = |t: &Option<Target>| -> Result<Target, ProbeResult> {
            t.clone().ok_or(ProbeResult::NotRun(Failure::Aborted { reason: "probe without a target" }))
        };
        // keepalived: for TCP, HTTP, SMTP and DNS a socket, bind or mark
        // failure reschedules the check; for UDP and PING it fails it.
        let not_run = |e: SetupError| match e {
            SetupError::NotRun(f) => ProbeResult::NotRun(f),
            SetupError::Failed(f) => ProbeResult::Failure(f),
        };
        let failed = |e: SetupError| match e {
            SetupError::NotRun(f) | SetupError::Failed(f) => ProbeResult::Failure(f),
        };
        match p.spec {
            ProbeSpec::Tcp => {
                let t = target(&p.target)?;
                let (s, connected) = net::tcp(&t).map_err(not_run)?;
                if connected {
                    // Connected within the call (a server on this host):
                    // done without a slot, an epoll registration or an
                    // event; the socket closes here.
                    drop(s);
                    return Err(ProbeResult::Success);
                }
                Ok(mk(Kind::Tcp(s)))
            }
            ProbeSpec::Http { http, url } => {
                let t = target(&p.target)?;
                let (stream, at_once) = net::tcp(&t).map_err(not_run)?;
                let tls = if http.check.tls {
                    let name = tls::server_name(http.check.vhost(url), http.check.enable_sni, t.dst.ip());
                    Some(
                        rustls::ClientConnection::new(Arc::clone(&self.tls), name)
                            .map_err(|e| ProbeResult::NotRun(Failure::Tls { message: e.to_string() }))?,
                    )
                } else {
                    None
                };
                let md5 = http.check.urls.get(url).and_then(|u| u.digest).map(|_| Md5::new());
                Ok(mk(Kind::Http(Box::new(HttpTask {
                    stream,
                    tls,
                    http,
                    url,
                    connected: at_once,
                    sent: 0,
                    reader: http::ResponseReader::new(),
                    md5,
                }))))
            }
            ProbeSpec::Smtp(s) => {
                let t = target(&p.target)?;
                let (stream, at_once) = net::tcp(&t).map_err(not_run)?;
                Ok(mk(Kind::Smtp(Box::new(SmtpTask {
                    stream,
                    connected: at_once,
                    dialogue: smtp::SmtpDialogue::new(&s.helo_name),
                    out: Vec::new(),
                    sent: 0,
                }))))
            }
            ProbeSpec::Udp(check) => {
                let t = target(&p.target)?;
                let s = net::socket(&t, Type::DGRAM, Protocol::UDP).map_err(failed)?;
                net::connect(&s, &t).map_err(failed)?;
                let sock = UdpSocket::from_std(std::net::UdpSocket::from(s));
                let payload = udp::payload(&check);
                match sock.send(&payload) {
                    Ok(n) if n == payload.len() => {}
                    Ok(_) => {
                        return Err(ProbeResult::Failure(Failure::Io {
                            step: "send",
                            kind: io::ErrorKind::WriteZero,
                            errno: None,
                        }));
                    }
                    Err(e) => return Err(ProbeResult::Failure(io_fail("send", &e))),
                }
                Ok(mk(Kind::Udp(sock, check)))
            }
            ProbeSpec::Dns { id, query } => {
                let t = target(&p.target)?;
                let s = net::socket(&t, Type::DGRAM, Protocol::UDP).map_err(not_run)?;
                net::connect(&s, &t).map_err(not_run)?;
                let sock = UdpSocket::from_std(std::net::UdpSocket::from(s));
                match sock.send(&query) {
                    Ok(n) if n == query.len() => {}
                    Ok(_) => {
                        return Err(ProbeResult::Failure(Failure::Io {
                            step: "send",
                            kind: io::ErrorKind::WriteZero,
                            errno: None,
                        }));
                    }
                    Err(e) => return Err(ProbeResult::Failure(io_fail("send", &e))),
                }
                Ok(mk(Kind::Dns(sock, id)))
            }
            ProbeSpec::Ping { id, seq } => {
                let t = target(&p.target)?;
                let (sock, raw) = ping_socket(&t)?;
                let v6 = t.dst.is_ipv6();
                let msg = icmp::build_echo(v6, id, seq);
                let dst = SockAddr::from(std::net::SocketAddr::new(t.dst.ip(), 0));
                if let Err(e) = sock.send_to(&msg, &dst) {
                    return Err(ProbeResult::Failure(io_fail("send", &e)));
                }
                Ok(mk(Kind::Ping { sock, v6, raw, expect: raw.then_some((id, seq)) }))
            }
            ProbeSpec::Misc(m) => match script::spawn(&m.script) {
                Ok(r) => {
                    let mut t = mk(Kind::Script(r));
                    t.script_at = Some(t.deadline);
                    Ok(t)
                }
                Err(e) => Err(ProbeResult::Script(ScriptExit::SpawnFailed { kind: e.kind(), errno: e.raw_os_error() })),
            },
            ProbeSpec::File(f) => Err(ProbeResult::FileValue(read_track_file(&f.path))),
        }
    }

    /// Waits up to `timeout` for I/O, then carries every ready probe as far
    /// as it goes and fails those whose deadline passed. Results are then
    /// ready in [`poll_result`](Self::poll_result).
    pub fn poll_io(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        let now = Instant::now();
        let mut wait = timeout;
        if let Some(d) = self.next_deadline() {
            let until = d.saturating_duration_since(now);
            wait = Some(wait.map_or(until, |w| w.min(until)));
        }
        if self.polled_children > 0 {
            wait = Some(wait.map_or(Duration::from_millis(20), |w| w.min(Duration::from_millis(20))));
        }
        if !self.results.is_empty() || !self.script_results.is_empty() {
            wait = Some(Duration::ZERO);
        }
        match self.poll.poll(&mut self.events, wait) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
        let now = Instant::now();
        // Slots freed during this batch are reused only after it, so an
        // event for a finished task finds its slot empty.
        let mut ready = std::mem::take(&mut self.ready);
        ready.clear();
        ready.extend(
            self.events.iter().map(|e| {
                (e.token().0, Ready { writable: e.is_writable(), error: e.is_error() || e.is_write_closed() })
            }),
        );
        for &(slot, r) in &ready {
            self.drive(slot, now, Some(r));
        }
        self.ready = ready;
        if self.polled_children > 0 {
            for slot in 0..self.slots.len() {
                if matches!(&self.slots[slot], Some(Task { kind: Kind::Script(r), .. }) if r.pidfd.is_none()) {
                    self.drive(slot, now, None);
                }
            }
        }
        for (slot, generation) in self.fresh.drain(..) {
            if self.generation[slot] == generation {
                if let Some(t) = &self.slots[slot] {
                    self.timers.push(Reverse((t.due(), slot, generation)));
                }
            }
        }
        self.fresh_due = None;
        self.expire(now);
        self.free.append(&mut self.freed_in_batch);
        self.start_queued(now);
        Ok(())
    }

    fn start_queued(&mut self, now: Instant) {
        if self.queue_due.is_some_and(|d| d <= now) {
            self.expire_queued(now);
        }
        while self.in_flight < self.max_in_flight {
            let Some((owner, work, queued_at)) = self.queue.pop_front() else { break };
            let waited = now.saturating_duration_since(queued_at);
            self.start(owner, work, now, waited);
        }
        if self.queue.is_empty() {
            self.queue_due = None;
        }
    }

    /// Answers the queued probes whose deadline passed before a slot freed
    /// with `NotStarted`, and sets the next queue deadline. One pass over
    /// the queue, at most once per queued deadline.
    fn expire_queued(&mut self, now: Instant) {
        let mut due: Option<Instant> = None;
        let results = &mut self.results;
        self.queue.retain(|(owner, work, queued_at)| match (owner, work) {
            (Owner::Probe(id), QueuedWork::Probe(p)) => {
                if p.deadline <= now {
                    let waited = now.saturating_duration_since(*queued_at);
                    let f = Failure::NotStarted { reason: "queued past its deadline", waited };
                    results.push_back((*id, ProbeResult::NotRun(f)));
                    false
                } else {
                    due = Some(due.map_or(p.deadline, |d| d.min(p.deadline)));
                    true
                }
            }
            _ => true,
        });
        self.queue_due = due;
    }

    fn expire(&mut self, now: Instant) {
        while let Some(&Reverse((at, slot, generation))) = self.timers.peek() {
            if at > now {
                break;
            }
            self.timers.pop();
            if self.generation[slot] != generation {
                continue;
            }
            let Some(task) = self.slots[slot].as_mut() else { continue };
            let due = task.due();
            if due > now {
                // Progress moved the deadline on.
                self.timers.push(Reverse((due, slot, generation)));
                continue;
            }
            if let Kind::Script(r) = &mut task.kind {
                let next = r.escalate(now);
                task.script_at = Some(next);
                self.timers.push(Reverse((next, slot, generation)));
                continue;
            }
            let result = match &task.kind {
                _ if task.connecting() => ProbeResult::Failure(Failure::ConnectTimeout),
                // keepalived: silence within the timeout is a UDP success
                // unless a reply is required.
                Kind::Udp(_, check) => udp::judge(check, None).into(),
                Kind::Dns(..) => ProbeResult::Failure(Failure::Timeout { step: "DNS read" }),
                Kind::Ping { .. } => ProbeResult::Failure(Failure::Timeout { step: "ICMP echo" }),
                Kind::Http(h) => ProbeResult::Failure(Failure::Timeout {
                    step: if h.tls.as_ref().is_some_and(|c| c.is_handshaking()) {
                        "TLS handshake"
                    } else if h.sent < h.http.requests[h.url].len() {
                        "HTTP write"
                    } else {
                        "HTTP read"
                    },
                }),
                Kind::Smtp(s) => ProbeResult::Failure(Failure::Timeout { step: s.dialogue.step() }),
                Kind::Tcp(..) | Kind::Script(_) => ProbeResult::Failure(Failure::ConnectTimeout),
            };
            self.close(slot, result);
        }
    }

    fn close(&mut self, slot: usize, result: ProbeResult) {
        if let Some(owner) = self.discard(slot, false) {
            self.finish(owner, result);
        }
    }

    /// Ends the task in `slot` (a script still running is killed with its
    /// process group when `kill`) and frees the slot.
    fn discard(&mut self, slot: usize, kill: bool) -> Option<Owner> {
        let mut task = self.slots[slot].take()?;
        if let (true, Kind::Script(r)) = (kill, &mut task.kind) {
            r.kill();
        }
        // Closing a descriptor takes it out of the epoll set; no
        // deregistration call is needed.
        if !task.registered && matches!(task.kind, Kind::Script(_)) {
            self.polled_children -= 1;
        }
        let owner = task.owner;
        drop(task);
        self.in_flight -= 1;
        self.freed_in_batch.push(slot);
        Some(owner)
    }

    /// Carries a task as far as it goes without blocking.
    fn drive(&mut self, slot: usize, now: Instant, ready: Option<Ready>) {
        let Some(task) = self.slots.get_mut(slot).and_then(|t| t.as_mut()) else { return };
        let step = match &mut task.kind {
            Kind::Tcp(s) => match connect_ready(s, ready) {
                Ok(true) => Step::Done(ProbeResult::Success),
                Ok(false) => Step::Pending,
                Err(f) => Step::Done(ProbeResult::Failure(f)),
            },
            Kind::Http(h) => drive_http(h, ready, &mut task.step_start, now, &mut self.scratch),
            Kind::Smtp(s) => drive_smtp(s, ready, &mut task.step_start, now, &mut self.scratch),
            Kind::Udp(sock, check) => {
                let n = udp::recv_len(check);
                match sock.recv(&mut self.scratch[..n]) {
                    Ok(len) => Step::Done(udp::judge(check, Some(&self.scratch[..len])).into()),
                    Err(e) if would_block(&e) => Step::Pending,
                    // An ICMP error (port unreachable) fails the check
                    // whether or not a reply is required (udp_socket_state).
                    Err(e) => Step::Done(ProbeResult::Failure(io_fail("recv", &e))),
                }
            }
            Kind::Dns(sock, id) => loop {
                match sock.recv(&mut self.scratch) {
                    Ok(len) => match dns::judge_reply(*id, &self.scratch[..len]) {
                        dns::ReplyVerdict::Ignore => continue,
                        dns::ReplyVerdict::Up => break Step::Done(ProbeResult::Success),
                        dns::ReplyVerdict::Down(f) => break Step::Done(ProbeResult::Failure(f)),
                    },
                    Err(e) if would_block(&e) => break Step::Pending,
                    Err(e) => break Step::Done(ProbeResult::Failure(io_fail("recv", &e))),
                }
            },
            Kind::Ping { sock, v6, raw, expect } => loop {
                match (&*sock).read(&mut self.scratch) {
                    Ok(len) => match icmp::judge(*v6, *raw && !*v6, *expect, &self.scratch[..len]) {
                        icmp::EchoVerdict::Ignore => continue,
                        icmp::EchoVerdict::Up => break Step::Done(ProbeResult::Success),
                        icmp::EchoVerdict::Down(f) => break Step::Done(ProbeResult::Failure(f)),
                    },
                    Err(e) if would_block(&e) => break Step::Pending,
                    Err(e) => break Step::Done(ProbeResult::Failure(io_fail("recv", &e))),
                }
            },
            Kind::Script(r) => match r.try_exit() {
                Ok(Some(x)) => Step::Done(ProbeResult::Script(x)),
                Ok(None) => Step::Pending,
                Err(e) => {
                    Step::Done(ProbeResult::Script(ScriptExit::SpawnFailed { kind: e.kind(), errno: e.raw_os_error() }))
                }
            },
        };
        if let Step::Done(r) = step {
            self.close(slot, r);
        }
    }
}

impl Drop for Runner {
    /// Scripts still running are killed with their process group and
    /// reaped, so that no child outlives the runner.
    fn drop(&mut self) {
        for task in self.slots.iter_mut().flatten() {
            if let Kind::Script(r) = &mut task.kind {
                r.kill();
            }
        }
    }
}

/// Whether a non-blocking connect finished. An epoll event that reports
/// the socket writable without an error means connected (`connect(2)`);
/// on an error the pending error says why (`SO_ERROR`, as keepalived's
/// `socket_state` reads it). Without an event (the first attempt), the
/// connect is still under way: one that completed within the call never
/// gets here (`net::tcp` tells).
fn connect_ready(s: &TcpStream, ready: Option<Ready>) -> Result<bool, Failure> {
    let Some(r) = ready else { return Ok(false) };
    if r.error {
        return match s.take_error() {
            Ok(Some(e)) | Err(e) => Err(Failure::from_io("connect", &e)),
            Ok(None) => match s.peer_addr() {
                Ok(_) => Ok(true),
                Err(e) => Err(Failure::from_io("connect", &e)),
            },
        };
    }
    Ok(r.writable)
}

fn drive_http(
    h: &mut HttpTask,
    ready: Option<Ready>,
    step_start: &mut Instant,
    now: Instant,
    scratch: &mut [u8],
) -> Step {
    if !h.connected {
        match connect_ready(&h.stream, ready) {
            Ok(true) => {
                h.connected = true;
                *step_start = now;
            }
            Ok(false) => return Step::Pending,
            Err(f) => return Step::Done(ProbeResult::Failure(f)),
        }
    }
    let http = Arc::clone(&h.http);
    let request = &http.requests[h.url];
    let url = &http.check.urls[h.url];
    let HttpTask { stream, tls, sent, reader, md5, .. } = h;
    let feed = |reader: &mut http::ResponseReader, md5: &mut Option<Md5>, data: &[u8]| {
        reader.feed(data, &mut |b| {
            if let Some(m) = md5.as_mut() {
                m.update(b);
            }
        })
    };
    match tls {
        None => {
            while *sent < request.len() {
                match stream.write(&request[*sent..]) {
                    Ok(0) => return Step::Done(ProbeResult::Failure(Failure::Closed { step: "HTTP write" })),
                    Ok(n) => {
                        *sent += n;
                        *step_start = now;
                    }
                    Err(e) if would_block(&e) => return Step::Pending,
                    Err(e) => return Step::Done(ProbeResult::Failure(io_fail("HTTP write", &e))),
                }
            }
            loop {
                match stream.read(scratch) {
                    Ok(0) => return Step::Done(finish_http(reader, md5, url)),
                    Ok(n) => {
                        *step_start = now;
                        if let Err(f) = feed(reader, md5, &scratch[..n]) {
                            return Step::Done(ProbeResult::Failure(f));
                        }
                    }
                    Err(e) if would_block(&e) => return Step::Pending,
                    // keepalived: a read error (a reset mid-response) fails
                    // the check even after a complete response.
                    Err(e) => return Step::Done(ProbeResult::Failure(io_fail("HTTP read", &e))),
                }
            }
        }
        Some(conn) => 'turn: loop {
            // Write what TLS has to say (handshake, request).
            loop {
                if conn.wants_write() {
                    match conn.write_tls(stream) {
                        Ok(_) => {
                            *step_start = now;
                            continue;
                        }
                        Err(e) if would_block(&e) => {}
                        Err(e) => return Step::Done(ProbeResult::Failure(io_fail("TLS write", &e))),
                    }
                }
                if !conn.is_handshaking() && *sent < request.len() {
                    match conn.writer().write(&request[*sent..]) {
                        Ok(n) if n > 0 => {
                            *sent += n;
                            continue;
                        }
                        Ok(_) => {}
                        Err(e) => return Step::Done(ProbeResult::Failure(io_fail("TLS write", &e))),
                    }
                }
                break;
            }
            // Read what the server sent.
            loop {
                match conn.read_tls(stream) {
                    Ok(0) => {
                        if conn.is_handshaking() {
                            return Step::Done(ProbeResult::Failure(Failure::Closed { step: "TLS handshake" }));
                        }
                        // Closed, with or without close_notify: drain what
                        // was decrypted and judge it, as keepalived does.
                        let _ = conn.process_new_packets();
                        loop {
                            match conn.reader().read(scratch) {
                                Ok(n) if n > 0 => {
                                    if let Err(f) = feed(reader, md5, &scratch[..n]) {
                                        return Step::Done(ProbeResult::Failure(f));
                                    }
                                }
                                _ => break,
                            }
                        }
                        return Step::Done(finish_http(reader, md5, url));
                    }
                    Ok(_) => {
                        *step_start = now;
                        if let Err(e) = conn.process_new_packets() {
                            if conn.is_handshaking() || *sent == 0 {
                                return Step::Done(ProbeResult::Failure(Failure::Tls { message: e.to_string() }));
                            }
                            // keepalived: any TLS error after the request
                            // ends the stream; judge what arrived.
                            return Step::Done(finish_http(reader, md5, url));
                        }
                        if !conn.is_handshaking() {
                            loop {
                                match conn.reader().read(scratch) {
                                    Ok(0) => return Step::Done(finish_http(reader, md5, url)),
                                    Ok(n) => {
                                        if let Err(f) = feed(reader, md5, &scratch[..n]) {
                                            return Step::Done(ProbeResult::Failure(f));
                                        }
                                    }
                                    Err(e) if would_block(&e) => break,
                                    Err(_) => return Step::Done(finish_http(reader, md5, url)),
                                }
                            }
                        }
                        if conn.wants_write() || (!conn.is_handshaking() && *sent < request.len()) {
                            // A handshake message or the request to send.
                            continue 'turn;
                        }
                    }
                    Err(e) if would_block(&e) => break 'turn Step::Pending,
                    Err(e) => {
                        if conn.is_handshaking() {
                            return Step::Done(ProbeResult::Failure(io_fail("TLS handshake", &e)));
                        }
                        return Step::Done(ProbeResult::Failure(io_fail("HTTP read", &e)));
                    }
                }
            }
        },
    }
}

fn finish_http(reader: &http::ResponseReader, md5: &mut Option<Md5>, url: &super::spec::UrlSpec) -> ProbeResult {
    let digest = md5.take().map(|m| {
        let d = m.finalize();
        let mut out = [0u8; 16];
        out.copy_from_slice(&d);
        out
    });
    match reader.finish(url, digest) {
        Ok(_) => ProbeResult::Success,
        Err(f) => ProbeResult::Failure(f),
    }
}

fn drive_smtp(
    s: &mut SmtpTask,
    ready: Option<Ready>,
    step_start: &mut Instant,
    now: Instant,
    scratch: &mut [u8],
) -> Step {
    if !s.connected {
        match connect_ready(&s.stream, ready) {
            Ok(true) => {
                s.connected = true;
                *step_start = now;
            }
            Ok(false) => return Step::Pending,
            Err(f) => return Step::Done(ProbeResult::Failure(f)),
        }
    }
    loop {
        while s.sent < s.out.len() {
            match s.stream.write(&s.out[s.sent..]) {
                Ok(0) => return Step::Done(ProbeResult::Failure(Failure::Closed { step: s.dialogue.step() })),
                Ok(n) => {
                    s.sent += n;
                    *step_start = now;
                }
                Err(e) if would_block(&e) => return Step::Pending,
                Err(e) => return Step::Done(ProbeResult::Failure(io_fail("SMTP write", &e))),
            }
        }
        let written = !s.out.is_empty();
        s.out.clear();
        s.sent = 0;
        // After a command went out, replies that arrived ahead of it come first.
        let data: &[u8] = if written {
            &[]
        } else {
            match s.stream.read(scratch) {
                Ok(0) => return Step::Done(ProbeResult::Failure(Failure::Closed { step: s.dialogue.step() })),
                Ok(n) => {
                    *step_start = now;
                    &scratch[..n]
                }
                Err(e) if would_block(&e) => return Step::Pending,
                Err(e) => return Step::Done(ProbeResult::Failure(io_fail("SMTP read", &e))),
            }
        };
        match s.dialogue.feed(data) {
            Ok(smtp::SmtpStep::Done) => return Step::Done(ProbeResult::Success),
            Ok(smtp::SmtpStep::Write(w)) => s.out = w,
            Ok(smtp::SmtpStep::Read) => {}
            Err(f) => return Step::Done(ProbeResult::Failure(f)),
        }
    }
}

/// An ICMP socket: unprivileged where permitted, raw otherwise.
fn ping_socket(t: &Target) -> Result<(Socket, bool), ProbeResult> {
    let proto = if t.dst.is_ipv4() { Protocol::ICMPV4 } else { Protocol::ICMPV6 };
    let permission = |e: &io::Error| matches!(Errno::from_io_error(e), Some(Errno::ACCESS) | Some(Errno::PERM));
    let try_kind = |ty: Type| -> Result<Socket, SetupError> {
        let target = Target { bind: None, ..t.clone() };
        let s = net::socket(&target, ty, proto)?;
        let _ = s.set_recv_buffer_size(128 * 1024);
        Ok(s)
    };
    let err = |e: SetupError| -> io::Error {
        match e {
            SetupError::NotRun(Failure::Setup { kind, errno: Some(n), .. })
            | SetupError::Failed(Failure::Setup { kind, errno: Some(n), .. }) => {
                let _ = kind;
                io::Error::from_raw_os_error(n)
            }
            _ => io::Error::other("socket"),
        }
    };
    match try_kind(Type::DGRAM) {
        Ok(s) => Ok((s, false)),
        Err(e) => {
            let e = err(e);
            if !permission(&e) {
                return Err(ProbeResult::NotRun(Failure::Setup {
                    what: "ICMP socket",
                    kind: e.kind(),
                    errno: e.raw_os_error(),
                }));
            }
            match try_kind(Type::RAW) {
                Ok(s) => Ok((s, true)),
                Err(e2) => {
                    let e2 = err(e2);
                    if permission(&e2) {
                        Err(ProbeResult::NotRun(Failure::PingNotPermitted {
                            help: "add this process's group to net.ipv4.ping_group_range, or grant CAP_NET_RAW",
                        }))
                    } else {
                        Err(ProbeResult::NotRun(Failure::Setup {
                            what: "ICMP socket",
                            kind: e2.kind(),
                            errno: e2.raw_os_error(),
                        }))
                    }
                }
            }
        }
    }
}

/// Reads a tracked file as keepalived does: a missing or unreadable file
/// reads as 0.
pub fn read_track_file(path: &std::path::Path) -> Option<i64> {
    let mut buf = [0u8; file::READ_LEN];
    let n = match std::fs::File::open(path) {
        Ok(mut f) => f.read(&mut buf).unwrap_or(0),
        Err(_) => 0,
    };
    file::parse_value(&buf[..n])
}

/// A [`HealthChecker`] and a [`Runner`] in one loop.
#[derive(Debug)]
pub struct Driver {
    /// The checker; poll its events and desired pool.
    pub checker: HealthChecker,
    /// The runner.
    pub runner: Runner,
}

impl Driver {
    /// Couples a checker and a runner.
    pub fn new(checker: HealthChecker, runner: Runner) -> Self {
        Driver { checker, runner }
    }

    /// One turn: runs due timers, submits probes, waits for I/O at most
    /// `max_wait` (less if a timer is due sooner), and feeds the results
    /// back. Events accumulate in the checker.
    pub fn step(&mut self, max_wait: Duration) -> io::Result<()> {
        let now = Instant::now();
        self.checker.handle_timeout(now);
        while let Some(id) = self.checker.poll_cancelled() {
            self.runner.cancel(id);
        }
        while let Some(p) = self.checker.poll_probe() {
            self.runner.submit(p, now);
        }
        // Probes that finished within `submit` (a server on this host) go
        // back at once, so that the wait below runs to the next timer
        // rather than returning at once for their results.
        self.feed_results(now);
        let mut wait = max_wait;
        if let Some(t) = self.checker.poll_timeout() {
            wait = wait.min(t.saturating_duration_since(now));
        }
        self.runner.poll_io(Some(wait))?;
        self.feed_results(Instant::now());
        Ok(())
    }

    fn feed_results(&mut self, now: Instant) {
        while let Some((id, r)) = self.runner.poll_result() {
            // A result the checker gave up on already is dropped.
            let _ = self.checker.handle_result(id, r, now);
        }
    }

    /// Stops checking ([`HealthChecker::shutdown`]) and drops the probes
    /// out (scripts are killed); returns the empty desired pools.
    pub fn shutdown(&mut self) -> Vec<super::DesiredService> {
        let empty = self.checker.shutdown();
        while let Some(id) = self.checker.poll_cancelled() {
            self.runner.cancel(id);
        }
        empty
    }

    /// Steps until `until`.
    pub fn run_until(&mut self, until: Instant) -> io::Result<()> {
        while Instant::now() < until {
            self.step(until.saturating_duration_since(Instant::now()))?;
        }
        Ok(())
    }
}
