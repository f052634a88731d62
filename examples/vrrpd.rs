//! `vrrpd`: a VRRP router on lvskit's state machine and raw sockets, in the
//! current network namespace.
//!
//! ```text
//! vrrpd -f FILE           run the vrrp_instances and vrrp_sync_groups of a keepalived.conf
//! vrrpd [OPTIONS]         or one instance described by flags:
//!   --interface IF --vrid N [--priority N] [--state MASTER|BACKUP]
//!   [--advert-int SECS] [--version 2|3] --vip ADDR[/LEN] ...
//!   [--auth-pass PASS] [--nopreempt] [--preempt-delay SECS]
//!   [--unicast-peer ADDR ...] [--src-ip ADDR] [--name NAME]
//!   [--garp-master-delay SECS] [--garp-master-repeat N]
//!   [--log-detail]        also log every discarded advert (rate-limited)
//! ```
//!
//! `-f` reads the file with lvskit's keepalived.conf parser
//! ([`lvskit::config`]) and builds the routers with
//! [`lvskit::vrrp::routers`], as `keepalived -f FILE --vrrp` would run
//! them; diagnostics are printed as keepalived's `-t` would, and a file
//! with errors is refused. It logs every state change with a UTC timestamp (microseconds), like
//! keepalived's `(VI_1) Entering MASTER STATE`, the VIPs it adds and
//! removes, and the links it sees change. SIGTERM or SIGINT: masters send a
//! priority 0 advert and remove their VIPs, then it exits. SIGUSR2 (what
//! `keepalived --signum=STATS` names): one `stats` line per instance.
//!
//! Run it as root (raw sockets, addresses), e.g. in a namespace of
//! `scripts/netlab`: `netlab exec h1 -- target/debug/examples/vrrpd
//! --interface eth0 --vrid 51 --priority 150 --vip 192.0.2.100/24`.

use std::net::IpAddr;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lvskit::backend::raw_socket::{Driver, DriverEvent, DriverStats, dump_links};
use lvskit::config::{FsLoader, HostInfo, LoadOptions, load};
use lvskit::vrrp::{Auth, Event, InitialState, InstanceConfig, Reason, VirtualAddress, VrrpInstance};
use lvskit::wire::vrrp::Version;

/// `YYYY-MM-DDTHH:MM:SS.ffffffZ` for now (UTC; days to civil date after
/// Howard Hinnant's algorithm).
fn timestamp() -> String {
    let d = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:06}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_micros()
    )
}

macro_rules! log {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{} {}", timestamp(), format_args!($($arg)*));
        let _ = out.flush();
    }};
}

fn usage() -> ! {
    eprintln!("usage: vrrpd -f KEEPALIVED.CONF [--log-detail]");
    eprintln!("       vrrpd --interface IF --vrid N --vip ADDR[/LEN] [--priority N] [--state MASTER|BACKUP]");
    eprintln!("             [--advert-int SECS] [--version 2|3] [--auth-pass PASS] [--nopreempt]");
    eprintln!("             [--preempt-delay SECS] [--unicast-peer ADDR] [--src-ip ADDR] [--name NAME]");
    eprintln!("             [--garp-master-delay SECS] [--garp-master-repeat N] [--log-detail]");
    std::process::exit(2)
}

fn secs(s: &str) -> Result<Duration, String> {
    let v: f64 = s.parse().map_err(|_| format!("not a number of seconds: {s:?}"))?;
    if !v.is_finite() || v < 0.0 {
        return Err(format!("not a number of seconds: {s:?}"));
    }
    Ok(Duration::from_secs_f64(v))
}

struct Options {
    file: Option<String>,
    instances: Vec<InstanceConfig>,
    log_detail: bool,
}

/// The built-in flags: one instance.
fn parse_flags(args: &[String]) -> Result<Options, String> {
    let mut cfg = InstanceConfig::new("VI_1", 0);
    let mut vrid = None;
    let mut log_detail = false;
    let mut file = None;
    let mut flags = false;
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut value = || it.next().cloned().ok_or_else(|| format!("{flag} needs a value"));
        if !matches!(flag.as_str(), "-f" | "--use-file" | "--log-detail" | "-h" | "--help") {
            flags = true;
        }
        match flag.as_str() {
            "-f" | "--use-file" => file = Some(value()?),
            "--name" => cfg.name = value()?,
            "--interface" | "-i" => cfg = cfg.interface(value()?),
            "--vrid" => vrid = Some(value()?.parse::<u8>().map_err(|e| format!("--vrid: {e}"))?),
            "--priority" => cfg = cfg.priority(value()?.parse().map_err(|e| format!("--priority: {e}"))?),
            "--state" => {
                cfg = cfg.state(match value()?.as_str() {
                    "MASTER" => InitialState::Master,
                    "BACKUP" => InitialState::Backup,
                    s => return Err(format!("--state: {s:?} is neither MASTER nor BACKUP")),
                })
            }
            "--advert-int" => cfg = cfg.advert_int(secs(&value()?)?),
            "--version" => {
                cfg = cfg.version(match value()?.as_str() {
                    "2" => Version::V2,
                    "3" => Version::V3,
                    s => return Err(format!("--version: {s:?} is neither 2 nor 3")),
                })
            }
            "--vip" => {
                let v: VirtualAddress = value()?.parse().map_err(|e| format!("--vip: {e}"))?;
                cfg = cfg.vip(v)
            }
            "--auth-pass" => cfg = cfg.auth(Auth::pass(&value()?)),
            "--nopreempt" => cfg = cfg.nopreempt(true),
            "--preempt-delay" => cfg = cfg.preempt_delay(secs(&value()?)?),
            "--unicast-peer" => {
                let a: IpAddr = value()?.parse().map_err(|e| format!("--unicast-peer: {e}"))?;
                cfg = cfg.unicast_peer(a)
            }
            "--src-ip" => cfg = cfg.src_ip(value()?.parse().map_err(|e| format!("--src-ip: {e}"))?),
            "--garp-master-delay" => cfg = cfg.garp_master_delay(secs(&value()?)?),
            "--garp-master-repeat" => {
                cfg = cfg.garp_master_repeat(value()?.parse().map_err(|e| format!("--garp-master-repeat: {e}"))?)
            }
            "--log-detail" => log_detail = true,
            "-h" | "--help" => usage(),
            other => return Err(format!("unknown option {other:?}")),
        }
    }
    if file.is_some() {
        if flags {
            return Err("-f and instance flags exclude each other".into());
        }
        return Ok(Options { file, instances: Vec::new(), log_detail });
    }
    cfg.vrid = vrid.ok_or("--vrid is required")?;
    Ok(Options { file: None, instances: vec![cfg], log_detail })
}

/// Reads a keepalived.conf and builds its routers; the interfaces the
/// parser checks against are this namespace's (from rtnetlink).
fn load_file(file: &str) -> Result<lvskit::vrrp::Routers, String> {
    let interfaces = dump_links().map_err(|e| e.to_string())?.into_iter().map(|l| l.name).collect();
    let cwd = std::env::current_dir().map(|p| p.to_string_lossy().into_owned()).unwrap_or_default();
    let opts = LoadOptions { host: HostInfo { interfaces: Some(interfaces) }, cwd, ..LoadOptions::default() };
    let loaded = load(file, &FsLoader, &opts);
    for d in &loaded.diagnostics {
        eprint!("{d}");
    }
    let checked = loaded.into_result().map_err(|e| format!("{file}: {e}"))?;
    lvskit::vrrp::routers(&checked.config).map_err(|e| format!("{file}: {e}"))
}

fn reason_text(r: &Reason) -> String {
    match r {
        Reason::Startup => "startup".into(),
        Reason::MasterDown(m) => format!("master down: {m:?}"),
        Reason::HigherPriority { src, priority } => format!("higher priority {priority} from {src}"),
        Reason::Fault(f) => format!("fault: {f:?}"),
        Reason::FaultCleared => "fault cleared".into(),
        Reason::SyncGroup => "sync group".into(),
        Reason::Shutdown => "shutdown".into(),
        other => format!("{other:?}"),
    }
}

fn print_stats<N: std::fmt::Display>(driver_stats: &DriverStats, instances: &[(N, lvskit::vrrp::Stats)]) {
    for (name, s) in instances {
        log!("({name}) stats {s:?}");
    }
    log!("driver stats {driver_stats:?}");
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opts = match parse_flags(&args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("vrrpd: {e}");
            usage();
        }
    };
    let mut driver = match Driver::new() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("vrrpd: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(file) = &opts.file {
        match load_file(file) {
            Ok(routers) => {
                for w in &routers.warnings {
                    log!("({}) {}: {}", w.instance, w.keyword, w.message);
                }
                for vi in routers.instances {
                    if let Err(e) = driver.add_instance(vi) {
                        eprintln!("vrrpd: {e}");
                        return ExitCode::FAILURE;
                    }
                }
                for g in routers.groups {
                    if let Err(e) = driver.add_sync_group(g) {
                        eprintln!("vrrpd: {e}");
                        return ExitCode::FAILURE;
                    }
                }
            }
            Err(e) => {
                eprintln!("vrrpd: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    for cfg in opts.instances {
        let vi = match VrrpInstance::new(cfg) {
            Ok(vi) => vi,
            Err(e) => {
                eprintln!("vrrpd: {e}");
                return ExitCode::FAILURE;
            }
        };
        for w in vi.warnings() {
            log!("({}) {}: {}", w.instance, w.keyword, w.message);
        }
        if let Err(e) = driver.add_instance(vi) {
            eprintln!("vrrpd: {e}");
            return ExitCode::FAILURE;
        }
    }
    if let Err(e) = driver.handle_signals() {
        eprintln!("vrrpd: {e}");
        return ExitCode::FAILURE;
    }
    log!("vrrpd started, pid {}", std::process::id());
    let log_detail = opts.log_detail;
    let mut discards_logged = 0u64;
    let result = driver.run(|event| match event {
        DriverEvent::Instance { name, event: Event::StateChanged { from, to, reason } } => {
            log!("({name}) Entering {to} STATE (from {from}, {})", reason_text(&reason));
        }
        DriverEvent::Instance { name, event: Event::Discarded { src, reason } } => {
            if log_detail && discards_logged < 1000 {
                discards_logged += 1;
                log!("({name}) discarded advert from {src}: {reason:?}");
            }
        }
        DriverEvent::Instance { name, event } => log!("({name}) {event:?}"),
        DriverEvent::AddressAdded { name, address } => log!("({name}) added {address}"),
        DriverEvent::AddressRemoved { name, address } => log!("({name}) removed {address}"),
        DriverEvent::AddressLost { name, addr } => log!("({name}) VIP {addr} removed by someone else"),
        DriverEvent::Link { ifname, up, .. } => log!("Netlink reports {ifname} {}", if up { "up" } else { "down" }),
        DriverEvent::InterfaceDeleted { ifname } => log!("Interface {ifname} deleted"),
        DriverEvent::InterfaceCreated { ifname, ifindex } => {
            log!("Interface {ifname} created again (index {ifindex}), sockets reopened")
        }
        DriverEvent::ActionFailed { name, action, error } => log!("({name}) {action:?} failed: {error}"),
        DriverEvent::SendFailed { name, error } => log!("({name}) send failed: {error}"),
        DriverEvent::Stats { instances, driver } => print_stats(&driver, &instances),
        DriverEvent::ShuttingDown => log!("Stopping"),
        other => log!("{other:?}"),
    });
    let stats: Vec<(String, lvskit::vrrp::Stats)> =
        driver.instances().map(|vi| (vi.name().to_owned(), *vi.stats())).collect();
    print_stats(driver.stats(), &stats);
    match result {
        Ok(()) => {
            log!("vrrpd stopped");
            ExitCode::SUCCESS
        }
        Err(e) => {
            log!("vrrpd: {e}");
            ExitCode::FAILURE
        }
    }
}
