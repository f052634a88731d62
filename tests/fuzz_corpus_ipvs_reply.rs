//! Replays the `ipvs_reply` fuzz target's corpus (`fuzz/corpus/ipvs_reply/`)
//! on stable, exactly as the target feeds it, so that CI catches a
//! regression without nightly: no input may panic the decoder.
#![cfg(all(feature = "netlink", target_os = "linux"))]

use lvskit::backend::netlink::family::decode_replies;
use lvskit::ipvs::Family;

#[test]
fn ipvs_reply_corpus_decodes_without_panicking() {
    let dir = format!("{}/fuzz/corpus/ipvs_reply", env!("CARGO_MANIFEST_DIR"));
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{dir}: {e}")) {
        let data = std::fs::read(entry.expect("entry").path()).expect("read");
        let Some((&sel, buf)) = data.split_first() else { continue };
        let family = if sel & 1 == 0 { Family::V4 } else { Family::V6 };
        let _ = decode_replies(buf, 32, family);
        n += 1;
    }
    assert!(n >= 20, "corpus entries: {n}");
}
