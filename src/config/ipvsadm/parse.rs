//! Reading `ipvsadm` command lines and `ipvsadm-save` rule files, with
//! ipvsadm 1.31's options, defaults and checks (`parse_options`,
//! `process_options`, `generic_opt_check` and the `parse_*` helpers of
//! `ipvsadm.c`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::services::{self, proto_name};
use super::{Command, ListFormat, ListOptions};
use crate::backend::IpvsOp;
use crate::ipvs::{
    DaemonConfig, DaemonRole, DestConfig, Family, ForwardMethod, PersistMask, Persistence, Protocol, ServiceConfig,
    ServiceFlags, ServiceKey, Timeouts, TunnelCsum, TunnelKind, TunnelParams,
};

/// `MAX_TIMEOUT`: 31 days.
const MAX_TIMEOUT: u32 = 86400 * 31;
/// `IPVS_SVC_PERSISTENT_TIMEOUT` (`libipvs.h`): `-p` without a value.
const DEFAULT_PERSISTENCE: u32 = 360;
/// `DEF_SCHED`.
const DEFAULT_SCHEDULER: &str = "wlc";
/// `DEF_MCAST_IFN`.
const DEFAULT_MCAST_IFN: &str = "eth0";

/// Why an `ipvsadm` command line was refused. The messages are ipvsadm
/// 1.31's, with the offending text added where ipvsadm names none
/// (`illegal weight specified: `x'`); host names, which lvskit does not
/// resolve, have their own.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ArgsError {
    /// The first option is not a command (`-A`, `-a`, `-L` ...), or is
    /// not an option at all (ipvsadm exits with 255).
    #[error("Try `ipvsadm -h' or 'ipvsadm --help' for more information.")]
    TryHelp,
    /// An option ipvsadm does not have (exit 255).
    #[error("{0}: unknown option")]
    UnknownOption(String),
    /// An option that takes a value was last (exit 255).
    #[error("{0}: missing argument")]
    MissingArgument(String),
    /// `--numeric=3` and the like (exit 255).
    #[error("{0}: option does not take an argument")]
    UnwantedArgument(String),
    /// A command after the first option (a second command, or `-h`).
    #[error("invalid option `{0}'")]
    InvalidOption(String),
    /// The same option twice.
    #[error("multiple '{0}' options specified")]
    Duplicate(&'static str),
    /// An option the command does not take.
    #[error("Illegal '{option}' option with the '{command}' command")]
    Illegal {
        /// The option's name.
        option: &'static str,
        /// The command's name.
        command: &'static str,
    },
    /// An option the command needs.
    #[error("You need to supply the '{option}' option for the '{command}' command")]
    Required {
        /// The option's name.
        option: &'static str,
        /// The command's name.
        command: &'static str,
    },
    /// Two options that exclude each other.
    #[error("The option '{option}' conflicts with the '{other}' option in the '{command}' command")]
    Conflict {
        /// The later option.
        option: &'static str,
        /// The earlier one.
        other: &'static str,
        /// The command.
        command: &'static str,
    },
    /// `-t`/`-u`/`--sctp-service` with something that is not `ADDR[:PORT]`.
    #[error("illegal virtual server address[:port] specified: `{0}'")]
    ServiceAddress(String),
    /// `-r` with something that is not `ADDR[:PORT]`.
    #[error("illegal real server address[:port] specified: `{0}'")]
    ServerAddress(String),
    /// A host name where lvskit needs an address (ipvsadm would ask DNS).
    #[error("`{0}' is a host name; lvskit does not resolve host names")]
    HostName(String),
    /// `-p` or `--set` with a bad number of seconds.
    #[error("invalid timeout value `{0}' specified")]
    Timeout(String),
    /// `-f` with a bad mark.
    #[error("invalid fwmark value `{0}' specified")]
    Fwmark(String),
    /// A number out of range (`what` names it: weight, u_threshold ...).
    #[error("illegal {what} specified: `{value}'")]
    Number {
        /// What the number is.
        what: &'static str,
        /// The text given.
        value: String,
    },
    /// `-M` with a bad mask.
    #[error("illegal virtual server persistent mask specified: `{0}'")]
    Netmask(String),
    /// `-M` with a bad prefix length on an IPv6 service.
    #[error("illegal ipv6 netmask specified: `{0}'")]
    Ipv6Netmask(String),
    /// `-6` before `-f`.
    #[error("-6 used before -f")]
    Ipv6BeforeFwmark,
    /// A scheduler flag the scheduler does not take.
    #[error("incompatible scheduler flag `{0}'")]
    IncompatibleFlag(String),
    /// An unknown scheduler flag.
    #[error("invalid scheduler flag `{0}'")]
    SchedFlag(String),
    /// `--tun-type` with an unknown type.
    #[error("illegal tunnel type specified: `{0}'")]
    TunnelType(String),
    /// Tunnel options on a real server that is not `-i` (tunnelled).
    #[error("Tunnel options conflict with forward method")]
    TunnelForward,
    /// A tunnel option the tunnel type needs (`--tun-port` for `gue`).
    #[error("You need to supply the '{option}' option for the '{kind}' tunnel type")]
    TunnelRequired {
        /// The option's name.
        option: &'static str,
        /// `ipip`, `gue` or `gre`.
        kind: &'static str,
    },
    /// A tunnel option the tunnel type does not take.
    #[error("Illegal '{option}' option with the '{kind}' tunnel type")]
    TunnelIllegal {
        /// The option's name.
        option: &'static str,
        /// `ipip`, `gue` or `gre`.
        kind: &'static str,
    },
    /// Two checksum options.
    #[error("The option '{option}' conflicts with the '{other}' option in the '{kind}' tunnel type")]
    TunnelConflict {
        /// The later option (in ipvsadm's option order).
        option: &'static str,
        /// The earlier one.
        other: &'static str,
        /// `ipip`, `gue` or `gre`.
        kind: &'static str,
    },
    /// `--mcast-group` with something that is not a multicast address of
    /// the family it looks like (IPv6 when it holds a `:`).
    #[error("invalid IPv{} mcast-group `{value}'", if *.v6 { 6 } else { 4 })]
    McastGroup {
        /// Whether it was read as IPv6.
        v6: bool,
        /// The text given.
        value: String,
    },
    /// Port 0 on a service that is not persistent.
    #[error("Zero port specified for non-persistent service")]
    ZeroPort,
    /// `-o` on a TCP or SCTP service.
    #[error("One-Packet Scheduling is only for UDP virtual services")]
    OpsNotUdp,
    /// `--set` without three values.
    #[error("--set option requires 3 timeout values")]
    SetNeedsThree,
    /// A word that is not an option.
    #[error("unexpected argument {0}")]
    Unexpected(String),
    /// Listing options that cannot go together (`--timeout` with `--stats`
    /// ...).
    #[error("options conflicts in the list command")]
    ListConflict,
    /// `--start-daemon`/`--stop-daemon` without `master` or `backup`.
    #[error("illegal start-daemon parameter specified: `{0}'")]
    DaemonState(String),
}

impl ArgsError {
    /// The exit code ipvsadm 1.31 ends with: 255 when popt could not read
    /// the command line (`TryHelp`, unknown option, missing or unwanted
    /// value), 2 for everything else.
    pub fn exit_code(&self) -> u8 {
        match self {
            ArgsError::TryHelp
            | ArgsError::UnknownOption(_)
            | ArgsError::MissingArgument(_)
            | ArgsError::UnwantedArgument(_) => 255,
            _ => 2,
        }
    }
}

/// An error with the index of the argument it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Located {
    pub(crate) arg: usize,
    pub(crate) error: ArgsError,
}

fn at(arg: usize, error: ArgsError) -> Located {
    Located { arg, error }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cmd {
    Add,
    Edit,
    Del,
    Flush,
    List,
    AddDest,
    DelDest,
    EditDest,
    Timeout,
    StartDaemon,
    StopDaemon,
    Restore,
    Save,
    Zero,
    Help,
    Version,
}

impl Cmd {
    fn name(self) -> &'static str {
        match self {
            Cmd::Add => "add-service",
            Cmd::Edit => "edit-service",
            Cmd::Del => "delete-service",
            Cmd::Flush => "flush",
            Cmd::List => "list",
            Cmd::AddDest => "add-server",
            Cmd::DelDest => "delete-server",
            Cmd::EditDest => "edit-server",
            Cmd::Timeout => "set",
            Cmd::StartDaemon => "start-daemon",
            Cmd::StopDaemon => "stop-daemon",
            Cmd::Restore => "restore",
            Cmd::Save => "save",
            Cmd::Zero => "zero",
            Cmd::Help => "help",
            Cmd::Version => "version",
        }
    }
}

// Option bits, in `generic_opt_check`'s order (ipvsadm 1.31's, as its
// messages show when two illegal options are given).
const OPT_NUMERIC: u64 = 1 << 0;
const OPT_CONNECTION: u64 = 1 << 1;
const OPT_SERVICE: u64 = 1 << 2;
const OPT_SCHEDULER: u64 = 1 << 3;
const OPT_PERSISTENT: u64 = 1 << 4;
const OPT_NETMASK: u64 = 1 << 5;
const OPT_SERVER: u64 = 1 << 6;
const OPT_FORWARD: u64 = 1 << 7;
const OPT_WEIGHT: u64 = 1 << 8;
const OPT_UTHRESHOLD: u64 = 1 << 9;
const OPT_LTHRESHOLD: u64 = 1 << 10;
const OPT_MCAST: u64 = 1 << 11;
const OPT_TIMEOUT: u64 = 1 << 12;
const OPT_DAEMON: u64 = 1 << 13;
const OPT_STATS: u64 = 1 << 14;
const OPT_RATE: u64 = 1 << 15;
const OPT_THRESHOLDS: u64 = 1 << 16;
const OPT_PERSISTENTCONN: u64 = 1 << 17;
const OPT_NOSORT: u64 = 1 << 18;
const OPT_SYNCID: u64 = 1 << 19;
const OPT_EXACT: u64 = 1 << 20;
const OPT_ONEPACKET: u64 = 1 << 21;
const OPT_PE: u64 = 1 << 22;
const OPT_SCHED_FLAGS: u64 = 1 << 23;
const OPT_MCAST_GROUP: u64 = 1 << 24;
const OPT_MCAST_PORT: u64 = 1 << 25;
const OPT_MCAST_TTL: u64 = 1 << 26;
const OPT_SYNC_MAXLEN: u64 = 1 << 27;
const OPT_TUN_TYPE: u64 = 1 << 28;
const OPT_TUN_PORT: u64 = 1 << 29;
const OPT_TUN_NOCSUM: u64 = 1 << 30;
const OPT_TUN_CSUM: u64 = 1 << 31;
const OPT_TUN_REMCSUM: u64 = 1 << 32;
const NUMBER_OF_OPT: usize = 33;

const OPT_NAMES: [&str; NUMBER_OF_OPT] = [
    "numeric",
    "connection",
    "service-address",
    "scheduler",
    "persistent",
    "netmask",
    "real-server",
    "forwarding-method",
    "weight",
    "u-threshold",
    "l-threshold",
    "mcast-interface",
    "timeout",
    "daemon",
    "stats",
    "rate",
    "thresholds",
    "persistent-conn",
    "nosort",
    "syncid",
    "exact",
    "ops",
    "pe",
    "sched-flags",
    "mcast-group",
    "mcast-port",
    "mcast-ttl",
    "sync-maxlen",
    "tun-type",
    "tun-port",
    "tun-nocsum",
    "tun-csum",
    "tun-remcsum",
];

fn opt_name(bit: u64) -> &'static str {
    OPT_NAMES[bit.trailing_zeros() as usize]
}

/// `commands_v_options`: `+` compulsory, `x` illegal, `1` exclusive, ` `
/// optional.
fn legality(cmd: Cmd) -> &'static [u8; NUMBER_OF_OPT] {
    //                      -n -c sv -s -p -M -r fw -w -x -y mc to dm st rt th pc ns si ex op pe -b mg mp mt ml tt tp tn tc tr
    match cmd {
        Cmd::Add | Cmd::Edit => b"xx+   xxxxxxxxxxxxxxx   xxxxxxxxx",
        Cmd::Del => b"xx+xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        Cmd::List => b" 11xxxxxxxxx11       xxxxxxxxxxxx",
        Cmd::AddDest | Cmd::EditDest => b"xx+xxx+    xxxxxxxxxxxxxxxxx     ",
        Cmd::DelDest => b"xx+xxx+xxxxxxxxxxxxxxxxxxxxxxxxxx",
        Cmd::StartDaemon => b"xxxxxxxxxxx xxxxxxx xxxx    xxxxx",
        Cmd::StopDaemon => b"xxxxxxxxxxxxxxxxxxx xxxxxxxxxxxxx",
        Cmd::Save => b" xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        Cmd::Zero => b"xx xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        Cmd::Flush | Cmd::Timeout | Cmd::Restore | Cmd::Help | Cmd::Version => b"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    }
}

/// How an option is spelled and what it takes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Arg {
    None,
    Required,
    Optional,
}

struct OptSpec {
    short: Option<char>,
    long: &'static str,
    arg: Arg,
}

/// The options that are commands (`set_command`).
const COMMANDS: &[&str] = &[
    "add-service",
    "edit-service",
    "delete-service",
    "add-server",
    "edit-server",
    "delete-server",
    "clear",
    "list",
    "zero",
    "set",
    "restore",
    "save",
    "start-daemon",
    "stop-daemon",
    "help",
    "version",
];

const OPTIONS: &[OptSpec] = &[
    OptSpec { short: Some('A'), long: "add-service", arg: Arg::None },
    OptSpec { short: Some('E'), long: "edit-service", arg: Arg::None },
    OptSpec { short: Some('D'), long: "delete-service", arg: Arg::None },
    OptSpec { short: Some('C'), long: "clear", arg: Arg::None },
    OptSpec { short: Some('L'), long: "list", arg: Arg::None },
    OptSpec { short: Some('l'), long: "list", arg: Arg::None },
    OptSpec { short: Some('Z'), long: "zero", arg: Arg::None },
    OptSpec { short: Some('a'), long: "add-server", arg: Arg::None },
    OptSpec { short: Some('e'), long: "edit-server", arg: Arg::None },
    OptSpec { short: Some('d'), long: "delete-server", arg: Arg::None },
    OptSpec { short: None, long: "set", arg: Arg::None },
    OptSpec { short: Some('h'), long: "help", arg: Arg::None },
    OptSpec { short: Some('v'), long: "version", arg: Arg::None },
    OptSpec { short: Some('R'), long: "restore", arg: Arg::None },
    OptSpec { short: Some('S'), long: "save", arg: Arg::None },
    OptSpec { short: None, long: "start-daemon", arg: Arg::Required },
    OptSpec { short: None, long: "stop-daemon", arg: Arg::Required },
    OptSpec { short: Some('t'), long: "tcp-service", arg: Arg::Required },
    OptSpec { short: Some('u'), long: "udp-service", arg: Arg::Required },
    OptSpec { short: None, long: "sctp-service", arg: Arg::Required },
    OptSpec { short: Some('f'), long: "fwmark-service", arg: Arg::Required },
    OptSpec { short: Some('s'), long: "scheduler", arg: Arg::Required },
    OptSpec { short: Some('p'), long: "persistent", arg: Arg::Optional },
    OptSpec { short: Some('M'), long: "netmask", arg: Arg::Required },
    OptSpec { short: Some('r'), long: "real-server", arg: Arg::Required },
    OptSpec { short: Some('m'), long: "masquerading", arg: Arg::None },
    OptSpec { short: Some('i'), long: "ipip", arg: Arg::None },
    OptSpec { short: Some('g'), long: "gatewaying", arg: Arg::None },
    OptSpec { short: Some('w'), long: "weight", arg: Arg::Required },
    OptSpec { short: Some('x'), long: "u-threshold", arg: Arg::Required },
    OptSpec { short: Some('y'), long: "l-threshold", arg: Arg::Required },
    OptSpec { short: Some('n'), long: "numeric", arg: Arg::None },
    OptSpec { short: Some('c'), long: "connection", arg: Arg::None },
    OptSpec { short: None, long: "mcast-interface", arg: Arg::Required },
    OptSpec { short: None, long: "syncid", arg: Arg::Required },
    OptSpec { short: None, long: "sync-maxlen", arg: Arg::Required },
    OptSpec { short: None, long: "mcast-group", arg: Arg::Required },
    OptSpec { short: None, long: "mcast-port", arg: Arg::Required },
    OptSpec { short: None, long: "mcast-ttl", arg: Arg::Required },
    OptSpec { short: None, long: "timeout", arg: Arg::None },
    OptSpec { short: None, long: "daemon", arg: Arg::None },
    OptSpec { short: None, long: "stats", arg: Arg::None },
    OptSpec { short: None, long: "rate", arg: Arg::None },
    OptSpec { short: None, long: "thresholds", arg: Arg::None },
    OptSpec { short: None, long: "persistent-conn", arg: Arg::None },
    OptSpec { short: None, long: "nosort", arg: Arg::None },
    OptSpec { short: None, long: "sort", arg: Arg::None },
    OptSpec { short: Some('X'), long: "exact", arg: Arg::None },
    OptSpec { short: Some('6'), long: "ipv6", arg: Arg::None },
    OptSpec { short: Some('o'), long: "ops", arg: Arg::None },
    OptSpec { short: None, long: "pe", arg: Arg::Required },
    OptSpec { short: Some('b'), long: "sched-flags", arg: Arg::Required },
    OptSpec { short: None, long: "tun-type", arg: Arg::Required },
    OptSpec { short: None, long: "tun-port", arg: Arg::Required },
    OptSpec { short: None, long: "tun-nocsum", arg: Arg::None },
    OptSpec { short: None, long: "tun-csum", arg: Arg::None },
    OptSpec { short: None, long: "tun-remcsum", arg: Arg::None },
];

/// One option as popt hands it over: its long name, its value, and the
/// argument it came from.
struct Token<'a> {
    long: &'static str,
    value: Option<&'a str>,
    arg: usize,
    /// The word as typed (`-LA` for the `A` of a cluster).
    typed: &'a str,
}

/// What popt made of a command line: the options up to the first one it
/// could not read, the other words, and that error (ipvsadm acts on the
/// options before it reports it).
struct Tokens<'a> {
    options: Vec<Token<'a>>,
    positional: Vec<(usize, &'a str)>,
    error: Option<Located>,
}

/// popt's splitting: `-Ln` is `-L -n`, `-srr` is `-s rr`, `--scheduler=rr`
/// and `--scheduler rr` are the same, an optional value (`-p`) is taken from
/// the next word unless it starts with `-`. Words that are not options are
/// positional.
fn tokenize<'a>(args: &[&'a str]) -> Tokens<'a> {
    let mut out = Vec::new();
    let mut positional = Vec::new();
    let mut i = 0;
    macro_rules! fail {
        ($arg:expr, $e:expr) => {
            return Tokens { options: out, positional, error: Some(at($arg, $e)) }
        };
    }
    while i < args.len() {
        let a = args[i];
        if let Some(long) = a.strip_prefix("--") {
            if long.is_empty() {
                positional.extend(args[i + 1..].iter().enumerate().map(|(k, s)| (i + 1 + k, *s)));
                break;
            }
            let (name, inline) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (long, None),
            };
            let Some(spec) = OPTIONS.iter().find(|o| o.long == name) else {
                fail!(i, ArgsError::UnknownOption(a.to_owned()))
            };
            let value = match spec.arg {
                Arg::None if inline.is_some() => fail!(i, ArgsError::UnwantedArgument(a.to_owned())),
                Arg::None => None,
                Arg::Required => match inline {
                    Some(v) => Some(v),
                    None => {
                        i += 1;
                        match args.get(i) {
                            Some(v) => Some(*v),
                            None => fail!(i - 1, ArgsError::MissingArgument(a.to_owned())),
                        }
                    }
                },
                Arg::Optional => match inline {
                    Some(v) => Some(v),
                    None => match args.get(i + 1) {
                        Some(v) if !v.starts_with('-') => {
                            i += 1;
                            Some(*v)
                        }
                        _ => None,
                    },
                },
            };
            out.push(Token { long: spec.long, value, arg: i, typed: a });
            i += 1;
            continue;
        }
        if a.len() > 1 && a.starts_with('-') {
            let chars: Vec<char> = a[1..].chars().collect();
            let mut k = 0;
            while k < chars.len() {
                let c = chars[k];
                let Some(spec) = OPTIONS.iter().find(|o| o.short == Some(c)) else {
                    fail!(i, ArgsError::UnknownOption(a.to_owned()))
                };
                let rest: String = chars[k + 1..].iter().collect();
                let value = match spec.arg {
                    Arg::None => None,
                    Arg::Required => {
                        if !rest.is_empty() {
                            let v = &a[a.len() - rest.len()..];
                            out.push(Token { long: spec.long, value: Some(v), arg: i, typed: a });
                            break;
                        }
                        i += 1;
                        match args.get(i) {
                            Some(v) => Some(*v),
                            None => fail!(i - 1, ArgsError::MissingArgument(a.to_owned())),
                        }
                    }
                    Arg::Optional => {
                        if !rest.is_empty() {
                            let v = &a[a.len() - rest.len()..];
                            out.push(Token { long: spec.long, value: Some(v), arg: i, typed: a });
                            break;
                        }
                        match args.get(i + 1) {
                            Some(v) if !v.starts_with('-') => {
                                i += 1;
                                Some(*v)
                            }
                            _ => None,
                        }
                    }
                };
                out.push(Token { long: spec.long, value, arg: i, typed: a });
                k += 1;
            }
            i += 1;
            continue;
        }
        positional.push((i, a));
        i += 1;
    }
    Tokens { options: out, positional, error: None }
}

/// `string_to_number`: a decimal `strtol` that must use the whole word and
/// fall in `min..=max`.
fn number(s: &str, min: i64, max: i64) -> Option<i64> {
    let t = s.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    let (neg, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let v: i64 = digits.parse().ok()?;
    let v = if neg { -v } else { v };
    (min <= v && v <= max).then_some(v)
}

/// A name DNS could answer for: letters, digits, `-`, `_` and dots, with a
/// last label that is not all digits.
fn is_host_name(s: &str) -> bool {
    let last = s.trim_end_matches('.').rsplit('.').next().unwrap_or("");
    !s.is_empty()
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && last.bytes().any(|b| b.is_ascii_alphabetic())
}

/// `inet_aton`: one to four parts, each decimal, octal (leading `0`) or hex
/// (`0x`), the last part filling the remaining bytes (`10.1` is
/// `10.0.0.1`).
pub fn inet_aton(s: &str) -> Option<Ipv4Addr> {
    if s.is_empty() {
        return None;
    }
    let parts: Vec<&str> = s.split('.').collect();
    if parts.len() > 4 {
        return None;
    }
    let mut vals = Vec::with_capacity(4);
    for p in &parts {
        let v = if let Some(h) = p.strip_prefix("0x").or_else(|| p.strip_prefix("0X")) {
            if h.is_empty() { 0 } else { u64::from_str_radix(h, 16).ok()? }
        } else if p.len() > 1 && p.starts_with('0') {
            u64::from_str_radix(&p[1..], 8).ok()?
        } else {
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            p.parse::<u64>().ok()?
        };
        vals.push(v);
    }
    let n = vals.len();
    let last_bits = 8 * (5 - n as u32);
    for v in &vals[..n - 1] {
        if *v > 255 {
            return None;
        }
    }
    if vals[n - 1] >= 1u64 << last_bits.min(32) && last_bits < 64 {
        return None;
    }
    let mut addr: u32 = 0;
    for (k, v) in vals[..n - 1].iter().enumerate() {
        addr |= (*v as u32) << (24 - 8 * k as u32);
    }
    addr |= vals[n - 1] as u32;
    Some(Ipv4Addr::from(addr))
}

/// `parse_service`: `ADDR`, `ADDR:PORT`, `[V6ADDR]:PORT` or a bare IPv6
/// address; the port as a number or a service name. Returns the address
/// and the port if one was given.
fn parse_addr_port(s: &str, proto: Protocol) -> Result<(IpAddr, Option<u16>), ArgsError> {
    if s.is_empty() || s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ArgsError::ServiceAddress(s.to_owned()));
    }
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let Some((h, p)) = rest.split_once(']') else { return Err(ArgsError::ServiceAddress(s.to_owned())) };
        let Some(p) = p.strip_prefix(':') else { return Err(ArgsError::ServiceAddress(s.to_owned())) };
        (h, Some(p))
    } else if s.parse::<Ipv6Addr>().is_ok() {
        (s, None)
    } else {
        match s.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        }
    };
    let addr = if let Ok(a) = host.parse::<Ipv6Addr>() {
        IpAddr::V6(a)
    } else if let Some(a) = inet_aton(host) {
        if s.starts_with('[') {
            return Err(ArgsError::ServiceAddress(s.to_owned()));
        }
        IpAddr::V4(a)
    } else if is_host_name(host) {
        return Err(ArgsError::HostName(host.to_owned()));
    } else {
        // What no resolver would find (`192.0.2.300`, `a b`): ipvsadm's
        // lookup fails the same way.
        return Err(ArgsError::ServiceAddress(s.to_owned()));
    };
    let port = match port {
        None => None,
        Some(p) => match number(p, 0, 65535) {
            Some(v) => Some(v as u16),
            None => match services::port_of(p, proto_name(proto)) {
                Some(v) => Some(v),
                None => return Err(ArgsError::ServiceAddress(s.to_owned())),
            },
        },
    };
    Ok((addr, port))
}

/// Reads one `ipvsadm` command line (without the program name).
pub fn parse_args(args: &[&str]) -> Result<Command, ArgsError> {
    parse_located(args).map_err(|l| l.error)
}

pub(crate) fn parse_located(args: &[&str]) -> Result<Command, Located> {
    // `ipvsadm` alone lists the table.
    if args.is_empty() {
        return Ok(Command::List(ListOptions::default()));
    }
    let Tokens { options: tokens, positional, error: popt_error } = tokenize(args);
    // The first option must be the command.
    let Some(first) = tokens.first() else { return Err(at(0, ArgsError::TryHelp)) };
    if !COMMANDS.contains(&first.long) {
        return Err(at(first.arg, ArgsError::TryHelp));
    }
    match first.long {
        "help" => return Ok(Command::Help),
        "version" => return Ok(Command::Version),
        _ => {}
    }
    let mut cmd: Option<(Cmd, usize)> = None;
    let mut options: u64 = 0;
    let set_cmd = |cmd: &mut Option<(Cmd, usize)>, c: Cmd, t: &Token<'_>| -> Result<(), Located> {
        if cmd.is_some() {
            return Err(at(t.arg, ArgsError::InvalidOption(t.typed.to_owned())));
        }
        *cmd = Some((c, t.arg));
        Ok(())
    };
    let set_opt = |options: &mut u64, bit: u64, arg: usize| -> Result<(), Located> {
        if *options & bit != 0 {
            return Err(at(arg, ArgsError::Duplicate(opt_name(bit))));
        }
        *options |= bit;
        Ok(())
    };
    // What the command line describes, with ipvsadm's defaults.
    let mut proto = Protocol::Tcp;
    let mut svc_addr: Option<(IpAddr, u16)> = None;
    let mut fwmark: Option<(u32, Family)> = None;
    let mut scheduler: Option<String> = None;
    let mut persistent: Option<u32> = None;
    let mut netmask: Option<PersistMask> = None;
    let mut pe: Option<String> = None;
    let mut flags = ServiceFlags::EMPTY;
    let mut sched_flags: Option<(String, usize)> = None;
    let mut dest: Option<(IpAddr, Option<u16>)> = None;
    let mut forward = ForwardMethod::Route;
    let mut tun = TunnelParams::default();
    // The tunnel options given, and where.
    let mut tun_args: Vec<(u64, usize)> = Vec::new();
    let mut weight: u32 = 1;
    let mut upper: u32 = 0;
    let mut lower: u32 = 0;
    let mut daemon_role: Option<DaemonRole> = None;
    let mut daemon = DaemonConfig {
        role: DaemonRole::Master,
        mcast_ifn: String::new(),
        sync_id: 0,
        sync_maxlen: 0,
        mcast_group: None,
        mcast_port: 0,
        mcast_ttl: 0,
    };
    let mut list = ListOptions::default();
    for t in &tokens {
        let v = t.value.unwrap_or("");
        match t.long {
            "add-service" => set_cmd(&mut cmd, Cmd::Add, t)?,
            "edit-service" => set_cmd(&mut cmd, Cmd::Edit, t)?,
            "delete-service" => set_cmd(&mut cmd, Cmd::Del, t)?,
            "add-server" => set_cmd(&mut cmd, Cmd::AddDest, t)?,
            "edit-server" => set_cmd(&mut cmd, Cmd::EditDest, t)?,
            "delete-server" => set_cmd(&mut cmd, Cmd::DelDest, t)?,
            "clear" => set_cmd(&mut cmd, Cmd::Flush, t)?,
            "list" => set_cmd(&mut cmd, Cmd::List, t)?,
            "zero" => set_cmd(&mut cmd, Cmd::Zero, t)?,
            "set" => set_cmd(&mut cmd, Cmd::Timeout, t)?,
            "restore" => set_cmd(&mut cmd, Cmd::Restore, t)?,
            "save" => set_cmd(&mut cmd, Cmd::Save, t)?,
            "help" => set_cmd(&mut cmd, Cmd::Help, t)?,
            "version" => set_cmd(&mut cmd, Cmd::Version, t)?,
            "start-daemon" | "stop-daemon" => {
                set_cmd(&mut cmd, if t.long == "start-daemon" { Cmd::StartDaemon } else { Cmd::StopDaemon }, t)?;
                daemon_role = Some(match v {
                    "master" => DaemonRole::Master,
                    "backup" => DaemonRole::Backup,
                    _ => return Err(at(t.arg, ArgsError::DaemonState(v.to_owned()))),
                });
            }
            "tcp-service" | "udp-service" | "sctp-service" => {
                set_opt(&mut options, OPT_SERVICE, t.arg)?;
                proto = match t.long {
                    "tcp-service" => Protocol::Tcp,
                    "udp-service" => Protocol::Udp,
                    _ => Protocol::Sctp,
                };
                let (a, p) = parse_addr_port(v, proto).map_err(|e| at(t.arg, e))?;
                svc_addr = Some((a, p.unwrap_or(0)));
            }
            "fwmark-service" => {
                set_opt(&mut options, OPT_SERVICE, t.arg)?;
                proto = Protocol::Tcp;
                let m = number(v, 1, u32::MAX as i64).ok_or_else(|| at(t.arg, ArgsError::Fwmark(v.to_owned())))?;
                fwmark = Some((m as u32, Family::V4));
            }
            "ipv6" => match &mut fwmark {
                Some(f) => f.1 = Family::V6,
                None => return Err(at(t.arg, ArgsError::Ipv6BeforeFwmark)),
            },
            "scheduler" => {
                set_opt(&mut options, OPT_SCHEDULER, t.arg)?;
                scheduler = Some(v.chars().take(15).collect());
            }
            "persistent" => {
                set_opt(&mut options, OPT_PERSISTENT, t.arg)?;
                persistent = Some(match t.value {
                    None => DEFAULT_PERSISTENCE,
                    Some(s) => number(s, 1, MAX_TIMEOUT as i64)
                        .ok_or_else(|| at(t.arg, ArgsError::Timeout(s.to_owned())))?
                        as u32,
                });
            }
            "netmask" => {
                set_opt(&mut options, OPT_NETMASK, t.arg)?;
                // The family is the one known when -M is read.
                let v6 = svc_addr.is_some_and(|(a, _)| a.is_ipv6()) || fwmark.is_some_and(|f| f.1 == Family::V6);
                netmask = Some(if v6 {
                    let n = atoi(v);
                    if !(1..=128).contains(&n) {
                        return Err(at(t.arg, ArgsError::Ipv6Netmask(v.to_owned())));
                    }
                    PersistMask::V6(n as u8)
                } else {
                    PersistMask::V4(inet_aton(v).ok_or_else(|| at(t.arg, ArgsError::Netmask(v.to_owned())))?)
                });
            }
            "pe" => {
                set_opt(&mut options, OPT_PE, t.arg)?;
                pe = Some(v.chars().take(15).collect());
            }
            "sched-flags" => {
                set_opt(&mut options, OPT_SCHED_FLAGS, t.arg)?;
                sched_flags = Some((v.to_owned(), t.arg));
            }
            "real-server" => {
                set_opt(&mut options, OPT_SERVER, t.arg)?;
                let (a, p) = parse_addr_port(v, proto).map_err(|e| {
                    at(
                        t.arg,
                        match e {
                            ArgsError::ServiceAddress(s) => ArgsError::ServerAddress(s),
                            other => other,
                        },
                    )
                })?;
                dest = Some((a, p));
            }
            "gatewaying" | "ipip" | "masquerading" => {
                set_opt(&mut options, OPT_FORWARD, t.arg)?;
                forward = match t.long {
                    "gatewaying" => ForwardMethod::Route,
                    "ipip" => ForwardMethod::Tunnel(TunnelParams::default()),
                    _ => ForwardMethod::Masq,
                };
            }
            "weight" => {
                set_opt(&mut options, OPT_WEIGHT, t.arg)?;
                weight = number(v, 0, i32::MAX as i64)
                    .ok_or_else(|| at(t.arg, ArgsError::Number { what: "weight", value: v.to_owned() }))?
                    as u32;
            }
            "u-threshold" => {
                set_opt(&mut options, OPT_UTHRESHOLD, t.arg)?;
                upper = number(v, 0, i32::MAX as i64)
                    .ok_or_else(|| at(t.arg, ArgsError::Number { what: "u_threshold", value: v.to_owned() }))?
                    as u32;
            }
            "l-threshold" => {
                set_opt(&mut options, OPT_LTHRESHOLD, t.arg)?;
                lower = number(v, 0, i32::MAX as i64)
                    .ok_or_else(|| at(t.arg, ArgsError::Number { what: "l_threshold", value: v.to_owned() }))?
                    as u32;
            }
            "tun-type" => {
                set_opt(&mut options, OPT_TUN_TYPE, t.arg)?;
                tun_args.push((OPT_TUN_TYPE, t.arg));
                tun.kind = match v {
                    "ipip" => TunnelKind::Ipip,
                    "gue" => TunnelKind::Gue,
                    "gre" => TunnelKind::Gre,
                    _ => return Err(at(t.arg, ArgsError::TunnelType(v.to_owned()))),
                };
            }
            "tun-port" => {
                set_opt(&mut options, OPT_TUN_PORT, t.arg)?;
                tun_args.push((OPT_TUN_PORT, t.arg));
                tun.port = number(v, 1, 65535)
                    .ok_or_else(|| at(t.arg, ArgsError::Number { what: "tunnel port", value: v.to_owned() }))?
                    as u16;
            }
            "tun-nocsum" | "tun-csum" | "tun-remcsum" => {
                let (bit, csum) = match t.long {
                    "tun-nocsum" => (OPT_TUN_NOCSUM, TunnelCsum::NoCsum),
                    "tun-csum" => (OPT_TUN_CSUM, TunnelCsum::Csum),
                    _ => (OPT_TUN_REMCSUM, TunnelCsum::RemCsum),
                };
                set_opt(&mut options, bit, t.arg)?;
                tun_args.push((bit, t.arg));
                tun.csum = csum;
            }
            "numeric" => {
                set_opt(&mut options, OPT_NUMERIC, t.arg)?;
                list.numeric = true;
            }
            "connection" => {
                set_opt(&mut options, OPT_CONNECTION, t.arg)?;
                list.connections = true;
            }
            "mcast-interface" => {
                set_opt(&mut options, OPT_MCAST, t.arg)?;
                daemon.mcast_ifn = v.chars().take(15).collect();
            }
            "syncid" => {
                set_opt(&mut options, OPT_SYNCID, t.arg)?;
                daemon.sync_id = number(v, 0, 255)
                    .ok_or_else(|| at(t.arg, ArgsError::Number { what: "syncid", value: v.to_owned() }))?
                    as u32;
            }
            "sync-maxlen" => {
                set_opt(&mut options, OPT_SYNC_MAXLEN, t.arg)?;
                daemon.sync_maxlen = number(v, 1, 65535 - 20 - 8)
                    .ok_or_else(|| at(t.arg, ArgsError::Number { what: "sync-maxlen", value: v.to_owned() }))?
                    as u16;
            }
            "mcast-group" => {
                set_opt(&mut options, OPT_MCAST_GROUP, t.arg)?;
                let v6 = v.contains(':');
                let a = if v6 {
                    v.parse::<Ipv6Addr>().ok().map(IpAddr::V6)
                } else {
                    v.parse::<Ipv4Addr>().ok().map(IpAddr::V4)
                }
                .filter(IpAddr::is_multicast)
                .ok_or_else(|| at(t.arg, ArgsError::McastGroup { v6, value: v.to_owned() }))?;
                daemon.mcast_group = Some(a);
            }
            "mcast-port" => {
                set_opt(&mut options, OPT_MCAST_PORT, t.arg)?;
                daemon.mcast_port = number(v, 1, 65535)
                    .ok_or_else(|| at(t.arg, ArgsError::Number { what: "mcast-port", value: v.to_owned() }))?
                    as u16;
            }
            "mcast-ttl" => {
                set_opt(&mut options, OPT_MCAST_TTL, t.arg)?;
                daemon.mcast_ttl = number(v, 1, 255)
                    .ok_or_else(|| at(t.arg, ArgsError::Number { what: "mcast-ttl", value: v.to_owned() }))?
                    as u8;
            }
            "timeout" => {
                set_opt(&mut options, OPT_TIMEOUT, t.arg)?;
                list.timeout = true;
            }
            "daemon" => {
                set_opt(&mut options, OPT_DAEMON, t.arg)?;
                list.daemon = true;
            }
            "stats" => {
                set_opt(&mut options, OPT_STATS, t.arg)?;
                list.format = ListFormat::Stats;
            }
            "rate" => {
                set_opt(&mut options, OPT_RATE, t.arg)?;
                if list.format == ListFormat::Default {
                    list.format = ListFormat::Rate;
                }
            }
            "thresholds" => {
                set_opt(&mut options, OPT_THRESHOLDS, t.arg)?;
                if list.format == ListFormat::Default {
                    list.format = ListFormat::Thresholds;
                }
            }
            "persistent-conn" => {
                set_opt(&mut options, OPT_PERSISTENTCONN, t.arg)?;
                if list.format == ListFormat::Default {
                    list.format = ListFormat::PersistentConn;
                }
            }
            "nosort" => {
                set_opt(&mut options, OPT_NOSORT, t.arg)?;
                list.nosort = true;
            }
            "sort" => {}
            "exact" => {
                set_opt(&mut options, OPT_EXACT, t.arg)?;
                list.exact = true;
            }
            "ops" => {
                set_opt(&mut options, OPT_ONEPACKET, t.arg)?;
                flags |= ServiceFlags::ONEPACKET;
            }
            other => unreachable!("option {other} has no handler"),
        }
    }
    if let Some(e) = popt_error {
        return Err(e);
    }
    let Some((cmd, cmd_arg)) = cmd else { unreachable!("the first option is a command") };
    // --set takes three positional values.
    let mut positional = positional.into_iter();
    let mut timeouts = Timeouts { tcp: 0, tcp_fin: 0, udp: 0 };
    if cmd == Cmd::Timeout {
        let (Some(a), Some(b), Some(c)) = (positional.next(), positional.next(), positional.next()) else {
            return Err(at(cmd_arg, ArgsError::SetNeedsThree));
        };
        let t = |(i, s): (usize, &str)| {
            number(s, 0, MAX_TIMEOUT as i64).map(|v| v as u32).ok_or_else(|| at(i, ArgsError::Timeout(s.to_owned())))
        };
        timeouts = Timeouts { tcp: t(a)?, tcp_fin: t(b)?, udp: t(c)? };
    }
    if let Some((i, s)) = positional.next() {
        return Err(at(i, ArgsError::Unexpected(s.to_owned())));
    }
    // parse_sched_flags, against the scheduler given (or the default).
    if let Some((text, arg)) = &sched_flags {
        let sched = scheduler.as_deref().filter(|s| !s.is_empty()).unwrap_or(DEFAULT_SCHEDULER);
        flags = flags.without(ServiceFlags::SCHED_FLAGS);
        for name in text.split(',').filter(|n| !n.is_empty()) {
            let bit = match name {
                "sh-fallback" | "sh-port" if sched != "sh" => {
                    return Err(at(*arg, ArgsError::IncompatibleFlag(name.to_owned())));
                }
                "mh-fallback" | "mh-port" if sched != "mh" => {
                    return Err(at(*arg, ArgsError::IncompatibleFlag(name.to_owned())));
                }
                // `ops` is a flag of its own (`-o`), not a `-b` name.
                _ => match ServiceFlags::from_name(name) {
                    Some(bit) if bit != ServiceFlags::ONEPACKET => bit,
                    _ => return Err(at(*arg, ArgsError::SchedFlag(name.to_owned()))),
                },
            };
            flags |= bit;
        }
    }
    // generic_opt_check
    let table = legality(cmd);
    let mut exclusive: Option<u64> = None;
    for (j, rule) in table.iter().enumerate() {
        let bit = 1u64 << j;
        let present = options & bit != 0;
        match (rule, present) {
            (b'+', false) => {
                return Err(at(cmd_arg, ArgsError::Required { option: OPT_NAMES[j], command: cmd.name() }));
            }
            (b'x', true) => return Err(at(cmd_arg, ArgsError::Illegal { option: OPT_NAMES[j], command: cmd.name() })),
            (b'1', true) => {
                if let Some(prev) = exclusive {
                    return Err(at(
                        cmd_arg,
                        ArgsError::Conflict { option: OPT_NAMES[j], other: opt_name(prev), command: cmd.name() },
                    ));
                }
                exclusive = Some(bit);
            }
            _ => {}
        }
    }
    if cmd == Cmd::List
        && ((options & (OPT_CONNECTION | OPT_TIMEOUT | OPT_DAEMON) != 0
            && options & (OPT_STATS | OPT_RATE | OPT_THRESHOLDS) != 0)
            || (options & (OPT_TIMEOUT | OPT_DAEMON) != 0 && options & OPT_PERSISTENTCONN != 0))
    {
        return Err(at(cmd_arg, ArgsError::ListConflict));
    }
    // The tunnel options only go with -i, and with the tunnel type.
    if let Some(&(_, first)) = tun_args.first() {
        if !matches!(forward, ForwardMethod::Tunnel(_)) {
            return Err(at(first, ArgsError::TunnelForward));
        }
        tunnel_opt_check(tun.kind, options, &tun_args)?;
    }
    if let ForwardMethod::Tunnel(_) = forward {
        forward = ForwardMethod::Tunnel(tun);
    }
    let key = || -> ServiceKey {
        match (fwmark, svc_addr) {
            (Some((m, f)), _) => ServiceKey::fwmark(f, m),
            (None, Some((a, p))) => ServiceKey::addr(proto, a, p),
            (None, None) => ServiceKey::fwmark(Family::V4, 0),
        }
    };
    let service = |key: ServiceKey| -> Result<ServiceConfig, Located> {
        let sched = scheduler.clone().filter(|s| !s.is_empty()).unwrap_or_else(|| DEFAULT_SCHEDULER.to_owned());
        let f = flags;
        let persistence = persistent.map(|timeout| Persistence {
            timeout,
            mask: netmask.filter(|m| m.family() == key.family()).unwrap_or(PersistMask::host(key.family())),
        });
        Ok(ServiceConfig { key, scheduler: sched, flags: f, persistence, pe_name: pe.clone() })
    };
    Ok(match cmd {
        Cmd::Add | Cmd::Edit => {
            let k = key();
            if let ServiceKey::Addr { port: 0, .. } = k {
                if persistent.is_none() {
                    return Err(at(cmd_arg, ArgsError::ZeroPort));
                }
            }
            if flags.contains(ServiceFlags::ONEPACKET) && fwmark.is_none() && proto != Protocol::Udp {
                return Err(at(cmd_arg, ArgsError::OpsNotUdp));
            }
            let s = service(k)?;
            Command::Op(if cmd == Cmd::Add { IpvsOp::AddService(s) } else { IpvsOp::EditService(s) })
        }
        Cmd::Del => Command::Op(IpvsOp::DelService(key())),
        Cmd::AddDest | Cmd::EditDest | Cmd::DelDest => {
            let k = key();
            let svc_port = match k {
                ServiceKey::Addr { port, .. } => port,
                ServiceKey::Fwmark { .. } => 0,
            };
            let (a, p) = dest.expect("-r is compulsory");
            let mut port = p.unwrap_or(svc_port);
            // DR and tunnel servers receive on the service's port.
            if cmd != Cmd::DelDest && fwmark.is_none() && !matches!(forward, ForwardMethod::Masq) {
                port = svc_port;
            }
            if cmd == Cmd::DelDest {
                Command::Op(IpvsOp::DelDest(k, SocketAddr::new(a, port)))
            } else {
                let d = DestConfig { addr: a, port, forward, weight, upper_threshold: upper, lower_threshold: lower };
                Command::Op(if cmd == Cmd::AddDest { IpvsOp::AddDest(k, d) } else { IpvsOp::EditDest(k, d) })
            }
        }
        Cmd::Flush => Command::Op(IpvsOp::Flush),
        Cmd::Zero => Command::Op(IpvsOp::Zero((options & OPT_SERVICE != 0).then(key))),
        Cmd::Timeout => Command::Op(IpvsOp::SetTimeouts(timeouts)),
        Cmd::StartDaemon => {
            daemon.role = daemon_role.expect("set with the command");
            if daemon.mcast_ifn.is_empty() {
                daemon.mcast_ifn = DEFAULT_MCAST_IFN.to_owned();
            }
            Command::Op(IpvsOp::StartDaemon(daemon))
        }
        Cmd::StopDaemon => Command::Op(IpvsOp::StopDaemon(daemon_role.expect("set with the command"))),
        Cmd::List => {
            if options & OPT_SERVICE != 0 {
                list.service = Some(key());
            }
            if list.format == ListFormat::Default && options & OPT_RATE != 0 {
                list.format = ListFormat::Rate;
            }
            Command::List(list)
        }
        Cmd::Save => Command::Save { numeric: list.numeric },
        Cmd::Restore => Command::Restore,
        Cmd::Help => Command::Help,
        Cmd::Version => Command::Version,
    })
}

/// `tunnel_types_v_options` and its check, like `generic_opt_check`:
/// `tun-port` is compulsory for `gue` and illegal otherwise; `gue` takes one
/// of the three checksum options, `gre` `tun-nocsum` or `tun-csum`, `ipip`
/// none.
fn tunnel_opt_check(kind: TunnelKind, options: u64, given: &[(u64, usize)]) -> Result<(), Located> {
    let (name, rules): (&'static str, &[u8; 4]) = match kind {
        TunnelKind::Ipip => ("ipip", b"xxxx"),
        TunnelKind::Gue => ("gue", b"+111"),
        TunnelKind::Gre => ("gre", b"x11x"),
    };
    let bits = [OPT_TUN_PORT, OPT_TUN_NOCSUM, OPT_TUN_CSUM, OPT_TUN_REMCSUM];
    let arg_of = |bit: u64| given.iter().find(|g| g.0 == bit).map_or(0, |g| g.1);
    let mut exclusive: Option<u64> = None;
    for (rule, &bit) in rules.iter().zip(&bits) {
        let present = options & bit != 0;
        match (rule, present) {
            (b'+', false) => {
                return Err(at(arg_of(OPT_TUN_TYPE), ArgsError::TunnelRequired { option: opt_name(bit), kind: name }));
            }
            (b'x', true) => {
                return Err(at(arg_of(bit), ArgsError::TunnelIllegal { option: opt_name(bit), kind: name }));
            }
            (b'1', true) => {
                if let Some(prev) = exclusive {
                    return Err(at(
                        arg_of(bit),
                        ArgsError::TunnelConflict { option: opt_name(bit), other: opt_name(prev), kind: name },
                    ));
                }
                exclusive = Some(bit);
            }
            _ => {}
        }
    }
    Ok(())
}

fn atoi(s: &str) -> i64 {
    let t = s.trim_start();
    let (neg, d) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let digits: String = d.chars().take_while(char::is_ascii_digit).take(18).collect();
    let v: i64 = digits.parse().unwrap_or(0);
    if neg { -v } else { v }
}

/// Where a rule file went wrong: 1-based line and column (of the word at
/// fault), the line, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleError {
    /// 1-based line.
    pub line: usize,
    /// 1-based column of the offending word.
    pub column: usize,
    /// The line's text.
    pub text: String,
    /// Why.
    pub error: ArgsError,
}

impl std::fmt::Display for RuleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}, column {}: {} (in `{}`)", self.line, self.column, self.error, self.text)
    }
}

/// Every error of a rule file (`ipvsadm-restore` stops at the first; lvskit
/// reports them all).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct RulesError {
    /// The errors, in line order.
    pub errors: Vec<RuleError>,
}

impl std::fmt::Display for RulesError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

/// Reads an `ipvsadm-save` / `ipvsadm-restore` file: one command per line
/// (`-A ...`, `-a ...`, and any other table-changing command), blank lines
/// and lines starting with `#` skipped. Listing and saving commands are
/// refused (they change nothing).
pub fn parse_rules(text: &str) -> Result<Vec<IpvsOp>, RulesError> {
    let mut ops = Vec::new();
    let mut errors = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        // Words and where they start.
        let mut words: Vec<(usize, &str)> = Vec::new();
        let mut start = None;
        for (i, c) in line.char_indices() {
            if c.is_whitespace() {
                if let Some(s) = start.take() {
                    words.push((s, &line[s..i]));
                }
            } else if start.is_none() {
                start = Some(i);
            }
        }
        if let Some(s) = start {
            words.push((s, &line[s..]));
        }
        let args: Vec<&str> = words.iter().map(|w| w.1).collect();
        let column = |arg: usize| words.get(arg).map_or(1, |w| line[..w.0].chars().count() + 1);
        match parse_located(&args) {
            Ok(Command::Op(op)) => ops.push(op),
            Ok(_) => errors.push(RuleError {
                line: n + 1,
                column: 1,
                text: line.to_owned(),
                error: ArgsError::Unexpected(args.first().copied().unwrap_or("").to_owned()),
            }),
            Err(l) => {
                errors.push(RuleError { line: n + 1, column: column(l.arg), text: line.to_owned(), error: l.error })
            }
        }
    }
    if errors.is_empty() { Ok(ops) } else { Err(RulesError { errors }) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(args: &str) -> IpvsOp {
        match parse_args(&args.split_whitespace().collect::<Vec<_>>()) {
            Ok(Command::Op(o)) => o,
            other => panic!("{args}: {other:?}"),
        }
    }

    fn err(args: &str) -> ArgsError {
        parse_args(&args.split_whitespace().collect::<Vec<_>>()).unwrap_err()
    }

    #[test]
    fn aton_forms() {
        assert_eq!(inet_aton("192.0.2.1"), Some(Ipv4Addr::new(192, 0, 2, 1)));
        assert_eq!(inet_aton("10.1"), Some(Ipv4Addr::new(10, 0, 0, 1)));
        assert_eq!(inet_aton("0x7f.1"), Some(Ipv4Addr::new(127, 0, 0, 1)));
        assert_eq!(inet_aton("010.0.0.1"), Some(Ipv4Addr::new(8, 0, 0, 1)));
        assert_eq!(inet_aton("256.0.0.1"), None);
        assert_eq!(inet_aton("1.2.3.4.5"), None);
        assert_eq!(inet_aton("a.b"), None);
    }

    #[test]
    fn services_and_servers() {
        let IpvsOp::AddService(s) = op("-A -t 192.0.2.1:http -s rr -p -M 255.255.255.0") else { panic!() };
        assert_eq!(s.key, ServiceKey::addr(Protocol::Tcp, "192.0.2.1".parse().unwrap(), 80));
        assert_eq!(
            s.persistence,
            Some(Persistence { timeout: 360, mask: PersistMask::V4(Ipv4Addr::new(255, 255, 255, 0)) })
        );
        let IpvsOp::AddService(s) = op("-A -u [2001:db8::1]:53 -o") else { panic!() };
        assert_eq!((s.scheduler.as_str(), s.flags), ("wlc", ServiceFlags::ONEPACKET));
        let IpvsOp::AddService(s) = op("-A -f 7 -6 -s mh -b mh-port,mh-fallback -p 60 -M 64") else { panic!() };
        assert_eq!(s.key, ServiceKey::fwmark(Family::V6, 7));
        assert_eq!(s.flags, ServiceFlags::SCHED1 | ServiceFlags::SCHED2);
        assert_eq!(s.persistence.unwrap().mask, PersistMask::V6(64));
        // DR forces the service's port; NAT keeps the server's.
        let IpvsOp::AddDest(_, d) = op("-a -t 192.0.2.1:80 -r 198.51.100.1:8080") else { panic!() };
        assert_eq!((d.port, d.forward, d.weight), (80, ForwardMethod::Route, 1));
        let IpvsOp::AddDest(_, d) = op("-a -t 192.0.2.1:80 -r 198.51.100.1:8080 -m -w 0 -x 10 -y 5") else { panic!() };
        assert_eq!(
            (d.port, d.forward, d.weight, d.upper_threshold, d.lower_threshold),
            (8080, ForwardMethod::Masq, 0, 10, 5)
        );
        let IpvsOp::AddDest(_, d) =
            op("-a -t 192.0.2.1:80 -r 198.51.100.1 -i --tun-type gue --tun-port 6080 --tun-csum")
        else {
            panic!()
        };
        assert_eq!(
            d.forward,
            ForwardMethod::Tunnel(TunnelParams { kind: TunnelKind::Gue, port: 6080, csum: TunnelCsum::Csum })
        );
        assert_eq!(op("--set 900 120 300"), IpvsOp::SetTimeouts(Timeouts { tcp: 900, tcp_fin: 120, udp: 300 }));
        assert_eq!(op("-C"), IpvsOp::Flush);
        let IpvsOp::StartDaemon(d) = op("--start-daemon backup --syncid 3") else { panic!() };
        assert_eq!((d.role, d.mcast_ifn.as_str(), d.sync_id), (DaemonRole::Backup, "eth0", 3));
    }

    #[test]
    fn lists_and_clusters() {
        let Ok(Command::List(l)) = parse_args(&["-Ln", "--stats", "--exact"]) else { panic!() };
        assert!(l.numeric && l.exact && l.format == ListFormat::Stats);
        assert_eq!(parse_args(&["-S", "-n"]), Ok(Command::Save { numeric: true }));
        assert_eq!(parse_args(&["-Ssrr"]), Err(ArgsError::Illegal { option: "scheduler", command: "save" }));
    }

    #[test]
    fn errors_like_ipvsadm() {
        assert_eq!(err("-A -t 192.0.2.1:0"), ArgsError::ZeroPort);
        assert_eq!(err("-A -t 192.0.2.1:80 -o"), ArgsError::OpsNotUdp);
        assert_eq!(err("-A -t 192.0.2.1:80 -w 3"), ArgsError::Illegal { option: "weight", command: "add-service" });
        assert_eq!(err("-a -t 192.0.2.1:80"), ArgsError::Required { option: "real-server", command: "add-server" });
        assert_eq!(
            err("-a -t 192.0.2.1:80 -r 198.51.100.1 -w 2147483648"),
            ArgsError::Number { what: "weight", value: "2147483648".into() }
        );
        assert_eq!(err("-A -t 192.0.2.1:80 -s sh -b mh-port"), ArgsError::IncompatibleFlag("mh-port".into()));
        assert_eq!(err("-A -t www.example.com:80"), ArgsError::HostName("www.example.com".into()));
        assert_eq!(err("-A -t 192.0.2.300:80"), ArgsError::ServiceAddress("192.0.2.300:80".into()));
        assert_eq!(err("-A -A -t 192.0.2.1:80"), ArgsError::InvalidOption("-A".into()));
        assert_eq!(err("-t 192.0.2.1:80 -A"), ArgsError::TryHelp);
        assert_eq!(err("-Ln -t").exit_code(), 255);
        assert_eq!(err("-A -6 -f 3"), ArgsError::Ipv6BeforeFwmark);
        assert_eq!(err("--set 1 2"), ArgsError::SetNeedsThree);
        assert_eq!(err("-L --timeout --stats"), ArgsError::ListConflict);
        assert_eq!(
            err("-L --timeout --daemon"),
            ArgsError::Conflict { option: "daemon", other: "timeout", command: "list" }
        );
    }

    #[test]
    fn rule_files_report_every_error_with_its_place() {
        let text = "-A -t 192.0.2.1:80 -s rr\n\n# comment\n-a -t 192.0.2.1:80 -r 198.51.100.1:80 -w 2147483648\n-A -u 192.0.2.2:0\n";
        let e = parse_rules(text).unwrap_err();
        assert_eq!(e.errors.len(), 2);
        assert_eq!((e.errors[0].line, e.errors[0].column), (4, 42));
        assert_eq!((e.errors[1].line, e.errors[1].column), (5, 1));
        assert_eq!(parse_rules("-A -t 192.0.2.1:80 -s rr\n").unwrap().len(), 1);
    }
}
