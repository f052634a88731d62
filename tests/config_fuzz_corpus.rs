//! Replays the fuzz corpora of the configuration readers on stable, so that
//! CI catches regressions without nightly: `fuzz/corpus/config_keepalived/`
//! (the `config_keepalived` target) and `fuzz/corpus/config_ipvsadm/` (the
//! `config_ipvsadm` target). The checks are the targets' own: both call
//! `lvskit::config::fuzzing`.

mod corpus_support;

use corpus_support::corpus;
use lvskit::config::fuzzing::{fuzz_ipvsadm, fuzz_keepalived};

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
