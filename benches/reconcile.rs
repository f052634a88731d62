//! The pure side of applying a large IPVS table (no kernel needed; the
//! kernel side is `examples/ipvs_apply_bench.rs`, run in the VM):
//!
//! * `plan/*`: `reconcile::plan` over 10 000 services × 4 real servers, the
//!   table unchanged and with one server's weight changed (the full diff a
//!   `reconcile` call makes after reading the table): O(services + servers).
//! * `encode/new_dest` (feature `netlink`): one `IPVS_CMD_NEW_DEST` request,
//!   attributes built and encoded, as a batch does 40 000 times.
//! * `decode/service_dump` (feature `netlink`): a captured kernel dump of
//!   three services decoded into the model.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use lvskit::backend::reconcile::plan;
use lvskit::backend::{DesiredService, DesiredState, ReconcileOptions};
use lvskit::ipvs::{DestConfig, DestSnapshot, Protocol, ServiceConfig, ServiceKey, ServiceSnapshot};

const SERVICES: u32 = 10_000;

fn vip(i: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(u32::from(Ipv4Addr::new(198, 18, 0, 0)) + i))
}

fn dest(d: u8) -> DestConfig {
    DestConfig::masq(IpAddr::V4(Ipv4Addr::new(198, 19, 0, d)), 8080).weight(u32::from(d))
}

fn table() -> (Vec<ServiceSnapshot>, DesiredState) {
    let desired: DesiredState = (0..SERVICES)
        .map(|i| {
            DesiredService::new(
                ServiceConfig::new(ServiceKey::addr(Protocol::Tcp, vip(i), 80), "wlc"),
                (1..=4).map(dest).collect(),
            )
        })
        .collect();
    let current = desired
        .iter()
        .map(|s| ServiceSnapshot {
            config: s.config.clone(),
            dests: s
                .dests
                .iter()
                .rev()
                .map(|d| DestSnapshot {
                    config: *d,
                    active_conns: 0,
                    inactive_conns: 0,
                    persistent_conns: 0,
                    stats: Default::default(),
                    rates: Default::default(),
                })
                .collect(),
            stats: Default::default(),
            rates: Default::default(),
        })
        .collect();
    (current, desired)
}

fn plans(c: &mut Criterion) {
    let (current, desired) = table();
    let mut changed = desired.clone();
    let key = ServiceKey::addr(Protocol::Tcp, vip(SERVICES / 2), 80);
    changed.get_mut(&key).unwrap().dests[1] = dest(2).weight(9);
    let opts = ReconcileOptions::default();
    let mut g = c.benchmark_group("plan");
    g.throughput(Throughput::Elements(u64::from(SERVICES)));
    g.bench_function("unchanged_10000x4", |b| b.iter(|| black_box(plan(black_box(&current), &desired, &opts))));
    g.bench_function("one_weight_10000x4", |b| {
        b.iter(|| {
            let p = plan(black_box(&current), &changed, &opts);
            assert_eq!(p.ops.len(), 1);
            black_box(p)
        })
    });
    g.finish();
}

#[cfg(all(feature = "netlink", target_os = "linux"))]
fn codec(c: &mut Criterion) {
    use lvskit::backend::netlink::family::{
        CmdAttr, IpvsCmd, IpvsMessage, decode_replies, dest_attrs, encode_request, service_key_attrs,
    };
    use lvskit::ipvs::Family;
    let key = ServiceKey::addr(Protocol::Tcp, vip(7), 80);
    let mut buf = Vec::with_capacity(256);
    c.bench_function("encode/new_dest", |b| {
        b.iter(|| {
            buf.clear();
            let msg = IpvsMessage::new(
                IpvsCmd::NewDest,
                vec![CmdAttr::Service(service_key_attrs(black_box(&key))), CmdAttr::Dest(dest_attrs(&dest(3)))],
            );
            encode_request(msg, 32, 0, 1, &mut buf);
            black_box(buf.len())
        })
    });
    let dump = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/ipvs/list-3-recv.bin")).unwrap();
    c.bench_function("decode/service_dump_3", |b| {
        b.iter(|| black_box(decode_replies(black_box(&dump), 32, Family::V4).unwrap().len()))
    });
}

#[cfg(not(all(feature = "netlink", target_os = "linux")))]
fn codec(_: &mut Criterion) {}

criterion_group!(benches, plans, codec);
criterion_main!(benches);
