//! Property tests and round trips for the checkers' protocol pieces.

use lvskit::check::dns::{self, DnsType};
use lvskit::check::file;
use lvskit::check::http::{ResponseReader, StatusSet};
use lvskit::check::icmp;
use lvskit::check::smtp::{SmtpDialogue, SmtpStep};
use lvskit::check::spec::UrlSpec;
use lvskit::check::udp::BytePattern;
use proptest::prelude::*;

fn label() -> impl Strategy<Value = String> {
    "[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?"
}

fn chunked(data: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut at = 0;
    for &c in cuts {
        let end = (at + c).min(data.len());
        out.push(data[at..end].to_vec());
        at = end;
    }
    out.push(data[at..].to_vec());
    out
}

proptest! {
    /// A query parses back as a message with its ID and one question, and
    /// an answer built on it is judged by its RCODE.
    #[test]
    fn dns_query_round_trip(id: u16, labels in proptest::collection::vec(label(), 0..5), rcode in 0u8..16, t in 0usize..9) {
        let name = labels.join(".");
        prop_assume!(dns::validate_name(&name).is_ok());
        let qtype = [DnsType::A, DnsType::Ns, DnsType::Cname, DnsType::Soa, DnsType::Mx, DnsType::Txt, DnsType::Aaaa, DnsType::Rrsig, DnsType::Dnskey][t];
        let q = dns::build_query(id, &name, qtype);
        let r = dns::parse_reply(&q).unwrap();
        prop_assert_eq!((r.id, r.qdcount, r.ancount, r.is_response()), (id, 1, 0, false));
        prop_assert_eq!(DnsType::from_name(&qtype.name().to_lowercase()), Some(qtype));
        let mut a = q.clone();
        a[2] = 0x81;
        a[3] = 0x80 | rcode;
        a[6..8].copy_from_slice(&1u16.to_be_bytes());
        a.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1]);
        let v = dns::judge_reply(id, &a);
        if rcode == 0 { prop_assert_eq!(v, dns::ReplyVerdict::Up); } else { prop_assert!(matches!(v, dns::ReplyVerdict::Down(_))); }
        // Any truncation of a valid answer is malformed (or too short to be ours).
        let cut = a.len() - 1;
        prop_assert!(!matches!(dns::judge_reply(id, &a[..cut]), dns::ReplyVerdict::Up));
    }

    /// However a response is cut into reads, the reader finds the same
    /// status and passes exactly the first Content-Length body bytes on.
    #[test]
    fn http_reader_is_chunking_invariant(
        status in 100u16..600,
        headers in proptest::collection::vec("[A-Za-z-]{1,12}: [ -~]{0,30}", 0..6),
        body in proptest::collection::vec(any::<u8>(), 0..300),
        cl in proptest::option::of(0usize..400),
        cuts in proptest::collection::vec(1usize..50, 0..20),
    ) {
        let mut resp = format!("HTTP/1.1 {status} Reason\r\n").into_bytes();
        for h in &headers {
            prop_assume!(!h.contains("Content-Length"));
            resp.extend_from_slice(h.as_bytes());
            resp.extend_from_slice(b"\r\n");
        }
        if let Some(cl) = cl {
            resp.extend_from_slice(format!("Content-Length: {cl}\r\n").as_bytes());
        }
        resp.extend_from_slice(b"\r\n");
        prop_assume!(resp.len() < 4000);
        resp.extend_from_slice(&body);
        let mut r = ResponseReader::new();
        let mut got = Vec::new();
        for c in chunked(&resp, &cuts) {
            r.feed(&c, &mut |b| got.extend_from_slice(b)).unwrap();
        }
        let want = match cl { Some(n) => &body[..n.min(body.len())], None => &body[..] };
        prop_assert_eq!(&got[..], want);
        prop_assert_eq!(r.status(), Some(status));
        let url = UrlSpec::new("/").status(StatusSet::parse([status.to_string().as_str()]).unwrap());
        let s = r.finish(&url, None).unwrap();
        prop_assert_eq!(s.body_bytes, body.len() as u64);
        prop_assert_eq!(s.content_length, cl.map(|c| c as u64));
    }

    /// Status sets print in keepalived's syntax and parse back.
    #[test]
    fn status_set_round_trip(ranges in proptest::collection::vec((100u16..600, 0u16..20), 1..8)) {
        let mut s = StatusSet::empty();
        for (a, n) in ranges {
            s.insert_range(a, (a + n).min(599)).unwrap();
        }
        let text = s.to_string();
        prop_assert_eq!(StatusSet::parse(text.split_whitespace()).unwrap(), s);
    }

    /// Hex patterns: any bytes written as hex (with or without blanks) read back.
    #[test]
    fn hex_pattern_round_trip(data in proptest::collection::vec(any::<u8>(), 1..40), spaced: bool) {
        let sep = if spaced { " " } else { "" };
        let text: Vec<String> = data.iter().map(|b| format!("{b:02x}")).collect();
        let p = BytePattern::parse_hex(&text.join(sep), true).unwrap();
        prop_assert_eq!(&p.data, &data);
        prop_assert!(p.mask.iter().all(|m| *m == 0));
        prop_assert!(p.matches(&data));
    }

    /// An echo request parses back with its identifier and sequence, and
    /// its checksum verifies.
    #[test]
    fn icmp_echo_round_trip(id: u16, seq: u16, v6: bool) {
        let p = icmp::build_echo(v6, id, seq);
        let m = icmp::parse(v6, false, &p).unwrap();
        prop_assert_eq!((m.id, m.seq), (id, seq));
        if !v6 { prop_assert_eq!(icmp::checksum(&p), 0); }
        let mut reply = p.clone();
        reply[0] = if v6 { icmp::V6_ECHO_REPLY } else { icmp::V4_ECHO_REPLY };
        prop_assert_eq!(icmp::judge(v6, false, Some((id, seq)), &reply), icmp::EchoVerdict::Up);
    }

    /// Tracked-file numbers in decimal, hex and octal read back.
    #[test]
    fn file_values_round_trip(v in any::<i32>(), form in 0u8..3, pad in "[ \t\n]{0,3}") {
        let text = match form {
            0 => format!("{pad}{v}\n"),
            1 if v >= 0 => format!("{pad}0x{v:x}"),
            2 if v >= 0 => format!("{pad}0{v:o}"),
            _ => format!("{v}"),
        };
        prop_assert_eq!(file::parse_value(text.as_bytes()), Some(i64::from(v)));
    }

    /// The SMTP dialogue reaches the same outcome whatever the reads.
    #[test]
    fn smtp_is_chunking_invariant(cont in 0usize..4, cuts in proptest::collection::vec(1usize..20, 0..30), ok: bool) {
        let mut server = Vec::new();
        for _ in 0..cont { server.extend_from_slice(b"220-hello there\r\n"); }
        server.extend_from_slice(if ok { b"220 ready\r\n" } else { b"421 busy\r\n" });
        server.extend_from_slice(b"250 ok\r\n221 bye\r\n");
        let mut d = SmtpDialogue::new("probe");
        let mut writes = Vec::new();
        let mut result = None;
        'outer: for c in chunked(&server, &cuts) {
            let mut input: &[u8] = &c;
            loop {
                match d.feed(input) {
                    Ok(SmtpStep::Write(w)) => writes.extend(w),
                    Ok(SmtpStep::Done) => { result = Some(true); break 'outer; }
                    Ok(SmtpStep::Read) => break,
                    Err(_) => { result = Some(false); break 'outer; }
                }
                input = &[];
            }
        }
        prop_assert_eq!(result, Some(ok));
        if ok { prop_assert_eq!(writes, b"HELO probe\r\nQUIT\r\n".to_vec()); }
    }
}
