//! Replays the fuzz corpora of the configuration readers on stable, so that
//! CI catches regressions without nightly: `fuzz/corpus/config_keepalived/`
//! (the `config_keepalived` target) and `fuzz/corpus/config_ipvsadm/` (the
//! `config_ipvsadm` target). The checks are the targets' own.

use std::path::Path;

use lvskit::backend::{IpvsBackend, MemoryIpvs};
use lvskit::config::ipvsadm::{self, Command, ListFormat, ListOptions};
use lvskit::config::{HostInfo, LoadOptions, MemoryLoader, load};
use lvskit::ipvs::{DestConfig, ServiceConfig, ServiceKey};

fn corpus(name: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus").join(name);
    let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| {
            let p = e.expect("entry").path();
            (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&p).expect("read"))
        })
        .collect();
    v.sort();
    assert!(!v.is_empty(), "{}: empty corpus", dir.display());
    v
}

/// The `config_keepalived` fuzz target's body.
fn keepalived_one(data: &[u8]) {
    let (main, inc) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let loader =
        MemoryLoader::new().with("/etc/k/keepalived.conf", main.to_vec()).with("/etc/k/inc.conf", inc.to_vec());
    let opts = LoadOptions {
        config_id: Some("a".into()),
        host: HostInfo { interfaces: Some(vec!["lo".into(), "eth0".into()]) },
        max_generated_lines: Some(2000),
        ..LoadOptions::default()
    };
    let loaded = load("/etc/k/keepalived.conf", &loader, &opts);
    for d in loaded.diagnostics.iter().take(1000) {
        let _ = d.to_string();
        if let Some(s) = d.span {
            let f = loaded.document.sources().file(s.file);
            assert!(s.start <= s.end && s.end as usize <= f.text().len(), "span {s:?} outside {}", f.name());
        }
    }
    let _ = loaded.config.dump();
    let _ = loaded.config.ipvs_services();
    let _ = loaded.keepalived_verdict();
}

#[test]
fn keepalived_corpus_replays() {
    for (name, data) in corpus("config_keepalived") {
        let r = std::panic::catch_unwind(|| keepalived_one(&data));
        assert!(r.is_ok(), "fuzz/corpus/config_keepalived/{name} fails");
    }
}

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

/// The `config_ipvsadm` fuzz target's body.
fn ipvsadm_one(data: &[u8]) {
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
    for format in
        [ListFormat::Default, ListFormat::Stats, ListFormat::Rate, ListFormat::Thresholds, ListFormat::PersistentConn]
    {
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
}

#[test]
fn ipvsadm_corpus_replays() {
    for (name, data) in corpus("config_ipvsadm") {
        let r = std::panic::catch_unwind(|| ipvsadm_one(&data));
        assert!(r.is_ok(), "fuzz/corpus/config_ipvsadm/{name} fails");
    }
}
