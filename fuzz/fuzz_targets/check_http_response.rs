//! Fuzzes the HTTP response reader: any bytes, cut into chunks anywhere,
//! must give a verdict without panicking and with a bounded head.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lvskit::check::http::{MAX_HEAD, ResponseReader};
use lvskit::check::spec::UrlSpec;

fuzz_target!(|data: &[u8]| {
    let Some((&cut, body)) = data.split_first() else { return };
    let chunk = (cut as usize % 64) + 1;
    let mut r = ResponseReader::new();
    let mut hashed = 0usize;
    for c in body.chunks(chunk) {
        if r.feed(c, &mut |b| hashed += b.len()).is_err() {
            break;
        }
    }
    assert!(hashed <= body.len());
    let _ = r.finish(&UrlSpec::new("/"), Some([0; 16]));
    let _ = MAX_HEAD;
});
