//! Replays the fuzz corpora of the configuration readers on stable, so that
//! CI catches regressions without nightly: `fuzz/corpus/config_keepalived/`
//! (the `config_keepalived` target) and `fuzz/corpus/config_ipvsadm/` (the
//! `config_ipvsadm` target). The checks are the targets' own.

use std::path::Path;

use lvskit::config::{HostInfo, LoadOptions, MemoryLoader, load};

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
