//! A namespace lab for the VRRP interop tests, on `scripts/netlab`: each
//! [`Lab`] is a bridge and N hosts under its own `NETLAB_PREFIX`, torn down
//! when dropped (also when a test panics), with helpers to run keepalived
//! and lvskit's `vrrpd` example in a host, capture the segment, and read
//! the capture back with lvskit's own pcap reader.
#![allow(dead_code)]

use std::ffi::OsStr;
use std::fs;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use lvskit::wire::inspect::{Line, inspect};
use lvskit::wire::pcap::Reader;

/// Whether root tests are enabled (`LVSKIT_ROOT_TESTS=1`, set by
/// scripts/test when run as root). Prints a note when not.
pub fn enabled(test: &str) -> bool {
    if std::env::var("LVSKIT_ROOT_TESTS").as_deref() == Ok("1") {
        return true;
    }
    eprintln!("note: {test} needs root and LVSKIT_ROOT_TESTS=1 (scripts/test sets it when run as root); skipped");
    false
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn netlab_path() -> PathBuf {
    repo().join("scripts/netlab")
}

/// The `vrrpd` example binary, built by `cargo test` next to this test.
pub fn vrrpd_path() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    // target/<profile>/deps/<test> -> target/<profile>/examples/vrrpd
    let path = exe.parent().and_then(Path::parent).expect("target dir").join("examples/vrrpd");
    assert!(
        path.exists(),
        "{} is missing: build it with `cargo build --all-features --example vrrpd` (a plain `cargo test --all-features` does)",
        path.display()
    );
    path
}

static SEQ: AtomicUsize = AtomicUsize::new(0);

/// Seconds since the Unix epoch, as pcap timestamps and our logs use.
pub fn epoch_now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs_f64()
}

/// A lab of `hosts` hosts, `h1` = 192.0.2.11 / 2001:db8::11 / MAC
/// 02:00:c0:00:02:0b and so on.
pub struct Lab {
    pub prefix: String,
    pub dir: PathBuf,
    pub hosts: usize,
    captures: Vec<u32>,
    procs: Vec<Child>,
}

pub fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

impl Lab {
    /// Builds a lab; `tag` (a few letters) keeps prefixes of parallel tests
    /// apart.
    pub fn up(tag: &str, hosts: usize) -> Lab {
        let n = SEQ.fetch_add(1, Ordering::SeqCst);
        let prefix = format!("lv{tag}{}x{n}", std::process::id());
        let dir = std::env::temp_dir().join(format!("lvskit-{prefix}"));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let lab = Lab { prefix, dir, hosts, captures: Vec::new(), procs: Vec::new() };
        // A stale lab of the same name (a killed earlier run) goes first.
        let _ = lab.netlab().arg("down").output();
        run(lab.netlab().args(["up", "--hosts", &hosts.to_string()]));
        lab
    }

    fn netlab(&self) -> Command {
        let mut c = Command::new("bash");
        c.arg(netlab_path()).env("NETLAB_PREFIX", &self.prefix).stdin(Stdio::null());
        c
    }

    pub fn ns(&self, h: usize) -> String {
        format!("{}-h{h}", self.prefix)
    }

    pub fn sw(&self) -> String {
        format!("{}-sw", self.prefix)
    }

    pub fn ip4(h: usize) -> String {
        format!("192.0.2.{}", 10 + h)
    }

    pub fn mac(h: usize) -> [u8; 6] {
        [0x02, 0x00, 0xc0, 0x00, 0x02, (10 + h) as u8]
    }

    /// Runs a command in host `h` and returns its stdout (panics on failure).
    pub fn exec(&self, h: usize, args: &[&str]) -> String {
        run(Command::new("ip").args(["netns", "exec", &self.ns(h)]).args(args).stdin(Stdio::null()))
    }

    pub fn cut(&self, h: usize) {
        run(self.netlab().args(["cut", &format!("h{h}")]));
    }

    pub fn heal(&self, h: usize) {
        run(self.netlab().args(["heal", &format!("h{h}")]));
    }

    /// Whether host `h`'s eth0 has `addr`.
    pub fn has_addr(&self, h: usize, addr: &str) -> bool {
        let out = run(Command::new("ip").args(["-n", &self.ns(h), "-o", "addr", "show", "dev", "eth0"]));
        let want: IpAddr = addr.parse().unwrap();
        out.split_whitespace().any(|w| w.split('/').next().and_then(|a| a.parse::<IpAddr>().ok()) == Some(want))
    }

    /// Starts a capture of the whole segment (the switch's bridge).
    pub fn capture(&mut self, name: &str) -> Capture {
        self.capture_filtered(name, &[])
    }

    /// Starts a capture of the segment with a tcpdump filter.
    pub fn capture_filtered(&mut self, name: &str, filter: &[&str]) -> Capture {
        let path = self.dir.join(format!("{name}.pcap"));
        let out = run(self.netlab().args(["capture", "sw", path.to_str().unwrap()]).args(filter));
        let pid: u32 = out.trim().parse().expect("capture pid");
        self.captures.push(pid);
        Capture { pid, path }
    }

    /// Stops a capture and returns its frames.
    pub fn stop_capture(&mut self, cap: &Capture) -> Vec<Frame> {
        let _ = self.netlab().args(["capture-stop", &cap.pid.to_string()]).output();
        self.captures.retain(|&p| p != cap.pid);
        read_pcap(&cap.path)
    }

    /// Starts keepalived 2.2.7 in host `h` with `conf`.
    pub fn keepalived(&mut self, h: usize, name: &str, conf: &str) -> Keepalived {
        let base = self.dir.join(name);
        let conf_path = base.with_extension("conf");
        fs::write(&conf_path, conf).unwrap();
        let pid = base.with_extension("pid");
        let vrrp_pid = base.with_extension("vrrp.pid");
        let log = base.with_extension("log");
        let _ = fs::remove_file(&pid);
        let _ = fs::remove_file(&vrrp_pid);
        let logf = fs::OpenOptions::new().create(true).append(true).open(&log).unwrap();
        // Real-time priority as for vrrpd (see `vrrpd`): keepalived's own
        // timers must not be what makes a test miss its bounds.
        let child = Command::new("ip")
            .args(["netns", "exec", &self.ns(h), "chrt", "-f", "10", "keepalived", "-f"])
            .arg(&conf_path)
            .arg("-p")
            .arg(&pid)
            .arg("-r")
            .arg(&vrrp_pid)
            .args(["--dont-fork", "--log-console", "--vrrp"])
            .stdin(Stdio::null())
            .stdout(logf.try_clone().unwrap())
            .stderr(logf)
            .spawn()
            .expect("keepalived");
        let k = Keepalived { pid_file: pid, vrrp_pid_file: vrrp_pid, log, parent: child.id() };
        self.procs.push(child);
        // Ready once both processes wrote their pid files.
        wait_for(Duration::from_secs(10), "keepalived start", || k.vrrp_pid().is_some() && k.parent_pid().is_some());
        k
    }

    /// Starts lvskit's `vrrpd` in host `h` with `args`, at real-time
    /// priority (`chrt -f 10`, what keepalived's `vrrp_rt_priority` does):
    /// on a shared 2-core machine under load, a normal-priority process can
    /// wait tens of milliseconds for a CPU, which the 20 ms bounds of these
    /// tests are not about.
    pub fn vrrpd(&mut self, h: usize, name: &str, args: &[impl AsRef<OsStr>]) -> Vrrpd {
        let log = self.dir.join(format!("{name}.log"));
        let logf = fs::OpenOptions::new().create(true).append(true).open(&log).unwrap();
        let child = Command::new("ip")
            .args(["netns", "exec", &self.ns(h), "chrt", "-f", "10"])
            .arg(vrrpd_path())
            .args(args)
            .stdin(Stdio::null())
            .stdout(logf.try_clone().unwrap())
            .stderr(logf)
            .spawn()
            .expect("vrrpd");
        let pid = child.id();
        self.procs.push(child);
        let v = Vrrpd { pid, log };
        wait_for(Duration::from_secs(10), "vrrpd start", || v.log_text().contains("vrrpd started"));
        v
    }

    /// Starts `vrrpd -f` on a keepalived.conf in host `h`.
    pub fn vrrpd_conf(&mut self, h: usize, name: &str, conf: &str) -> Vrrpd {
        let path = self.dir.join(format!("{name}.conf"));
        fs::write(&path, conf).unwrap();
        self.vrrpd(h, name, &[OsStr::new("-f"), path.as_os_str()])
    }

    /// Waits for and reaps a process this lab started.
    pub fn reap(&mut self, pid: u32, timeout: Duration) -> bool {
        let start = Instant::now();
        loop {
            if let Some(i) = self.procs.iter().position(|c| c.id() == pid) {
                if let Ok(Some(_)) = self.procs[i].try_wait() {
                    // Already reaped by try_wait; wait() returns at once.
                    let _ = self.procs.remove(i).wait();
                    return true;
                }
            } else {
                return !Path::new(&format!("/proc/{pid}")).exists();
            }
            if start.elapsed() > timeout {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for pid in std::mem::take(&mut self.captures) {
            let _ = self.netlab().args(["capture-stop", &pid.to_string()]).output();
        }
        // netlab down terminates whatever still runs in the namespaces.
        let _ = self.netlab().arg("down").output();
        for mut c in std::mem::take(&mut self.procs) {
            let _ = c.kill();
            let _ = c.wait();
        }
        if !std::thread::panicking() && std::env::var_os("LVSKIT_KEEP_LAB").is_none() {
            let _ = fs::remove_dir_all(&self.dir);
        } else {
            eprintln!("lab files kept in {}", self.dir.display());
        }
    }
}

pub fn signal(pid: u32, sig: &str) {
    let _ = Command::new("kill").args([&format!("-{sig}"), &pid.to_string()]).status();
}

/// Polls `cond` every 5 ms until it holds; panics after `timeout`.
pub fn wait_for(timeout: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < timeout, "timed out after {timeout:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

pub struct Capture {
    pub pid: u32,
    pub path: PathBuf,
}

/// A running keepalived (parent and VRRP child).
pub struct Keepalived {
    pub pid_file: PathBuf,
    pub vrrp_pid_file: PathBuf,
    pub log: PathBuf,
    pub parent: u32,
}

fn read_pid(p: &Path) -> Option<u32> {
    fs::read_to_string(p).ok()?.trim().parse().ok()
}

impl Keepalived {
    pub fn parent_pid(&self) -> Option<u32> {
        read_pid(&self.pid_file)
    }

    pub fn vrrp_pid(&self) -> Option<u32> {
        read_pid(&self.vrrp_pid_file)
    }

    /// A crash: nothing runs after it (no priority 0, VIPs stay). The
    /// parent is stopped first so it can neither respawn the VRRP child nor,
    /// dying, make the child exit cleanly (keepalived sets PDEATHSIG).
    pub fn kill_hard(&self) {
        let (p, c) = (self.parent_pid().expect("parent pid"), self.vrrp_pid().expect("vrrp pid"));
        signal(p, "STOP");
        signal(c, "KILL");
        signal(p, "KILL");
    }

    /// A clean stop (the VRRP child sends priority 0 and removes its VIPs).
    pub fn terminate(&self) {
        signal(self.parent_pid().expect("parent pid"), "TERM");
    }

    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// How many times its log says the instance entered `state`.
    pub fn entered(&self, state: &str) -> usize {
        self.log_text().matches(&format!("Entering {state} STATE")).count()
    }
}

/// A running `vrrpd`.
pub struct Vrrpd {
    pub pid: u32,
    pub log: PathBuf,
}

impl Vrrpd {
    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn entered(&self, state: &str) -> usize {
        self.log_text().matches(&format!("Entering {state} STATE")).count()
    }

    pub fn kill_hard(&self) {
        signal(self.pid, "KILL");
    }

    pub fn terminate(&self) {
        signal(self.pid, "TERM");
    }

    /// The counters of the last `stats` line for instance `name`:
    /// `field -> value`.
    pub fn stats(&self, name: &str) -> std::collections::HashMap<String, u64> {
        let text = self.log_text();
        let line = text
            .lines()
            .rev()
            .find(|l| l.contains(&format!("({name}) stats ")))
            .unwrap_or_else(|| panic!("no stats line for {name} in\n{text}"));
        parse_fields(line)
    }

    pub fn driver_stats(&self) -> std::collections::HashMap<String, u64> {
        let text = self.log_text();
        let line = text.lines().rev().find(|l| l.contains("driver stats ")).expect("driver stats line");
        parse_fields(line)
    }
}

fn parse_fields(line: &str) -> std::collections::HashMap<String, u64> {
    let body = &line[line.find('{').expect("{")..];
    body.trim_matches(|c| c == '{' || c == '}' || c == ' ')
        .split(", ")
        .filter_map(|kv| {
            let (k, v) = kv.split_once(": ")?;
            Some((k.trim().to_owned(), v.trim().parse().ok()?))
        })
        .collect()
}

/// One captured frame.
#[derive(Debug, Clone)]
pub struct Frame {
    /// Seconds since the epoch.
    pub t: f64,
    pub src_mac: [u8; 6],
    pub data: Vec<u8>,
    pub line: Option<Line>,
}

impl Frame {
    /// A VRRP advert from host `h` (by MAC), with its priority.
    pub fn advert_from(&self, h: usize) -> Option<u8> {
        match &self.line {
            Some(Line::Advert { header, .. }) if self.src_mac == Lab::mac(h) => header.priority,
            _ => None,
        }
    }

    pub fn is_garp_from(&self, h: usize) -> bool {
        self.src_mac == Lab::mac(h) && matches!(self.line, Some(Line::Garp { .. }))
    }

    pub fn is_na_from(&self, h: usize) -> bool {
        self.src_mac == Lab::mac(h) && matches!(self.line, Some(Line::Una { .. }))
    }
}

pub fn read_pcap(path: &Path) -> Vec<Frame> {
    let f = fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut r = Reader::new(std::io::BufReader::new(f)).expect("pcap header");
    let link = r.link_type();
    let mut out = Vec::new();
    while let Ok(Some(rec)) = r.next_record() {
        let mut src_mac = [0u8; 6];
        if rec.data.len() >= 12 {
            src_mac.copy_from_slice(&rec.data[6..12]);
        }
        out.push(Frame {
            t: rec.timestamp.as_secs_f64(),
            src_mac,
            data: rec.data.to_vec(),
            line: inspect(link, rec.data),
        });
    }
    out
}

/// keepalived's and lvskit's timers (keepalived's integer arithmetic, in
/// seconds): Skew_Time and Master_Down_Interval for `priority` at
/// `advert_int`, VRRP `version`.
pub fn skew(version: u8, advert_int: f64, priority: u8) -> f64 {
    let pri = 256 - u64::from(priority);
    if version == 2 {
        (pri * 1_000_000 / 256) as f64 / 1e6
    } else {
        let cs = (advert_int * 100.0).round() as u64;
        (pri * cs * 625 / 16) as f64 / 1e6
    }
}

pub fn master_down(version: u8, advert_int: f64, priority: u8) -> f64 {
    3.0 * advert_int + skew(version, advert_int, priority)
}
