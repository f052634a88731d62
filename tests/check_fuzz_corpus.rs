//! Replays the seed corpora of the `check_*` fuzz targets on stable, with
//! the targets' own bodies (`lvskit::check::fuzzing`), so CI catches
//! regressions without nightly.

mod corpus_support;

use corpus_support::corpus;
use lvskit::check::fuzzing::{self, HttpFed};
use lvskit::check::http::MAX_HEAD;
use lvskit::check::spec::UrlSpec;
use lvskit::check::{dns, icmp};

#[test]
fn check_http_response() {
    for (name, data) in corpus("check_http_response") {
        let Some(HttpFed { reader: r, hashed, err }) = fuzzing::http_response(&data) else { continue };
        let body = &data[1..];
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
        let v = fuzzing::dns_reply(&data);
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
        let Some(chunked) = fuzzing::smtp_reply(&data) else { continue };
        // Done, failed, or waiting for more.
        let outcome = match chunked {
            Ok(true) => Some(true),
            Err(_) => Some(false),
            Ok(false) => None,
        };
        let ok = matches!(name.as_str(), "ok" | "multiline" | "long-multiline-banner-one-read");
        assert_eq!(outcome, Some(ok), "{name}");
    }
}

#[test]
fn check_icmp() {
    for (name, data) in corpus("check_icmp") {
        fuzzing::icmp(&data);
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
        fuzzing::config_values(&data);
    }
}
