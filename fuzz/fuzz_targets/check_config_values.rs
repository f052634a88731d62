//! Fuzzes the small parsers of checker settings and tracked files: hex
//! patterns, status-code sets, digests, DNS names and types, file values.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lvskit::check::{dns, file, http, spec, udp};

fuzz_target!(|data: &[u8]| {
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
});
