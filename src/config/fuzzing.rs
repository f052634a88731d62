//! The bodies of the configuration readers' fuzz targets
//! (`fuzz/fuzz_targets/config_keepalived.rs` and `config_ipvsadm.rs`),
//! shared with `tests/config_fuzz_corpus.rs`, which replays the corpora on
//! stable. Not part of the API: each panics when an invariant breaks.

use crate::backend::{IpvsBackend, MemoryIpvs};
use crate::config::ipvsadm::{self, Command, ListFormat, ListOptions};
use crate::config::{HostInfo, LoadOptions, MemoryLoader, load};
use crate::ipvs::{DestConfig, ServiceConfig, ServiceKey};

/// The `config_keepalived` target: `data` split at its first NUL into a main
/// file and `inc.conf`, loaded end to end; every diagnostic renders and
/// points inside its file; the directive tree read with the plain-line fast
/// path equals the one read without it.
#[doc(hidden)]
pub fn fuzz_keepalived(data: &[u8]) {
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
            let f = loaded.sources.file(s.file);
            assert!(s.start <= s.end && s.end as usize <= f.text().len(), "span {s:?} outside {}", f.name());
        }
    }
    let _ = loaded.config.dump();
    let _ = loaded.config.ipvs_services();
    let _ = loaded.keepalived_verdict();
    // The plain-line fast path reads the input as the general path does.
    let [fast, general] =
        crate::config::tree::read_both_ways(&loader, "/etc/k/keepalived.conf", &super::lex_options(&opts));
    assert_eq!(fast, general, "fast and general line readers differ");
}

/// The services and real servers of a table as `ipvsadm -S` keeps them
/// (thresholds zeroed, which it does not save), in a fixed order: what a
/// saved and restored table must equal. Also used by the ipvsadm tests.
#[doc(hidden)]
pub fn table_contents(ipvs: &mut MemoryIpvs) -> Vec<(ServiceConfig, Vec<DestConfig>)> {
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

/// The `config_ipvsadm` target: the rule-file and command-line readers,
/// `command_line` reading back as the same operation, every listing, and
/// `save` restoring the same table.
#[doc(hidden)]
pub fn fuzz_ipvsadm(data: &[u8]) {
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
    let want = table_contents(&mut ipvs);
    for numeric in [false, true] {
        let saved = ipvsadm::save(&services, numeric);
        let ops = ipvsadm::parse_rules(&saved).unwrap_or_else(|e| panic!("{e}\n{saved}"));
        let mut copy = MemoryIpvs::new();
        for op in &ops {
            copy.execute(op).unwrap_or_else(|e| panic!("{op:?}: {e}\n{saved}"));
        }
        assert_eq!(table_contents(&mut copy), want, "{saved}");
    }
}
