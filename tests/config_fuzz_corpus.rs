//! Replays the fuzz corpora of the configuration readers on stable, so that
//! CI catches regressions without nightly: `fuzz/corpus/config_keepalived/`
//! (the `config_keepalived` target) and `fuzz/corpus/config_ipvsadm/` (the
//! `config_ipvsadm` target). The checks are the targets' own: both call
//! `lvskit::config::fuzzing`.

use std::path::Path;

use lvskit::config::fuzzing::{fuzz_ipvsadm, fuzz_keepalived};

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

#[test]
fn keepalived_corpus_replays() {
    for (name, data) in corpus("config_keepalived") {
        let r = std::panic::catch_unwind(|| fuzz_keepalived(&data));
        assert!(r.is_ok(), "fuzz/corpus/config_keepalived/{name} fails");
    }
}

#[test]
fn ipvsadm_corpus_replays() {
    for (name, data) in corpus("config_ipvsadm") {
        let r = std::panic::catch_unwind(|| fuzz_ipvsadm(&data));
        assert!(r.is_ok(), "fuzz/corpus/config_ipvsadm/{name} fails");
    }
}
