//! Replays the seed corpora of the `check_*` fuzz targets on stable, with
//! the targets' own bodies, so CI catches regressions without nightly.

use std::path::Path;

use lvskit::check::http::{MAX_HEAD, ResponseReader};
use lvskit::check::smtp::{SmtpDialogue, SmtpStep};
use lvskit::check::spec::UrlSpec;
use lvskit::check::{dns, file, http, icmp, spec, udp};

fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus").join(target);
    let mut v: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&p).unwrap()))
        .collect();
    v.sort();
    assert!(!v.is_empty(), "empty corpus {target}");
    v
}

#[test]
fn check_http_response() {
    for (name, data) in corpus("check_http_response") {
        let Some((&cut, body)) = data.split_first() else { continue };
        let chunk = (cut as usize % 64) + 1;
        let mut r = ResponseReader::new();
        let mut hashed = 0usize;
        let mut err = None;
        for c in body.chunks(chunk) {
            if let Err(e) = r.feed(c, &mut |b| hashed += b.len()) {
                err = Some(e);
                break;
            }
        }
        assert!(hashed <= body.len(), "{name}");
        assert!(r.buffered() <= MAX_HEAD, "{name}");
        let verdict = r.finish(&UrlSpec::new("/"), None);
        match name.as_str() {
            "ok" | "long_body" | "short_body" => assert!(verdict.is_ok(), "{name}: {verdict:?}"),
            "endless" | "head-one-past-max" => {
                assert_eq!(err, Some(lvskit::check::Failure::HttpHeadTooLong { limit: MAX_HEAD }), "{name}")
            }
            "head-ends-at-max" => assert!(err.is_none() && verdict.is_ok(), "{name}: {verdict:?}"),
            "500" | "garbage" | "no_reason" | "no_head_end" | "lf_only" => assert!(verdict.is_err(), "{name}"),
            _ => {}
        }
    }
}

#[test]
fn check_dns_reply() {
    for (name, data) in corpus("check_dns_reply") {
        let _ = dns::parse_reply(&data);
        let id = data.get(..2).map_or(0, |b| u16::from_be_bytes([b[0], b[1]]));
        let v = dns::judge_reply(id, &data);
        match name.as_str() {
            "ok" | "soa_root" => assert_eq!(v, dns::ReplyVerdict::Up, "{name}"),
            "query" | "short" => assert_eq!(v, dns::ReplyVerdict::Ignore, "{name}"),
            _ => assert!(matches!(v, dns::ReplyVerdict::Down(_)), "{name}: {v:?}"),
        }
    }
}

#[test]
fn check_smtp_reply() {
    for (name, data) in corpus("check_smtp_reply") {
        let Some((&cut, rest)) = data.split_first() else { continue };
        let mut d = SmtpDialogue::new("fuzz.example");
        let mut outcome = None;
        // The fuzz target's chunking: small reads, or up to 16 KiB.
        let chunk = if cut & 0x80 != 0 { ((cut as usize & 0x7f) + 1) * 128 } else { (cut as usize % 32) + 1 };
        'outer: for c in rest.chunks(chunk) {
            let mut input = c;
            loop {
                match d.feed(input) {
                    Ok(SmtpStep::Done) => {
                        outcome = Some(true);
                        break 'outer;
                    }
                    Err(_) => {
                        outcome = Some(false);
                        break 'outer;
                    }
                    Ok(SmtpStep::Read) => break,
                    Ok(SmtpStep::Write(_)) => input = &[],
                }
            }
        }
        let ok = matches!(name.as_str(), "ok" | "multiline" | "long-multiline-banner-one-read");
        assert_eq!(outcome, Some(ok), "{name}");
    }
}

#[test]
fn check_icmp() {
    for (name, data) in corpus("check_icmp") {
        for v6 in [false, true] {
            for raw in [false, true] {
                let _ = icmp::parse(v6, raw, &data);
                let _ = icmp::judge(v6, raw, Some((1, 2)), &data);
                let _ = icmp::judge(v6, raw, None, &data);
            }
        }
        match name.as_str() {
            "echo_reply" => assert_eq!(icmp::judge(false, false, Some((9, 3)), &data), icmp::EchoVerdict::Up),
            "unreach_ipv4" => {
                assert!(matches!(icmp::judge(false, true, Some((9, 3)), &data), icmp::EchoVerdict::Down(_)))
            }
            "v6_reply" => assert_eq!(icmp::judge(true, false, Some((9, 3)), &data), icmp::EchoVerdict::Up),
            "v6_unreach" => {
                assert!(matches!(icmp::judge(true, false, Some((9, 3)), &data), icmp::EchoVerdict::Down(_)))
            }
            _ => {}
        }
    }
}

#[test]
fn check_config_values() {
    for (_name, data) in corpus("check_config_values") {
        let _ = file::parse_value(&data);
        if let Ok(s) = std::str::from_utf8(&data) {
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
}
