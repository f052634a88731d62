// lvskit-test: root
//! Confirms the recordings `tests/config_verdicts.rs` checks lvskit against:
//! runs the real `keepalived -t` on every configuration of
//! `tests/data/config/verdicts/`, in a throw-away network namespace with
//! exactly `lo`, `eth0` and `eth1` (veth pairs with peers `peth0`, `peth1`)
//! and configuration id `lvskit`, exactly as
//! `scripts/record-keepalived-verdicts` made them, and compares exit status
//! and messages with `NAME.keepalived`.
//!
//! Runs when `LVSKIT_ROOT_TESTS=1` (scripts/test sets it as root) and
//! `/usr/sbin/keepalived` exists; otherwise it prints why and passes.

use std::path::{Path, PathBuf};
use std::process::Command;

const KEEPALIVED: &str = "/usr/sbin/keepalived";

struct Netns(String);

impl Netns {
    fn new() -> Netns {
        let name = format!("lvskit-cfg-{}", std::process::id());
        run(&["ip", "netns", "add", &name]);
        let ns = Netns(name);
        for i in 0..2 {
            let (eth, peer) = (format!("eth{i}"), format!("peth{i}"));
            run(&["ip", "-n", &ns.0, "link", "add", &eth, "type", "veth", "peer", "name", &peer]);
            run(&["ip", "-n", &ns.0, "link", "set", &eth, "up"]);
            run(&["ip", "-n", &ns.0, "link", "set", &peer, "up"]);
        }
        ns
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn run(args: &[&str]) {
    let st = Command::new(args[0]).args(&args[1..]).status().unwrap_or_else(|e| panic!("{args:?}: {e}"));
    assert!(st.success(), "{args:?} failed: {st}");
}

#[test]
fn recordings_match_the_real_keepalived() {
    if std::env::var("LVSKIT_ROOT_TESTS").as_deref() != Ok("1") {
        eprintln!("note: LVSKIT_ROOT_TESTS is not 1; not running keepalived (root test)");
        return;
    }
    if !Path::new(KEEPALIVED).exists() {
        eprintln!("note: {KEEPALIVED} is not installed; cannot confirm the recordings");
        return;
    }
    // The recordings are keepalived 2.2.7's: another version would differ
    // for reasons that are not lvskit's, so say which one is here.
    let v = Command::new(KEEPALIVED).arg("--version").output().expect("keepalived --version");
    let banner = String::from_utf8_lossy(&v.stderr).lines().next().unwrap_or("").to_owned();
    assert!(
        banner.starts_with("Keepalived v2.2.7 "),
        "the recordings were made with keepalived 2.2.7 (Debian 12); {KEEPALIVED} says {banner:?}"
    );
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let dir = root.join("tests/data/config/verdicts");
    let ns = Netns::new();
    let mut confs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("corpus")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "conf"))
        .collect();
    confs.sort();
    let prefix = format!("{}/", root.display());
    let mut differ = Vec::new();
    for conf in &confs {
        let out = Command::new("ip")
            .args(["netns", "exec", &ns.0, KEEPALIVED, "-t", "-i", "lvskit", "-f"])
            .arg(conf)
            .output()
            .expect("run keepalived");
        let verdict = match out.status.code() {
            Some(c) => format!("exit {c}"),
            None => "crash".to_owned(),
        };
        let mut got = format!("{verdict}\n");
        got.push_str(&String::from_utf8_lossy(&out.stderr).replace(&prefix, ""));
        let want = std::fs::read_to_string(conf.with_extension("keepalived")).expect("recording");
        if got.trim_end() != want.trim_end() {
            differ.push(format!("{}:\n--- recorded\n{want}--- keepalived now\n{got}", conf.display()));
        }
    }
    assert!(
        differ.is_empty(),
        "{} of {} recordings differ from keepalived:\n{}",
        differ.len(),
        confs.len(),
        differ.join("\n")
    );
}
