//! 10 000 real servers checked with `TCP_CHECK` every second, by lvskit and
//! by the real keepalived, side by side: CPU time per second of the checker,
//! probes per second, and whether every server was checked on time.
//!
//! ```sh
//! sudo cargo run --release --features probe --example check_scale -- [--servers N] [--seconds S] [--only lvskit|keepalived]
//! ```
//!
//! Everything runs in a private network namespace: one process listens on
//! N addresses and ports of 127.0.0.0/8 (accepting and closing), and counts
//! for every listener the gaps between two checks. The checker under test
//! runs in its own process; its CPU time (user + system, from
//! `/proc/<pid>/stat`) is read over the measurement window, after a warm-up
//! of two `delay_loop`s. keepalived runs as `keepalived -C` (checker only)
//! with `delay_loop 1` and `TCP_CHECK { connect_timeout 1 }` for each
//! server; it needs IPVS, so run this where the kernel has it (the IPVS VM:
//! `scripts/ipvs-vm run -- target/release/examples/check_scale`) or give
//! `--keepalived-preload <shim.so>` (see the README).

#[cfg(all(feature = "probe", target_os = "linux"))]
fn main() {
    imp::main();
}

#[cfg(not(all(feature = "probe", target_os = "linux")))]
fn main() {
    eprintln!("check_scale needs Linux and the `probe` feature");
}

#[cfg(all(feature = "probe", target_os = "linux"))]
mod imp {
    use std::collections::HashMap;
    use std::io::{BufRead, BufReader, Write};
    use std::net::{IpAddr, Ipv4Addr, SocketAddr};
    use std::process::{Child, Command, Stdio};
    use std::time::{Duration, Instant};

    use lvskit::check::runner::{Driver, Runner, RunnerConfig};
    use lvskit::check::{CheckerSpec, HealthChecker, RealServerSpec, VirtualServerSpec};
    use lvskit::ipvs::{DestConfig, Protocol, ServiceConfig, ServiceKey};
    use mio::net::TcpListener;
    use mio::{Events, Interest, Poll, Token};
    use rand::SeedableRng;

    const PER_ADDR: usize = 100;
    const PER_VS: usize = 100;

    struct Args {
        servers: usize,
        seconds: u64,
        warmup: u64,
        only: Option<String>,
        preload: Option<String>,
        no_netns: bool,
    }

    fn args() -> Args {
        let mut a = Args { servers: 10_000, seconds: 20, warmup: 3, only: None, preload: None, no_netns: false };
        let v: Vec<String> = std::env::args().collect();
        let mut i = 1;
        while i < v.len() {
            let next = |i: &mut usize| {
                *i += 1;
                v.get(*i).cloned().unwrap_or_default()
            };
            match v[i].as_str() {
                "--servers" => a.servers = next(&mut i).parse().expect("--servers N"),
                "--seconds" => a.seconds = next(&mut i).parse().expect("--seconds S"),
                "--warmup" => a.warmup = next(&mut i).parse().expect("--warmup S"),
                "--only" => a.only = Some(next(&mut i)),
                "--keepalived-preload" => a.preload = Some(next(&mut i)),
                "--no-netns" => a.no_netns = true,
                _ => {}
            }
            i += 1;
        }
        a
    }

    /// Server `i`: 127.0.(1 + i / 100 / 250).(1 + i / 100 % 250), port 10000 + i % 100.
    fn server_addr(i: usize) -> SocketAddr {
        let a = i / PER_ADDR;
        SocketAddr::new(
            IpAddr::V4(Ipv4Addr::new(127, 0, (1 + a / 250) as u8, (1 + a % 250) as u8)),
            10_000 + (i % PER_ADDR) as u16,
        )
    }

    /// User and system CPU ticks of a process (fields 14 and 15 of
    /// `/proc/<pid>/stat`).
    fn cpu_ticks(pid: u32) -> Option<(u64, u64)> {
        let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let rest = &s[s.rfind(')')? + 2..];
        let f: Vec<&str> = rest.split_whitespace().collect();
        // `rest` starts at field 3.
        Some((f.get(11)?.parse::<u64>().ok()?, f.get(12)?.parse::<u64>().ok()?))
    }

    fn ticks(pids: &[u32]) -> (u64, u64) {
        pids.iter().filter_map(|p| cpu_ticks(*p)).fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1))
    }

    fn raise_nofile() {
        use rustix::process::{Resource, Rlimit, setrlimit};
        let _ = setrlimit(Resource::Nofile, Rlimit { current: Some(1 << 20), maximum: Some(1 << 20) });
    }

    fn netns() {
        let name = format!("lvskit-scale-{}", std::process::id());
        let ip = |a: &[&str]| assert!(Command::new("ip").args(a).status().expect("ip").success(), "ip {a:?}");
        ip(&["netns", "add", &name]);
        let f = std::fs::File::open(format!("/run/netns/{name}")).unwrap();
        let r = rustix::thread::move_into_link_name_space(
            std::os::fd::AsFd::as_fd(&f),
            Some(rustix::thread::LinkNameSpaceType::Network),
        );
        ip(&["netns", "del", &name]);
        r.expect("setns (run as root)");
        ip(&["link", "set", "lo", "up"]);
    }

    /// The listening side: accept and close; report per-window statistics.
    fn serve(n: usize, start_after: Duration, window: Duration) {
        raise_nofile();
        let mut poll = Poll::new().unwrap();
        let mut ls: Vec<TcpListener> = Vec::with_capacity(n);
        for i in 0..n {
            let mut l = TcpListener::bind(server_addr(i)).expect("bind");
            poll.registry().register(&mut l, Token(i), Interest::READABLE).unwrap();
            ls.push(l);
        }
        println!("ready");
        std::io::stdout().flush().unwrap();
        let t0 = Instant::now();
        let (ws, we) = (t0 + start_after, t0 + start_after + window);
        let mut last: Vec<Option<Instant>> = vec![None; n];
        let mut gaps: Vec<u32> = Vec::new(); // milliseconds, inside the window
        let mut accepts_in_window = 0u64;
        let mut events = Events::with_capacity(4096);
        while Instant::now() < we {
            poll.poll(&mut events, Some(Duration::from_millis(50))).unwrap();
            let now = Instant::now();
            for e in events.iter() {
                let i = e.token().0;
                while let Ok((c, _)) = ls[i].accept() {
                    drop(c);
                    if now >= ws {
                        accepts_in_window += 1;
                        if let Some(p) = last[i] {
                            if p >= ws {
                                gaps.push((now - p).as_millis() as u32);
                            }
                        }
                    }
                    last[i] = Some(now);
                }
            }
        }
        // Servers not checked at all since the window opened count as late.
        let silent = last.iter().filter(|l| l.is_none_or(|t| we - t > Duration::from_millis(1500))).count();
        gaps.sort_unstable();
        let pct = |p: f64| gaps.get(((gaps.len() as f64 - 1.0) * p) as usize).copied().unwrap_or(0);
        let late = gaps.iter().filter(|g| **g > 1500).count();
        println!(
            "stats accepts_per_s={:.0} gaps={} p50_ms={} p99_ms={} max_ms={} late_gaps={} silent_at_end={}",
            accepts_in_window as f64 / window.as_secs_f64(),
            gaps.len(),
            pct(0.5),
            pct(0.99),
            gaps.last().copied().unwrap_or(0),
            late,
            silent
        );
    }

    /// The lvskit checker process: HealthChecker + Runner until killed.
    fn lvskit_checker(n: usize) {
        raise_nofile();
        let mut vss = Vec::new();
        for v in 0..n.div_ceil(PER_VS) {
            let mut vs = VirtualServerSpec::new(ServiceConfig::new(
                ServiceKey::addr(Protocol::Tcp, IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), 1000 + v as u16),
                "rr",
            ))
            .delay_loop(Duration::from_secs(1));
            for i in v * PER_VS..((v + 1) * PER_VS).min(n) {
                let a = server_addr(i);
                vs = vs.real_server(
                    RealServerSpec::new(DestConfig::masq(a.ip(), a.port()))
                        .checker(CheckerSpec::tcp().connect_timeout(Duration::from_secs(1))),
                );
            }
            vss.push(vs);
        }
        let hc = HealthChecker::new(vss, rand::rngs::StdRng::seed_from_u64(1), Instant::now()).unwrap();
        let runner = Runner::new(RunnerConfig { max_in_flight: 8192, ..RunnerConfig::default() }).unwrap();
        let mut d = Driver::new(hc, runner);
        println!("ready");
        std::io::stdout().flush().unwrap();
        let verbose = std::env::var_os("CHECK_SCALE_VERBOSE").is_some();
        let mut downs = 0u64;
        let mut last = Instant::now();
        let mut steps = 0u64;
        loop {
            d.step(Duration::from_secs(1)).unwrap();
            steps += 1;
            while let Some(e) = d.checker.poll_event() {
                if matches!(e, lvskit::check::HealthEvent::ServerDown { .. }) {
                    downs += 1;
                    eprintln!("lvskit: server down ({downs})");
                }
            }
            if verbose && last.elapsed() >= Duration::from_secs(5) {
                eprintln!("lvskit: {steps} loop turns in 5 s, {} in flight", d.runner.in_flight());
                steps = 0;
                last = Instant::now();
            }
        }
    }

    fn keepalived_conf(n: usize) -> String {
        let mut s = String::from("global_defs {\n  router_id lvskit_scale\n}\n");
        for v in 0..n.div_ceil(PER_VS) {
            s += &format!(
                "virtual_server 192.0.2.1 {} {{\n  delay_loop 1\n  lb_algo rr\n  lb_kind NAT\n  protocol TCP\n",
                1000 + v
            );
            for i in v * PER_VS..((v + 1) * PER_VS).min(n) {
                let a = server_addr(i);
                s += &format!(
                    "  real_server {} {} {{\n    TCP_CHECK {{\n      connect_timeout 1\n    }}\n  }}\n",
                    a.ip(),
                    a.port()
                );
            }
            s += "}\n";
        }
        s
    }

    fn wait_ready(c: &mut Child) -> BufReader<std::process::ChildStdout> {
        let mut r = BufReader::new(c.stdout.take().unwrap());
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "ready", "child did not start");
        r
    }

    struct Result {
        name: &'static str,
        user_per_s: f64,
        sys_per_s: f64,
        server: String,
    }

    fn measure(name: &'static str, a: &Args, start: impl FnOnce() -> (Child, Box<dyn Fn() -> Vec<u32>>)) -> Result {
        let me = std::env::current_exe().unwrap();
        let window = Duration::from_secs(a.seconds);
        let warm = Duration::from_secs(a.warmup);
        let mut server = Command::new(&me)
            .args(["--serve", &a.servers.to_string(), &(warm.as_secs() + 2).to_string(), &a.seconds.to_string()])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = wait_ready(&mut server);
        let (mut checker, pids) = start();
        // The server's window opens warm + 2 s after it is ready; the
        // checker's CPU is read over the same window.
        std::thread::sleep(warm + Duration::from_secs(2));
        let t0 = Instant::now();
        let c0 = ticks(&pids());
        std::thread::sleep(window);
        let c1 = ticks(&pids());
        let secs = t0.elapsed().as_secs_f64();
        let hz = rustix::param::clock_ticks_per_second() as f64;
        let mut line = String::new();
        while out.read_line(&mut line).unwrap() > 0 && !line.starts_with("stats") {
            line.clear();
        }
        let _ = server.wait();
        let _ = Command::new("kill").arg(checker.id().to_string()).status();
        let _ = checker.wait();
        Result {
            name,
            user_per_s: (c1.0 - c0.0) as f64 / hz / secs,
            sys_per_s: (c1.1 - c0.1) as f64 / hz / secs,
            server: line.trim().to_owned(),
        }
    }

    pub fn main() {
        let argv: Vec<String> = std::env::args().collect();
        if argv.get(1).map(String::as_str) == Some("--serve") {
            let n = argv[2].parse().unwrap();
            let warm = Duration::from_secs(argv[3].parse().unwrap());
            let win = Duration::from_secs(argv[4].parse().unwrap());
            return serve(n, warm, win);
        }
        if argv.get(1).map(String::as_str) == Some("--lvskit-checker") {
            return lvskit_checker(argv[2].parse().unwrap());
        }
        let a = args();
        if !a.no_netns {
            netns();
        }
        raise_nofile();
        let me = std::env::current_exe().unwrap();
        let mut results = Vec::new();
        if a.only.as_deref() != Some("keepalived") {
            results.push(measure("lvskit", &a, || {
                let mut c = Command::new(&me)
                    .args(["--lvskit-checker", &a.servers.to_string()])
                    .stdout(Stdio::piped())
                    .spawn()
                    .unwrap();
                let r = wait_ready(&mut c);
                std::mem::forget(r);
                let pid = c.id();
                (c, Box::new(move || vec![pid]))
            }));
        }
        if a.only.as_deref() != Some("lvskit") {
            let dir = std::env::temp_dir().join(format!("lvskit-scale-{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            let conf = dir.join("keepalived.conf");
            std::fs::write(&conf, keepalived_conf(a.servers)).unwrap();
            let cpid = dir.join("checkers.pid");
            results.push(measure("keepalived", &a, || {
                let mut cmd = Command::new("keepalived");
                cmd.args(["-C", "-n", "-f"])
                    .arg(&conf)
                    .arg("-p")
                    .arg(dir.join("k.pid"))
                    .arg("-c")
                    .arg(&cpid)
                    .stdout(Stdio::null())
                    .stderr(Stdio::null());
                if let Some(p) = &a.preload {
                    cmd.env("LD_PRELOAD", p);
                }
                let c = cmd.spawn().expect("keepalived");
                let parent = c.id();
                let cpid = cpid.clone();
                (
                    c,
                    Box::new(move || {
                        let child = std::fs::read_to_string(&cpid).ok().and_then(|s| s.trim().parse().ok());
                        std::iter::once(parent).chain(child).collect()
                    }),
                )
            }));
            let _ = std::fs::remove_dir_all(&dir);
        }
        println!(
            "{} servers, TCP_CHECK, delay_loop 1 s, {} s window after {} s warm-up",
            a.servers,
            a.seconds,
            a.warmup + 2
        );
        println!("{:<11} {:>9} {:>9} {:>9}  listener side", "checker", "CPU s/s", "user", "system");
        let mut by_name = HashMap::new();
        for r in &results {
            let cpu = r.user_per_s + r.sys_per_s;
            println!("{:<11} {:>9.3} {:>9.3} {:>9.3}  {}", r.name, cpu, r.user_per_s, r.sys_per_s, r.server);
            by_name.insert(r.name, cpu);
        }
        if let (Some(l), Some(k)) = (by_name.get("lvskit"), by_name.get("keepalived")) {
            println!("lvskit uses {:.1}x less CPU than keepalived", k / l);
        }
    }
}
