//! Replays the `ipvs_reply` fuzz target's corpus (`fuzz/corpus/ipvs_reply/`)
//! on stable, exactly as the target feeds it, so that CI catches a
//! regression without nightly: no input may panic the decoder.
#![cfg(all(feature = "netlink", target_os = "linux"))]

mod corpus_support;

use corpus_support::corpus;
use lvskit::backend::netlink::family::decode_replies;
use lvskit::ipvs::Family;

#[test]
fn ipvs_reply_corpus_decodes_without_panicking() {
    let mut n = 0;
    for (_, data) in corpus("ipvs_reply") {
        let Some((&sel, buf)) = data.split_first() else { continue };
        let family = if sel & 1 == 0 { Family::V4 } else { Family::V6 };
        let _ = decode_replies(buf, 32, family);
        n += 1;
    }
    assert!(n >= 20, "corpus entries: {n}");
}
