//! Applying a large IPVS table: lvskit's batched netlink reconciliation side
//! by side with `ipvsadm-restore`, on the same rules in the same kernel.
//!
//! ```sh
//! cargo build --release --features netlink --example ipvs_apply_bench
//! IPVS_VM_TIMEOUT=3600 scripts/ipvs-vm run -- target/release/examples/ipvs_apply_bench [SERVICES] [RUNS]
//! ```
//!
//! Needs root, `ip` and `ipvsadm`, and the `ip_vs` module. For SERVICES
//! services (10 000 by default) of 4 masquerading real servers each (VIPs in
//! the 198.18.0.0/15 benchmarking range, RFC 2544), it times, RUNS times (3
//! by default), an apply from an empty table:
//!
//! * `ipvsadm-restore` reading the `ipvsadm-save` text of the table;
//! * lvskit: `NetlinkIpvs::new()` (socket and family lookup), then
//!   `reconcile` (read the empty table, plan, apply in batches);
//!
//! each in a fresh network namespace (IPVS state is per namespace), because
//! a namespace that has held the table before is not empty for the kernel:
//! deleted real servers wait up to two minutes in its trash list, and every
//! new server is compared with each of them (`ip_vs_trash_get_dest`), which
//! makes a re-apply quadratic for any client. Both are timed the same way,
//! as the wall time of `ip netns exec NS COMMAND`, and must leave the same
//! table (`ipvsadm-save -n`). Then, on top of the full table, it times a
//! one-server weight change: with `Reconciler::apply_service` (one
//! operation), with a full `reconcile` (read every service, diff, one
//! operation), and with `ipvsadm -e`.

#[cfg(target_os = "linux")]
mod bench {
    use std::net::{IpAddr, Ipv4Addr};
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};

    use lvskit::backend::netlink::NetlinkIpvs;
    use lvskit::backend::{DesiredService, DesiredState, ReconcileOptions, Reconciler, reconcile};
    use lvskit::ipvs::{DestConfig, Protocol, ServiceConfig, ServiceKey};

    const DESTS: u8 = 4;

    fn vip(i: u32) -> IpAddr {
        IpAddr::V4(Ipv4Addr::from(u32::from(Ipv4Addr::new(198, 18, 0, 0)) + i))
    }

    fn rs(d: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(198, 19, 0, d))
    }

    fn desired(n: u32) -> DesiredState {
        (0..n)
            .map(|i| {
                let key = ServiceKey::addr(Protocol::Tcp, vip(i), 80);
                let dests = (1..=DESTS).map(|d| DestConfig::masq(rs(d), 8080).weight(u32::from(d))).collect();
                DesiredService::new(ServiceConfig::new(key, "wlc"), dests)
            })
            .collect()
    }

    /// The same table in `ipvsadm-save -n` form, servers in the order lvskit
    /// adds them.
    fn restore_text(n: u32) -> String {
        let mut s = String::with_capacity(n as usize * 200);
        for i in 0..n {
            let v = vip(i);
            s += &format!("-A -t {v}:80 -s wlc\n");
            for d in 1..=DESTS {
                s += &format!("-a -t {v}:80 -r {}:8080 -m -w {d}\n", rs(d));
            }
        }
        s
    }

    fn sh(cmd: &str) -> String {
        let out = Command::new("bash").arg("-c").arg(cmd).output().expect("bash");
        assert!(out.status.success(), "{cmd}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).expect("utf-8")
    }

    fn save_sorted(ns: &str) -> Vec<String> {
        let mut v: Vec<String> =
            sh(&format!("ip netns exec {ns} ipvsadm-save -n")).lines().map(str::to_owned).collect();
        v.sort();
        v
    }

    fn median(v: &mut [Duration]) -> Duration {
        v.sort();
        v[v.len() / 2]
    }

    fn ms(d: Duration) -> String {
        format!("{:.0} ms", d.as_secs_f64() * 1e3)
    }

    fn us(d: Duration) -> String {
        format!("{:.0} µs", d.as_secs_f64() * 1e6)
    }

    /// A fresh network namespace, deleted on drop.
    struct Netns(String);

    impl Netns {
        fn new(name: &str) -> Netns {
            let _ = Command::new("ip").args(["netns", "del", name]).stderr(Stdio::null()).status();
            sh(&format!("ip netns add {name} && ip -n {name} link set lo up"));
            Netns(name.to_owned())
        }
    }

    impl Drop for Netns {
        fn drop(&mut self) {
            let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
        }
    }

    /// `--apply N`: in the current namespace, open the backend and reconcile
    /// the table from empty; print the time taken inside the process.
    fn child_apply(n: u32) {
        let want = desired(n);
        let t = Instant::now();
        let mut k = NetlinkIpvs::new().expect("IPVS");
        let report = reconcile(&want, &mut k, &ReconcileOptions::default()).expect("reconcile");
        let d = t.elapsed();
        assert_eq!(report.ops.len(), n as usize * (1 + usize::from(DESTS)));
        println!("APPLIED {}", d.as_nanos());
    }

    /// `--change N RUNS`: on top of the full table, one server's weight,
    /// incrementally and with full reconciliations; print the samples.
    fn child_change(n: u32, runs: usize) {
        let want = desired(n);
        let t = Instant::now();
        let mut r = Reconciler::new(NetlinkIpvs::new().expect("IPVS"), ReconcileOptions::default()).expect("read");
        println!("READALL {}", t.elapsed().as_nanos());
        let key = ServiceKey::addr(Protocol::Tcp, vip(n / 2), 80);
        let mut one = want.get(&key).expect("service").clone();
        for i in 0..200u32 {
            one.dests[1] = one.dests[1].weight(10 + i % 2);
            let t = Instant::now();
            let rep = r.apply_service(&one).expect("one change");
            let d = t.elapsed();
            assert_eq!(rep.ops.len(), 1);
            println!("INCREMENTAL {}", d.as_nanos());
        }
        let mut k = r.into_inner();
        let mut whole = want.clone();
        for i in 0..runs as u32 {
            whole.get_mut(&key).expect("service").dests[1] = one.dests[1].weight(20 + i);
            let t = Instant::now();
            let rep = reconcile(&whole, &mut k, &ReconcileOptions::default()).expect("full reconcile");
            let d = t.elapsed();
            assert_eq!(rep.ops.len(), 1);
            println!("FULL {}", d.as_nanos());
        }
    }

    fn samples(out: &str, tag: &str) -> Vec<Duration> {
        out.lines()
            .filter_map(|l| l.strip_prefix(tag))
            .map(|v| Duration::from_nanos(v.trim().parse().expect("nanoseconds")))
            .collect()
    }

    pub fn main() {
        let args: Vec<String> = std::env::args().skip(1).collect();
        match args.first().map(String::as_str) {
            Some("--apply") => return child_apply(args[1].parse().expect("N")),
            Some("--change") => return child_change(args[1].parse().expect("N"), args[2].parse().expect("RUNS")),
            _ => {}
        }
        let n: u32 = args.first().map_or(10_000, |a| a.parse().expect("SERVICES"));
        let runs: usize = args.get(1).map_or(3, |a| a.parse().expect("RUNS"));
        if let Err(e) = NetlinkIpvs::new() {
            eprintln!("ipvs_apply_bench: {e} (run as root where the ip_vs module is loaded, e.g. scripts/ipvs-vm)");
            std::process::exit(1);
        }
        let exe = std::env::current_exe().expect("own path");
        let exe = exe.display();
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|c| {
                c.lines()
                    .find(|l| l.starts_with("model name"))
                    .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
            })
            .unwrap_or_default();
        let ops = n as usize * (1 + usize::from(DESTS));
        println!(
            "kernel {} | {} CPUs ({cpu}) | {n} services x {DESTS} real servers = {ops} operations | {runs} runs",
            sh("uname -r").trim(),
            std::thread::available_parallelism().map_or(0, |p| p.get()),
        );
        let text = restore_text(n);
        let path = std::env::temp_dir().join(format!("ipvs-bench-{}.rules", std::process::id()));
        std::fs::write(&path, &text).expect("rules file");

        let (mut ipvsadm, mut lvskit, mut inside) = (Vec::new(), Vec::new(), Vec::new());
        for run in 0..runs {
            let ns = Netns::new(&format!("ipvsbench-a{run}"));
            let t = Instant::now();
            let status = Command::new("ip")
                .args(["netns", "exec", &ns.0, "ipvsadm-restore"])
                .stdin(std::fs::File::open(&path).expect("rules"))
                .stdout(Stdio::null())
                .status()
                .expect("ipvsadm-restore");
            let d = t.elapsed();
            assert!(status.success(), "ipvsadm-restore failed");
            let reference = save_sorted(&ns.0);
            assert_eq!(reference.len(), ops, "ipvsadm-restore applied every rule");
            drop(ns);
            ipvsadm.push(d);

            let ns = Netns::new(&format!("ipvsbench-b{run}"));
            let t = Instant::now();
            let out = sh(&format!("ip netns exec {} {exe} --apply {n}", ns.0));
            let d2 = t.elapsed();
            let own = samples(&out, "APPLIED ")[0];
            assert_eq!(save_sorted(&ns.0), reference, "lvskit and ipvsadm-restore leave the same table");
            drop(ns);
            lvskit.push(d2);
            inside.push(own);
            println!("run {}: ipvsadm-restore {}  lvskit {} (in process {})", run + 1, ms(d), ms(d2), ms(own));
        }
        let (mi, ml, mo) = (median(&mut ipvsadm), median(&mut lvskit), median(&mut inside));

        // One server's weight on top of the full table.
        let ns = Netns::new("ipvsbench-c");
        sh(&format!("ip netns exec {} {exe} --apply {n}", ns.0));
        let out = sh(&format!("ip netns exec {} {exe} --change {n} {runs}", ns.0));
        let read_all = samples(&out, "READALL ")[0];
        let mut incremental = samples(&out, "INCREMENTAL ");
        let mut full = samples(&out, "FULL ");
        let mut ipvsadm_e = Vec::new();
        for i in 0..20 {
            let cmd = format!(
                "ip netns exec {} ipvsadm -e -t {}:80 -r {}:8080 -m -w {}",
                ns.0,
                vip(n / 2),
                rs(2),
                30 + i % 2
            );
            let t = Instant::now();
            sh(&cmd);
            ipvsadm_e.push(t.elapsed());
        }
        assert!(sh(&format!("ip netns exec {} ipvsadm-save -n", ns.0)).contains(&format!(
            "-a -t {}:80 -r {}:8080 -m -w 31",
            vip(n / 2),
            rs(2)
        )));
        drop(ns);
        let _ = std::fs::remove_file(&path);

        let inc_max = *incremental.iter().max().expect("samples");
        let inc_med = median(&mut incremental);
        let inc_p99 = incremental[incremental.len() * 99 / 100];
        println!();
        println!("| full apply from empty, {ops} operations, median of {runs} | wall time |");
        println!("|---|---|");
        println!("| `ipvsadm-restore` | {} |", ms(mi));
        println!("| lvskit `reconcile` over `NetlinkIpvs` (in process: {}) | {} |", ms(mo), ms(ml));
        println!("| ratio | {:.1}x faster |", mi.as_secs_f64() / ml.as_secs_f64());
        println!();
        println!("| one-server weight change on {n} services | time |");
        println!("|---|---|");
        println!(
            "| lvskit `Reconciler::apply_service`, median / p99 / max of 200 | {} / {} / {} |",
            us(inc_med),
            us(inc_p99),
            us(inc_max)
        );
        println!("| lvskit `reconcile` (read all, diff, apply), median of {runs} | {} |", ms(median(&mut full)));
        println!("| `ipvsadm -e` (process start included), median of 20 | {} |", ms(median(&mut ipvsadm_e)));
        println!("| reading the whole table once (`Reconciler::new`) | {} |", ms(read_all));
    }
}

#[cfg(target_os = "linux")]
fn main() {
    bench::main();
}

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("ipvs_apply_bench needs Linux");
}
