//! The bodies of the `check_*` fuzz targets (`fuzz/fuzz_targets/check_*.rs`),
//! shared with `tests/check_fuzz_corpus.rs`, which replays the corpora on
//! stable. Not part of the API: each panics when an invariant breaks.

use super::http::{MAX_HEAD, ResponseReader};
use super::outcome::Failure;
use super::smtp::{MAX_PENDING, SmtpDialogue, SmtpStep};
use super::spec::UrlSpec;
use super::{dns, file, http, icmp, spec, udp};

/// What [`http_response`] fed: the reader, the bytes passed on as body,
/// and the error that stopped the feeding.
#[doc(hidden)]
pub struct HttpFed {
    /// The reader after the feeding.
    pub reader: ResponseReader,
    /// Body bytes passed on.
    pub hashed: usize,
    /// The error that stopped the feeding, if any.
    pub err: Option<Failure>,
}

/// The `check_http_response` target: the first byte picks a chunk size
/// (1 to 64) for the rest, the response. The reader never holds more than
/// `MAX_HEAD` bytes, finds the head exactly where the first `\r\n\r\n`
/// ends (if within `MAX_HEAD`) and fails it as too long otherwise. `None`
/// for empty input.
#[doc(hidden)]
pub fn http_response(data: &[u8]) -> Option<HttpFed> {
    let (&cut, body) = data.split_first()?;
    let chunk = (cut as usize % 64) + 1;
    let mut r = ResponseReader::new();
    let mut hashed = 0usize;
    let mut fed = 0usize;
    let mut err = None;
    for c in body.chunks(chunk) {
        let res = r.feed(c, &mut |b| hashed += b.len());
        fed += c.len();
        assert!(r.buffered() <= MAX_HEAD, "{} bytes buffered", r.buffered());
        if let Err(e) = res {
            assert_eq!(e, Failure::HttpHeadTooLong { limit: MAX_HEAD });
            assert!(!r.head_complete() && fed >= MAX_HEAD);
            err = Some(e);
            break;
        }
    }
    // The oracle: where the first blank line ends.
    let end = body.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4);
    let in_head = end.filter(|&e| e <= MAX_HEAD);
    assert_eq!(err.is_some(), in_head.is_none() && body.len() >= MAX_HEAD);
    assert_eq!(r.head_complete(), in_head.is_some());
    match in_head {
        Some(e) => assert!(hashed <= body.len() - e),
        None => assert_eq!(hashed, 0),
    }
    let verdict = r.finish(&UrlSpec::new("/"), Some([0; 16]));
    if !r.head_complete() {
        assert_eq!(verdict, Err(Failure::HttpNoData));
    }
    Some(HttpFed { reader: r, hashed, err })
}

/// The `check_dns_reply` target: the reply reader and the verdict on it,
/// for the query id the input starts with.
#[doc(hidden)]
pub fn dns_reply(data: &[u8]) -> dns::ReplyVerdict {
    let _ = dns::parse_reply(data);
    let id = data.get(..2).map_or(0, |b| u16::from_be_bytes([b[0], b[1]]));
    dns::judge_reply(id, data)
}

/// Feeds `data` to an SMTP dialogue in chunks of `chunk` bytes: `Ok(true)`
/// done, `Ok(false)` waiting for more, or the failure.
fn smtp_run(data: &[u8], chunk: usize) -> Result<bool, Failure> {
    let mut d = SmtpDialogue::new("fuzz.example");
    for c in data.chunks(chunk) {
        let mut input = c;
        loop {
            match d.feed(input)? {
                SmtpStep::Done => return Ok(true),
                SmtpStep::Read => break,
                SmtpStep::Write(w) => {
                    assert!(w.ends_with(b"\r\n"));
                    input = &[];
                }
            }
        }
    }
    Ok(false)
}

/// The `check_smtp_reply` target: the first byte picks a chunk size (1 to
/// 32, or up to 16 KiB a read, as the runner reads up to 64 KiB) for the
/// rest, the server's bytes. No panic, and, while the input fits in the
/// bound on bytes held ahead of the dialogue, the outcome does not depend
/// on how the bytes were cut. The outcome of the chunked run (see
/// `smtp_run`); `None` for empty input.
#[doc(hidden)]
pub fn smtp_reply(data: &[u8]) -> Option<Result<bool, Failure>> {
    let (&cut, rest) = data.split_first()?;
    let chunk = if cut & 0x80 != 0 { ((cut as usize & 0x7f) + 1) * 128 } else { (cut as usize % 32) + 1 };
    let chunked = smtp_run(rest, chunk);
    if rest.len() <= MAX_PENDING {
        assert_eq!(chunked, smtp_run(rest, rest.len().max(1)), "chunk {chunk}");
        assert_eq!(chunked, smtp_run(rest, 1), "chunk {chunk} vs bytewise");
    }
    Some(chunked)
}

/// The `check_icmp` target: the ICMP reader in every socket mode.
#[doc(hidden)]
pub fn icmp(data: &[u8]) {
    for v6 in [false, true] {
        for raw in [false, true] {
            let _ = icmp::parse(v6, raw, data);
            let _ = icmp::judge(v6, raw, Some((1, 2)), data);
            let _ = icmp::judge(v6, raw, None, data);
        }
    }
}

/// The `check_config_values` target: the small parsers of checker settings
/// and tracked files (hex patterns, status-code sets, digests, DNS names
/// and types, file values); status sets and DNS queries round-trip.
#[doc(hidden)]
pub fn config_values(data: &[u8]) {
    let _ = file::parse_value(data);
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = udp::BytePattern::parse_hex(s, true);
        let _ = udp::BytePattern::parse_hex(s, false);
        if let Ok(set) = http::StatusSet::parse(s.split_whitespace()) {
            assert_eq!(http::StatusSet::parse(set.to_string().split_whitespace()).ok(), Some(set));
        }
        let _ = spec::parse_digest(s);
        if dns::validate_name(s).is_ok() {
            let q = dns::build_query(7, s, dns::DnsType::A);
            assert!(dns::parse_reply(&q).is_ok());
        }
        let _ = dns::DnsType::from_name(s);
        let _ = http::HttpProtocol::from_name(s);
    }
}
