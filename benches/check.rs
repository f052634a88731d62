//! The pure health-check engine's costs: one probe cycle of the
//! `HealthChecker` (launch, result, reschedule) with 10 000 checkers, and
//! the protocol readers a runner calls per response.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use lvskit::check::dns::{self, DnsType};
use lvskit::check::http::ResponseReader;
use lvskit::check::spec::UrlSpec;
use lvskit::check::{CheckerSpec, HealthChecker, ProbeResult, RealServerSpec, VirtualServerSpec};
use lvskit::ipvs::{DestConfig, Protocol, ServiceConfig, ServiceKey};
use rand::SeedableRng;

fn checker(n: usize) -> (HealthChecker, Instant) {
    let mut vss = Vec::new();
    for v in 0..n.div_ceil(100) {
        let mut vs = VirtualServerSpec::new(ServiceConfig::new(
            ServiceKey::addr(Protocol::Tcp, IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), 1000 + v as u16),
            "rr",
        ))
        .delay_loop(Duration::from_secs(1));
        for i in v * 100..((v + 1) * 100).min(n) {
            let ip = IpAddr::V4(Ipv4Addr::new(198, 51, 100, (i % 250) as u8 + 1));
            vs = vs.real_server(
                RealServerSpec::new(DestConfig::masq(ip, 10_000 + (i / 250) as u16)).checker(CheckerSpec::tcp()),
            );
        }
        vss.push(vs);
    }
    let start = Instant::now();
    (HealthChecker::new(vss, rand::rngs::StdRng::seed_from_u64(1), start).unwrap(), start)
}

fn engine(c: &mut Criterion) {
    let (mut hc, start) = checker(10_000);
    let mut now = start;
    let mut batch = Vec::with_capacity(1024);
    let mut g = c.benchmark_group("check/engine");
    g.throughput(Throughput::Elements(1));
    // One probe cycle per iteration: the due timer fires, the probe is
    // polled, its result comes back and the next probe is scheduled.
    g.bench_function("probe_cycle_10k_checkers", |b| {
        b.iter(|| {
            if batch.is_empty() {
                let due = hc.poll_timeout().unwrap();
                now = now.max(due);
                hc.handle_timeout(now);
                while let Some(p) = hc.poll_probe() {
                    batch.push(p.id);
                }
                while hc.poll_event().is_some() {}
            }
            if let Some(id) = batch.pop() {
                hc.handle_result(id, ProbeResult::Success, now + Duration::from_micros(100)).unwrap();
            }
        })
    });
    g.finish();
}

fn readers(c: &mut Criterion) {
    let mut resp =
        b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 1024\r\nServer: bench\r\n\r\n".to_vec();
    resp.extend(std::iter::repeat_n(b'x', 1024));
    let url = UrlSpec::new("/");
    let mut g = c.benchmark_group("check/readers");
    g.throughput(Throughput::Bytes(resp.len() as u64));
    g.bench_function("http_response_1k", |b| {
        b.iter(|| {
            let mut r = ResponseReader::new();
            let mut n = 0usize;
            r.feed(black_box(&resp), &mut |d| n += d.len()).unwrap();
            black_box(r.finish(&url, None).unwrap());
            n
        })
    });
    let mut reply = dns::build_query(0x1234, "www.example.com", DnsType::A);
    reply[2] = 0x81;
    reply[3] = 0x80;
    reply[6..8].copy_from_slice(&2u16.to_be_bytes());
    for _ in 0..2 {
        reply.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1]);
    }
    g.throughput(Throughput::Bytes(reply.len() as u64));
    g.bench_function("dns_reply", |b| b.iter(|| black_box(dns::judge_reply(0x1234, black_box(&reply)))));
    g.finish();
}

criterion_group!(benches, engine, readers);
criterion_main!(benches);
