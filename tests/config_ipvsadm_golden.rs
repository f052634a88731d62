//! lvskit's `ipvsadm` renderings are the real ipvsadm 1.31's, character for
//! character: the table of `tests/data/config/ipvsadm/table.cmds` is read
//! with lvskit's command parser into the in-memory backend (which answers
//! like the kernel), then every listing of `listings` is rendered and
//! compared with `NAME.out`, which `scripts/record-ipvsadm-listings`
//! recorded from the real ipvsadm against a real kernel table (and
//! `tests/config_ipvsadm_vm.rs` re-checks in the VM).

use std::path::{Path, PathBuf};

use lvskit::backend::{IpvsBackend, MemoryIpvs};
use lvskit::config::ipvsadm::{self, Command};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/config/ipvsadm")
}

fn lines(name: &str) -> Vec<String> {
    std::fs::read_to_string(dir().join(name))
        .expect("data file")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(str::to_owned)
        .collect()
}

fn table() -> MemoryIpvs {
    let mut ipvs = MemoryIpvs::new();
    ipvs.add_interface("lo", 65536);
    for line in lines("table.cmds") {
        let args: Vec<&str> = line.split_whitespace().collect();
        match ipvsadm::parse_args(&args) {
            Ok(Command::Op(op)) => ipvs.execute(&op).unwrap_or_else(|e| panic!("{line}: {e}")),
            other => panic!("{line}: {other:?}"),
        }
    }
    ipvs
}

/// Renders what `ipvsadm ARGS` prints for the in-memory table.
fn render(ipvs: &mut MemoryIpvs, args: &[&str]) -> String {
    match ipvsadm::parse_args(args).unwrap_or_else(|e| panic!("{args:?}: {e}")) {
        Command::Save { numeric } => ipvsadm::save(&ipvs.services().expect("services"), numeric),
        Command::List(l) if l.timeout => ipvsadm::list_timeout(&ipvs.timeouts().expect("timeouts")),
        Command::List(l) if l.daemon => ipvsadm::list_daemons(&ipvs.daemons().expect("daemons")),
        Command::List(l) => ipvsadm::list(&ipvs.info().expect("info"), &ipvs.services().expect("services"), &l),
        other => panic!("{args:?}: not a listing: {other:?}"),
    }
}

#[test]
fn listings_match_ipvsadm() {
    let mut ipvs = table();
    let mut differ = Vec::new();
    let listings = lines("listings");
    assert!(listings.len() >= 13);
    for l in &listings {
        let (name, args) = l.split_once(':').expect("NAME: ARGS");
        let args: Vec<&str> = args.split_whitespace().collect();
        let got = render(&mut ipvs, &args);
        let want = std::fs::read_to_string(dir().join(format!("{name}.out"))).expect("recording");
        if got != want {
            differ.push(format!("ipvsadm {} ({name}):\n--- ipvsadm 1.31\n{want}--- lvskit\n{got}", args.join(" ")));
        }
    }
    assert!(differ.is_empty(), "{}", differ.join("\n"));
}

/// The services and servers of a table, as `ipvsadm -S` keeps them
/// (thresholds are not saved), in a fixed order.
fn contents(ipvs: &mut MemoryIpvs) -> Vec<(lvskit::ipvs::ServiceConfig, Vec<lvskit::ipvs::DestConfig>)> {
    let mut v: Vec<_> = ipvs
        .services()
        .expect("services")
        .into_iter()
        .map(|s| {
            let mut d: Vec<_> = s.dests.iter().map(|d| d.config.thresholds(0, 0)).collect();
            d.sort_by_key(|d| (d.addr, d.port));
            (s.config, d)
        })
        .collect();
    v.sort_by_key(|(s, _)| s.key);
    v
}

#[test]
fn saved_rules_restore_to_the_same_table() {
    let mut ipvs = table();
    let original = contents(&mut ipvs);
    for numeric in [true, false] {
        let saved = ipvsadm::save(&ipvs.services().expect("services"), numeric);
        let mut copy = MemoryIpvs::new();
        for op in ipvsadm::parse_rules(&saved).expect("restorable rules") {
            copy.execute(&op).expect("applies");
        }
        assert_eq!(contents(&mut copy), original);
    }
}

/// Every command line of `bad-commands` gets lvskit's verdict as ipvsadm
/// 1.31 gave it (`bad-commands.out`: arguments, exit code, message): the
/// same exit code and ipvsadm's message (lvskit may add the offending text
/// as `: `TEXT'`); what ipvsadm accepted, lvskit accepts.
#[test]
fn refusals_match_ipvsadm() {
    let recorded = std::fs::read_to_string(dir().join("bad-commands.out")).expect("recording");
    let mut differ = Vec::new();
    let mut n = 0;
    for line in recorded.lines() {
        let mut f = line.splitn(3, '\t');
        let (args, rc, msg) = (f.next().unwrap(), f.next().unwrap(), f.next().unwrap_or(""));
        let words: Vec<&str> = args.split_whitespace().collect();
        let got = ipvsadm::parse_args(&words);
        n += 1;
        match (rc, got) {
            ("0", Ok(_)) => {}
            ("0", Err(e)) => differ.push(format!("{args}: ipvsadm accepts, lvskit says {e}")),
            (_, Ok(c)) => differ.push(format!("{args}: ipvsadm says ({rc}) {msg}, lvskit accepts: {c:?}")),
            (_, Err(e)) => {
                let text = e.to_string();
                let same_text = text == msg
                    || text.strip_prefix(msg).is_some_and(|rest| rest.starts_with(": `") && rest.ends_with('\''));
                if !same_text || e.exit_code().to_string() != rc {
                    differ.push(format!("{args}:\n  ipvsadm ({rc}) {msg}\n  lvskit  ({}) {text}", e.exit_code()));
                }
            }
        }
    }
    assert!(n >= 100, "{n} recorded command lines");
    assert!(differ.is_empty(), "{}", differ.join("\n"));
}
