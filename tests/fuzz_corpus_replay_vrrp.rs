//! Replays the seed and regression corpora of the VRRP-side fuzz targets
//! (`fuzz/corpus/<target>/`) through the same checks the targets run
//! (`fuzz/vrrp_checks.rs`), so that CI catches regressions on stable.

#[path = "../fuzz/vrrp_checks.rs"]
mod checks;

mod corpus_support;

use corpus_support::corpus;

/// Runs `check` on every input (`corpus` refuses an empty corpus).
fn replay(target: &str, check: fn(&[u8])) {
    for (name, data) in corpus(target) {
        let outcome = std::panic::catch_unwind(|| check(&data));
        assert!(outcome.is_ok(), "{target}: {name} fails");
    }
}

#[test]
fn wire_vrrp() {
    replay("wire_vrrp", checks::wire_vrrp);
}

#[test]
fn wire_arp() {
    replay("wire_arp", checks::wire_arp);
}

#[test]
fn wire_ndisc() {
    replay("wire_ndisc", checks::wire_ndisc);
}

#[test]
fn wire_pcap() {
    replay("wire_pcap", checks::wire_pcap);
}

#[test]
fn vrrp_instance() {
    replay("vrrp_instance", checks::vrrp_instance);
}
