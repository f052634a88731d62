//! schedtrace: replay a file of flows against one of the kernel's
//! schedulers and print the real server each flow gets.
//!
//! ```text
//! cargo run --example schedtrace -- FLOWS --scheduler NAME [--flags a,b]
//!     --server IP:PORT:WEIGHT [--server ...] [--close] [--seed N]
//! ```
//!
//! `FLOWS` is a file (or `-` for stdin) with one flow per line,
//! `tcp|udp CLIENT_IP CLIENT_PORT VIP VPORT`; `#` starts a comment. Servers
//! are added in the order given, as successive `ipvsadm -a` calls would add
//! them (so the last one given heads the kernel's list). IPv6 servers are
//! written `[2001:db8::1]:80:3`. For every flow the chosen server is printed
//! as `IP:PORT` (`[IPv6]:PORT`), or `none` when the scheduler finds no
//! server.
//!
//! Each flow becomes an established connection to its server and stays open,
//! so load-based schedulers see it; with `--close` each connection is closed
//! once established and then counts as inactive, as the kernel keeps a
//! closed connection in its table (FIN_WAIT, TIME_WAIT) for two minutes.
//!
//! The flows are scheduled as by one firewall-mark service that catches them
//! all: a scheduler's choice depends on the flows' addresses, not on how the
//! service is keyed, and so flows may go to several VIPs, as with the
//! firewall-mark services dh, lblc and lblcr are meant for. All flows and
//! servers must be of one address family.
//!
//! Exit status: 0; 1 for a bad flow file (the message names the line); 2 for
//! bad arguments.

use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::time::Instant;

use lvskit::ipvs::sched::{NAMES, SchedParams};
use lvskit::ipvs::{DestConfig, Family, Flow, Protocol, Service, ServiceConfig, ServiceFlags, ServiceKey};

const USAGE: &str = "\
usage: schedtrace FLOWS --scheduler NAME [--flags FLAG,...] --server IP:PORT:WEIGHT [--server ...]
                  [--close] [--seed N]

  FLOWS              file with one flow per line, `tcp|udp CLIENT_IP CLIENT_PORT VIP VPORT`
                     (`#` starts a comment), or `-` for stdin
  --scheduler NAME   rr wrr lc wlc sed nq fo ovf twos sh dh mh lblc lblcr
  --flags FLAGS      scheduler flags as `ipvsadm -b` takes them: sh-fallback, sh-port,
                     mh-fallback, mh-port, flag-1, flag-2, flag-3
  --server S         a real server IP:PORT:WEIGHT ([IPv6]:PORT:WEIGHT), weight 0..=65535;
                     servers are added in the order given, like successive `ipvsadm -a`
  --close            close each connection once established (it then counts as
                     inactive); by default every connection stays open
  --seed N           seed of the random draws (twos), default 0

Prints the chosen server of each flow, `IP:PORT` or `none`, one per line.";

/// A usage error (exit 2).
struct Usage(String);

struct Args {
    flows: String,
    scheduler: String,
    flags: ServiceFlags,
    servers: Vec<(SocketAddr, u32)>,
    close: bool,
    seed: u64,
}

fn parse_server(s: &str) -> Result<(SocketAddr, u32), Usage> {
    let bad = |why: &str| Usage(format!("--server {s:?}: {why} (expected IP:PORT:WEIGHT, IPv6 as [IP]:PORT:WEIGHT)"));
    let (addr, weight) = s.rsplit_once(':').ok_or_else(|| bad("no weight"))?;
    let addr: SocketAddr = addr.parse().map_err(|_| bad("not an address and port"))?;
    let weight: u32 = weight.parse().map_err(|_| bad("weight is not a number"))?;
    if weight > 65535 {
        return Err(bad("weight above 65535"));
    }
    Ok((addr, weight))
}

fn parse_args(mut it: impl Iterator<Item = String>) -> Result<Option<Args>, Usage> {
    let mut flows = None;
    let (mut scheduler, mut flags, mut servers, mut close, mut seed) =
        (None, ServiceFlags::EMPTY, Vec::new(), false, 0);
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().ok_or_else(|| Usage(format!("{name} needs a value")));
        match a.as_str() {
            "-h" | "--help" => return Ok(None),
            "--scheduler" | "-s" => scheduler = Some(value("--scheduler")?),
            "--flags" | "-b" => {
                for f in value("--flags")?.split(',').filter(|f| !f.is_empty()) {
                    flags |= ServiceFlags::from_name(f).ok_or_else(|| Usage(format!("--flags: unknown flag {f:?}")))?;
                }
            }
            "--server" | "-r" => servers.push(parse_server(&value("--server")?)?),
            "--close" => close = true,
            "--seed" => {
                let v = value("--seed")?;
                seed = v.parse().map_err(|_| Usage(format!("--seed {v:?} is not a number")))?;
            }
            opt if opt.starts_with('-') && opt != "-" => return Err(Usage(format!("unknown option {opt}"))),
            file => {
                if flows.replace(file.to_owned()).is_some() {
                    return Err(Usage("more than one flow file given".into()));
                }
            }
        }
    }
    let scheduler = scheduler.ok_or_else(|| Usage("--scheduler is required".into()))?;
    if !NAMES.contains(&scheduler.as_str()) {
        return Err(Usage(format!("unknown scheduler {scheduler:?} (known: {})", NAMES.join(" "))));
    }
    if servers.is_empty() {
        return Err(Usage("at least one --server is required".into()));
    }
    let flows = flows.ok_or_else(|| Usage("no flow file given".into()))?;
    Ok(Some(Args { flows, scheduler, flags, servers, close, seed }))
}

/// Parses one flow line (already stripped of its comment).
fn parse_flow(line: &str) -> Result<Flow, String> {
    let f: Vec<&str> = line.split_whitespace().collect();
    let [proto, src, sport, vip, vport] = f.as_slice() else {
        return Err(format!("expected `tcp|udp CLIENT_IP CLIENT_PORT VIP VPORT`, got {} field(s)", f.len()));
    };
    let protocol = match proto.to_ascii_lowercase().as_str() {
        "tcp" => Protocol::Tcp,
        "udp" => Protocol::Udp,
        other => return Err(format!("protocol {other:?} is neither tcp nor udp")),
    };
    let ip = |s: &str, what: &str| s.parse::<IpAddr>().map_err(|_| format!("{what} {s:?} is not an IP address"));
    let port = |s: &str, what: &str| s.parse::<u16>().map_err(|_| format!("{what} {s:?} is not a port (0..=65535)"));
    let (src, vip) = (ip(src, "client address")?, ip(vip, "VIP")?);
    if Family::of(src) != Family::of(vip) {
        return Err(format!("client {src} and VIP {vip} are of different families"));
    }
    Ok(Flow::new(protocol, src, port(sport, "client port")?, vip, port(vport, "VIP port")?).with_fwmark(1))
}

/// Builds the service from the arguments.
fn service(args: &Args) -> Result<Service, Usage> {
    let family = Family::of(args.servers[0].0.ip());
    let config = ServiceConfig::new(ServiceKey::fwmark(family, 1), &args.scheduler).flags(args.flags);
    let mut svc = Service::with_params(config, SchedParams { seed: args.seed, ..SchedParams::default() })
        .map_err(|e| Usage(format!("service: {e}")))?;
    for (addr, weight) in &args.servers {
        svc.add_dest(DestConfig::masq(addr.ip(), addr.port()).weight(*weight))
            .map_err(|e| Usage(format!("--server {addr}:{weight}: {e}")))?;
    }
    Ok(svc)
}

/// Replays the flows (errors: exit 1).
fn run(args: &Args, mut svc: Service) -> Result<(), String> {
    let family = svc.key().family();
    let reader: Box<dyn BufRead> = if args.flows == "-" {
        Box::new(BufReader::new(std::io::stdin()))
    } else {
        Box::new(BufReader::new(std::fs::File::open(&args.flows).map_err(|e| format!("{}: {e}", args.flows))?))
    };
    let name = if args.flows == "-" { "<stdin>" } else { args.flows.as_str() };
    let start = Instant::now();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for (n, line) in reader.lines().enumerate() {
        let line = line.map_err(|e| format!("{name}:{}: {e}", n + 1))?;
        let text = line.split('#').next().unwrap_or("").trim();
        if text.is_empty() {
            continue;
        }
        let flow = parse_flow(text).map_err(|e| format!("{name}:{}: {e}", n + 1))?;
        if Family::of(flow.src) != family {
            return Err(format!("{name}:{}: a {} flow, but the servers are {family}", n + 1, Family::of(flow.src)));
        }
        let choice = match svc.schedule(&flow, start) {
            Some(d) => {
                // Bound inactive, then established (active), as the kernel
                // counts a connection; closed, it stays as inactive.
                d.bind_conn(false);
                d.activate_conn();
                if args.close {
                    d.deactivate_conn();
                }
                d.socket_addr().to_string()
            }
            None => "none".to_owned(),
        };
        writeln!(out, "{choice}").map_err(|e| format!("stdout: {e}"))?;
    }
    out.flush().map_err(|e| format!("stdout: {e}"))
}

fn main() -> ExitCode {
    match parse_args(std::env::args().skip(1)) {
        Ok(None) => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        Ok(Some(args)) => match service(&args) {
            Ok(svc) => match run(&args, svc) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("schedtrace: {e}");
                    ExitCode::from(1)
                }
            },
            Err(Usage(e)) => {
                eprintln!("schedtrace: {e}");
                ExitCode::from(2)
            }
        },
        Err(Usage(e)) => {
            eprintln!("schedtrace: {e}\n\n{USAGE}");
            ExitCode::from(2)
        }
    }
}
