// lvskit-test: vm
//! Against the real ipvsadm 1.31 and a real kernel IPVS table (in the IPVS
//! VM, `scripts/ipvs-vm`):
//!
//! * the recorded listings `tests/data/config/ipvsadm/*.out` are what
//!   ipvsadm prints today for the table of `table.cmds`;
//! * `ipvsadm -R` accepts lvskit's `save()` output and the kernel ends up
//!   with the same table (`ipvsadm -S -n` equals lvskit's);
//! * every command of `table.cmds`, read by lvskit and written back with
//!   `command_line()`, does to the kernel what the original command did.
//!
//! Outside the VM (no `IPVS_VM=1`) it prints a note and passes.

mod config_ipvsadm_support;

use std::io::Write as _;
use std::process::{Command as Process, Stdio};

use config_ipvsadm_support::{dir, lines, table};
use lvskit::backend::IpvsBackend;
use lvskit::config::ipvsadm::{self, Command};

fn ipvsadm(args: &[&str]) -> String {
    let out = Process::new("ipvsadm").args(args).output().expect("run ipvsadm");
    assert!(out.status.success(), "ipvsadm {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf-8")
}

fn restore(rules: &str) {
    let mut child = Process::new("ipvsadm").arg("-R").stdin(Stdio::piped()).spawn().expect("ipvsadm -R");
    child.stdin.take().expect("stdin").write_all(rules.as_bytes()).expect("write rules");
    assert!(child.wait().expect("wait").success(), "ipvsadm -R refused:\n{rules}");
}

fn build_real() {
    ipvsadm(&["-C"]);
    for l in lines("table.cmds") {
        let args: Vec<&str> = l.split_whitespace().collect();
        if args[0] == "--start-daemon" {
            continue;
        }
        ipvsadm(&args);
    }
}

#[test]
fn ipvsadm_agrees_with_lvskit() {
    if std::env::var("IPVS_VM").as_deref() != Ok("1") {
        eprintln!("note: not in the IPVS VM (IPVS_VM=1); run through scripts/test or scripts/ipvs-vm");
        return;
    }
    // 1. The recordings still hold (the daemons are started once, here).
    build_real();
    ipvsadm(&["--start-daemon", "master", "--mcast-interface", "lo", "--syncid", "7"]);
    ipvsadm(&[
        "--start-daemon",
        "backup",
        "--mcast-interface",
        "lo",
        "--syncid",
        "8",
        "--mcast-port",
        "8849",
        "--mcast-ttl",
        "3",
    ]);
    for l in lines("listings") {
        let (name, args) = l.split_once(':').expect("NAME: ARGS");
        let args: Vec<&str> = args.split_whitespace().collect();
        let want = std::fs::read_to_string(dir().join(format!("{name}.out"))).expect("recording");
        assert_eq!(ipvsadm(&args), want, "ipvsadm {}", args.join(" "));
    }
    ipvsadm(&["--stop-daemon", "master"]);
    ipvsadm(&["--stop-daemon", "backup"]);

    // 2. ipvsadm -R reads what lvskit saves.
    let mut mem = table("table.cmds");
    for numeric in [true, false] {
        let saved = ipvsadm::save(&mem.services().expect("services"), numeric);
        ipvsadm(&["-C"]);
        restore(&saved);
        let mut copy = lvskit::backend::MemoryIpvs::new();
        for op in ipvsadm::parse_rules(&saved).expect("lvskit reads its own rules") {
            copy.execute(&op).expect("applies");
        }
        assert_eq!(ipvsadm(&["-S", "-n"]), ipvsadm::save(&copy.services().expect("services"), true));
    }

    // 3. lvskit's command lines do what the originals do.
    build_real();
    let want = ipvsadm(&["-S", "-n"]);
    ipvsadm(&["-C"]);
    for l in lines("table.cmds") {
        let args: Vec<&str> = l.split_whitespace().collect();
        let Ok(Command::Op(op)) = ipvsadm::parse_args(&args) else { panic!("{l}") };
        if matches!(op, lvskit::backend::IpvsOp::StartDaemon(_)) {
            continue;
        }
        let line = ipvsadm::command_line(&op, false);
        let again: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(ipvsadm::parse_args(&again), Ok(Command::Op(op.clone())), "{line}");
        ipvsadm(&again);
    }
    assert_eq!(ipvsadm(&["-S", "-n"]), want);
    let thresholds = ipvsadm(&["-Ln", "--thresholds"]);
    assert_eq!(thresholds, std::fs::read_to_string(dir().join("thresholds.out")).expect("recording"));
}
