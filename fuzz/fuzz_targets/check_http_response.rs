//! Fuzzes the HTTP response reader: any bytes, cut into chunks anywhere,
//! must give a verdict without panicking, with at most `MAX_HEAD` bytes
//! buffered at any time, and with the head found exactly where the first
//! `\r\n\r\n` ends (if within `MAX_HEAD`), failed as too long otherwise.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lvskit::check::Failure;
use lvskit::check::http::{MAX_HEAD, ResponseReader};
use lvskit::check::spec::UrlSpec;

fuzz_target!(|data: &[u8]| {
    let Some((&cut, body)) = data.split_first() else { return };
    let chunk = (cut as usize % 64) + 1;
    let mut r = ResponseReader::new();
    let mut hashed = 0usize;
    let mut fed = 0usize;
    let mut too_long = false;
    for c in body.chunks(chunk) {
        let res = r.feed(c, &mut |b| hashed += b.len());
        fed += c.len();
        assert!(r.buffered() <= MAX_HEAD, "{} bytes buffered", r.buffered());
        if let Err(e) = res {
            assert_eq!(e, Failure::HttpHeadTooLong { limit: MAX_HEAD });
            assert!(!r.head_complete() && fed >= MAX_HEAD);
            too_long = true;
            break;
        }
    }
    // The oracle: where the first blank line ends.
    let end = body.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4);
    let in_head = end.filter(|&e| e <= MAX_HEAD);
    assert_eq!(too_long, in_head.is_none() && body.len() >= MAX_HEAD);
    assert_eq!(r.head_complete(), in_head.is_some());
    match in_head {
        Some(e) => assert!(hashed <= body.len() - e),
        None => assert_eq!(hashed, 0),
    }
    let verdict = r.finish(&UrlSpec::new("/"), Some([0; 16]));
    if !r.head_complete() {
        assert_eq!(verdict, Err(Failure::HttpNoData));
    }
});
