//! Replays the seed and regression corpora of the VRRP-side fuzz targets
//! (`fuzz/corpus/<target>/`) through the same checks the targets run
//! (`fuzz/vrrp_checks.rs`), so that CI catches regressions on stable.

#[path = "../fuzz/vrrp_checks.rs"]
mod checks;

use std::path::Path;

fn replay(target: &str, check: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus").join(target);
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        let outcome = std::panic::catch_unwind(|| check(&data));
        assert!(outcome.is_ok(), "{target}: {} fails", path.display());
        n += 1;
    }
    assert!(n > 0, "{target}: empty corpus");
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
