//! Fuzzes lvskit's ipvsadm formats: the rule-file reader (`parse_rules`),
//! the command-line reader (`parse_args`, one command per input line), the
//! command-line writer (`command_line` must read back as the same
//! operation), the listings, and `save` (what it writes must restore to the
//! same table). The body is kept identical to `ipvsadm_one` in
//! `tests/config_fuzz_corpus.rs`, which replays the corpus on stable.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lvskit::backend::{IpvsBackend, MemoryIpvs};
use lvskit::config::ipvsadm::{self, Command, ListFormat, ListOptions};
use lvskit::ipvs::{DestConfig, ServiceConfig, ServiceKey};

fn contents(ipvs: &mut MemoryIpvs) -> Vec<(ServiceConfig, Vec<DestConfig>)> {
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

fn words(line: &str) -> Vec<&str> {
    line.split_whitespace().collect()
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    match ipvsadm::parse_rules(&text) {
        Ok(ops) => assert!(ops.len() <= text.lines().count()),
        Err(e) => {
            let _ = e.to_string();
            for r in &e.errors {
                assert!(r.line >= 1 && r.line <= text.lines().count(), "{r}");
                assert!(r.column >= 1 && r.column <= r.text.chars().count() + 1, "{r}");
            }
        }
    }
    let mut ipvs = MemoryIpvs::new();
    ipvs.add_interface("lo", 65536);
    for line in text.lines().take(200) {
        match ipvsadm::parse_args(&words(line)) {
            Ok(Command::Op(op)) => {
                for numeric in [false, true] {
                    let again = ipvsadm::command_line(&op, numeric);
                    assert_eq!(ipvsadm::parse_args(&words(&again)), Ok(Command::Op(op.clone())), "{line} -> {again}");
                }
                let _ = ipvs.execute(&op);
            }
            Ok(Command::List(l)) => {
                let _ = ipvsadm::list(&ipvs.info().expect("info"), &ipvs.services().expect("services"), &l);
            }
            Ok(_) => {}
            Err(e) => {
                let _ = e.to_string();
            }
        }
    }
    let services = ipvs.services().expect("services");
    let info = ipvs.info().expect("info");
    for format in [ListFormat::Default, ListFormat::Stats, ListFormat::Rate, ListFormat::Thresholds, ListFormat::PersistentConn] {
        let _ = ipvsadm::list(&info, &services, &ListOptions { format, ..ListOptions::default() });
    }
    let _ = ipvsadm::list_timeout(&ipvs.timeouts().expect("timeouts"));
    let _ = ipvsadm::list_daemons(&ipvs.daemons().expect("daemons"));
    // ipvsadm -S writes marks above 2^31 negative, which nothing reads back.
    if services.iter().any(|s| matches!(s.config.key, ServiceKey::Fwmark { mark, .. } if mark > i32::MAX as u32)) {
        return;
    }
    let want = contents(&mut ipvs);
    for numeric in [false, true] {
        let saved = ipvsadm::save(&services, numeric);
        let ops = ipvsadm::parse_rules(&saved).unwrap_or_else(|e| panic!("{e}\n{saved}"));
        let mut copy = MemoryIpvs::new();
        for op in &ops {
            copy.execute(op).unwrap_or_else(|e| panic!("{op:?}: {e}\n{saved}"));
        }
        assert_eq!(contents(&mut copy), want, "{saved}");
    }
});
