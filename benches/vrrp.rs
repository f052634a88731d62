//! VRRP advert decode+verify and emit, ns per packet, for one-VIP adverts
//! as keepalived sends them (goal: under 30 ns each).
//!
//! * `decode_verify/*`: `Packet::new_checked` + `Repr::parse` (checksum
//!   verified, v3 with the pseudo-header) and a read of the address.
//! * `emit/*`: `Repr::emit` into a caller buffer, checksum included.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use lvskit::wire::vrrp::{Addrs, AuthType, Packet, Repr, Version};
use lvskit::wire::{Family, vrrp};

const SRC4: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 11));
const DST4: IpAddr = IpAddr::V4(vrrp::MCAST_V4);

fn cases() -> Vec<(&'static str, Vec<u8>, Family, IpAddr, IpAddr)> {
    let vip4 = [Ipv4Addr::new(192, 0, 2, 100)];
    let vip6: [Ipv6Addr; 1] = ["2001:db8::100".parse().unwrap()];
    let src6: IpAddr = "fe80::c0ff:fe00:20b".parse::<Ipv6Addr>().unwrap().into();
    let dst6: IpAddr = vrrp::MCAST_V6.into();
    let mut pass = Repr::advertisement(Version::V2, 52, 150, 1, Addrs::V4(&vip4));
    pass.auth_type = AuthType::SimplePassword;
    pass.auth_data = *b"1111\0\0\0\0";
    let mk = |r: Repr<'_>, src, dst| {
        let mut b = vec![0u8; r.buffer_len()];
        r.emit(&mut b, src, dst).unwrap();
        b
    };
    vec![
        (
            "v2_ipv4",
            mk(Repr::advertisement(Version::V2, 51, 150, 1, Addrs::V4(&vip4)), SRC4, DST4),
            Family::V4,
            SRC4,
            DST4,
        ),
        ("v2_ipv4_pass", mk(pass, SRC4, DST4), Family::V4, SRC4, DST4),
        (
            "v3_ipv4",
            mk(Repr::advertisement(Version::V3, 54, 150, 100, Addrs::V4(&vip4)), SRC4, DST4),
            Family::V4,
            SRC4,
            DST4,
        ),
        (
            "v3_ipv6",
            mk(Repr::advertisement(Version::V3, 56, 150, 100, Addrs::V6(&vip6)), src6, dst6),
            Family::V6,
            src6,
            dst6,
        ),
    ]
}

fn bench(c: &mut Criterion) {
    let cases = cases();
    let mut g = c.benchmark_group("decode_verify");
    g.throughput(Throughput::Elements(1));
    for (name, bytes, family, src, dst) in &cases {
        g.bench_function(*name, |b| {
            b.iter(|| {
                let packet = Packet::new_checked(black_box(&bytes[..]), *family).unwrap();
                let repr = Repr::parse(&packet, black_box(*src), black_box(*dst)).unwrap();
                black_box((repr.vrid, repr.priority, repr.addrs.get(0)))
            })
        });
    }
    g.finish();

    let mut g = c.benchmark_group("emit");
    g.throughput(Throughput::Elements(1));
    for (name, bytes, family, src, dst) in &cases {
        let packet = Packet::new_checked(&bytes[..], *family).unwrap();
        let repr = Repr::parse(&packet, *src, *dst).unwrap();
        let owned4: Vec<Ipv4Addr> =
            repr.addrs.iter().filter_map(|a| if let IpAddr::V4(a) = a { Some(a) } else { None }).collect();
        let owned6: Vec<Ipv6Addr> =
            repr.addrs.iter().filter_map(|a| if let IpAddr::V6(a) = a { Some(a) } else { None }).collect();
        let repr = Repr { addrs: if *family == Family::V4 { Addrs::V4(&owned4) } else { Addrs::V6(&owned6) }, ..repr };
        let mut buf = [0u8; 64];
        g.bench_function(*name, |b| {
            b.iter(|| black_box(&repr).emit(black_box(&mut buf), black_box(*src), black_box(*dst)).unwrap())
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
