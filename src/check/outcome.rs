//! What a probe found: the result a runner hands back to the
//! [`HealthChecker`](super::HealthChecker), and the reasons a check fails.

use std::fmt;
use std::io;

/// Why one probe failed. Every variant says enough to act on; the
/// [`Display`](fmt::Display) form reads like keepalived's log lines.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Failure {
    /// The connection was refused, reset or unreachable (`connect_fail`).
    ConnectFailed {
        /// The OS error kind.
        kind: io::ErrorKind,
        /// The raw OS error number, if any.
        errno: Option<i32>,
    },
    /// The connection was not established within `connect_timeout`.
    ConnectTimeout,
    /// The socket could not be set up (bind, mark, interface).
    Setup {
        /// What failed.
        what: &'static str,
        /// The OS error kind.
        kind: io::ErrorKind,
        /// The raw OS error number, if any.
        errno: Option<i32>,
    },
    /// The probe's deadline passed during this step.
    Timeout {
        /// The step that was under way (`"read"`, `"write"`, `"TLS handshake"` …).
        step: &'static str,
    },
    /// A read or write failed after connecting (a reset mid-response).
    Io {
        /// The step.
        step: &'static str,
        /// The OS error kind.
        kind: io::ErrorKind,
        /// The raw OS error number, if any.
        errno: Option<i32>,
    },
    /// The TLS handshake failed.
    Tls {
        /// The TLS library's message.
        message: String,
    },
    /// The response ended without a complete HTTP header.
    HttpNoData,
    /// The response header grew past the reader's buffer without ending.
    HttpHeadTooLong {
        /// The buffer size.
        limit: usize,
    },
    /// The status code is not accepted (0 means unparsable).
    HttpStatus {
        /// The code.
        status: u16,
    },
    /// The body's MD5 does not match the configured digest.
    HttpDigest {
        /// The digest of what arrived (`None` if it could not be computed).
        got: Option<[u8; 16]>,
    },
    /// No UDP reply when one is required, or an ICMP error came back.
    UdpNoReply,
    /// The UDP reply does not match the expected pattern or length.
    UdpReply {
        /// The reply's length.
        len: usize,
    },
    /// A DNS reply carried an error code.
    DnsRcode {
        /// The RCODE.
        rcode: u8,
    },
    /// A DNS reply with our ID could not be parsed.
    DnsMalformed {
        /// What was wrong.
        error: super::dns::DnsError,
    },
    /// An SMTP server answered a step with the wrong code.
    SmtpReply {
        /// The step (`"banner"`, `"HELO"`).
        step: &'static str,
        /// The code it sent (`None` if the line had none).
        code: Option<u16>,
    },
    /// An SMTP reply line was longer than RFC 5321 allows.
    SmtpLineTooLong {
        /// The limit.
        limit: usize,
    },
    /// An SMTP server sent too much ahead of the dialogue, or one reply
    /// longer than the limit.
    SmtpOverflow {
        /// The limit.
        limit: usize,
    },
    /// The peer closed the connection before the dialogue finished.
    Closed {
        /// The step under way.
        step: &'static str,
    },
    /// An ICMP echo got an error or something other than an echo reply.
    Icmp {
        /// The ICMP type received.
        icmp_type: u8,
    },
    /// ICMP echo is not permitted for this process.
    PingNotPermitted {
        /// How to permit it.
        help: &'static str,
    },
    /// A script could not be started.
    Spawn {
        /// The OS error kind.
        kind: io::ErrorKind,
        /// The raw OS error number, if any.
        errno: Option<i32>,
    },
    /// A script exited with a failing status.
    Exit {
        /// The exit status.
        code: i32,
    },
    /// A script was killed by a signal it was not sent for a timeout.
    Signal {
        /// The signal number.
        signal: i32,
    },
    /// A script ran past its timeout and was terminated.
    ScriptTimeout,
    /// A tracked file reports a failure.
    FileFault {
        /// The value read.
        value: i64,
    },
    /// The runner gave up on the probe (too many in flight past the
    /// deadline, or shutting down).
    Aborted {
        /// Why.
        reason: &'static str,
    },
    /// The probe never started: it waited for a free slot in the runner
    /// until its deadline passed, or the runner's queue was full. Reported
    /// as [`ProbeResult::NotRun`]: the checker's own backlog is no evidence
    /// against the server.
    NotStarted {
        /// Why (`"queued past its deadline"`, `"runner queue full"`).
        reason: &'static str,
        /// How long it waited.
        waited: std::time::Duration,
    },
    /// A result of the wrong kind for the checker that issued the probe
    /// (a file value for a `MISC_CHECK`, a script exit for a `TCP_CHECK`):
    /// a runner bug, treated as a probe that did not run.
    UnexpectedResult {
        /// The checker's kind (`"TCP_CHECK"` …).
        checker: &'static str,
        /// What came back (`"file value"`, `"script exit"` …).
        got: &'static str,
    },
}

fn os(kind: io::ErrorKind, errno: Option<i32>) -> String {
    match errno {
        Some(e) => format!("{} (os error {e})", io::Error::from_raw_os_error(e)),
        None => format!("{kind}"),
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::ConnectFailed { kind, errno } => write!(f, "connection failed: {}", os(*kind, *errno)),
            Failure::ConnectTimeout => f.write_str("connection timeout"),
            Failure::Setup { what, kind, errno } => write!(f, "{what} failed: {}", os(*kind, *errno)),
            Failure::Timeout { step } => write!(f, "timeout during {step}"),
            Failure::Io { step, kind, errno } => write!(f, "{step} error: {}", os(*kind, *errno)),
            Failure::Tls { message } => write!(f, "TLS error: {message}"),
            Failure::HttpNoData => f.write_str("no data received (no complete HTTP header)"),
            Failure::HttpHeadTooLong { limit } => write!(f, "HTTP header longer than {limit} bytes"),
            Failure::HttpStatus { status } => write!(f, "HTTP status code error ({status})"),
            Failure::HttpDigest { got: Some(d) } => {
                f.write_str("MD5 digest error (got ")?;
                for b in d {
                    write!(f, "{b:02x}")?;
                }
                f.write_str(")")
            }
            Failure::HttpDigest { got: None } => f.write_str("MD5 digest error (no digest computed)"),
            Failure::UdpNoReply => f.write_str("no UDP reply"),
            Failure::UdpReply { len } => write!(f, "UDP reply mismatch ({len} bytes)"),
            Failure::DnsRcode { rcode } => write!(f, "DNS error (rcode = {rcode})"),
            Failure::DnsMalformed { error } => write!(f, "malformed DNS reply: {error}"),
            Failure::SmtpReply { step, code: Some(c) } => write!(f, "bad SMTP {step} reply {c}"),
            Failure::SmtpReply { step, code: None } => write!(f, "bad SMTP {step} reply (no code)"),
            Failure::SmtpLineTooLong { limit } => write!(f, "SMTP reply line longer than {limit} bytes"),
            Failure::SmtpOverflow { limit } => {
                write!(f, "SMTP server sent more than {limit} bytes in one reply or ahead of the dialogue")
            }
            Failure::Closed { step } => write!(f, "connection closed during {step}"),
            Failure::Icmp { icmp_type } => write!(f, "ICMP type {icmp_type} instead of an echo reply"),
            Failure::PingNotPermitted { help } => write!(f, "ICMP echo not permitted: {help}"),
            Failure::Spawn { kind, errno } => write!(f, "cannot start script: {}", os(*kind, *errno)),
            Failure::Exit { code } => write!(f, "exited with status {code}"),
            Failure::Signal { signal } => write!(f, "killed by signal {signal}"),
            Failure::ScriptTimeout => f.write_str("timed out"),
            Failure::FileFault { value } => write!(f, "tracked file reports fault ({value})"),
            Failure::Aborted { reason } => write!(f, "probe aborted: {reason}"),
            Failure::NotStarted { reason, waited } => {
                write!(f, "probe not started: {reason} (waited {} ms)", waited.as_millis())
            }
            Failure::UnexpectedResult { checker, got } => write!(f, "{got} is not a {checker} result"),
        }
    }
}

impl Failure {
    /// A failure from an I/O error during `step`, classifying connection
    /// errors as keepalived's `connect_fail`.
    pub fn from_io(step: &'static str, e: &io::Error) -> Self {
        let kind = e.kind();
        let errno = e.raw_os_error();
        if step == "connect" { Failure::ConnectFailed { kind, errno } } else { Failure::Io { step, kind, errno } }
    }
}

/// How a `MISC_CHECK` script ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScriptExit {
    /// It exited with this status (0..=255).
    Exited(u8),
    /// It was killed by this signal; `timed_out` when the runner sent it
    /// because the script overran its timeout.
    Signaled {
        /// The signal number.
        signal: i32,
        /// Whether it was the timeout's signal.
        timed_out: bool,
    },
    /// It could not be started.
    SpawnFailed {
        /// The OS error kind.
        kind: io::ErrorKind,
        /// The raw OS error number, if any.
        errno: Option<i32>,
    },
}

/// What a runner reports for one probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeResult {
    /// The check passed.
    Success,
    /// The check failed.
    Failure(Failure),
    /// A `MISC_CHECK` script ended; the checker judges the status.
    Script(ScriptExit),
    /// A `FILE_CHECK` file was read: the number it holds (0 when missing
    /// or empty, as keepalived reads it), or `None` when it holds a number
    /// out of range, which keepalived ignores.
    FileValue(Option<i64>),
    /// The probe could not be attempted (no socket, bind or mark failed,
    /// ICMP not permitted): no verdict, the checker tries again after
    /// `delay_loop` with its state unchanged, as keepalived's
    /// "Rescheduling" paths do.
    NotRun(Failure),
}

impl From<Result<(), Failure>> for ProbeResult {
    fn from(r: Result<(), Failure>) -> Self {
        match r {
            Ok(()) => ProbeResult::Success,
            Err(f) => ProbeResult::Failure(f),
        }
    }
}
