//! Helpers for the schedulers' unit tests: a TCP service on 192.0.2.1:80
//! with real servers 198.51.100.N:80 named by their last octet.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use crate::ipvs::sched::SchedParams;
use crate::ipvs::{Dest, DestConfig, Flow, Protocol, Service, ServiceConfig, ServiceFlags, ServiceKey};

pub(crate) const VIP: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));

pub(crate) fn ip(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(198, 51, 100, last))
}

pub(crate) fn sa(last: u8) -> SocketAddr {
    SocketAddr::new(ip(last), 80)
}

/// A service whose servers `(octet, weight)` are added in the order given.
pub(crate) fn service_with(name: &str, servers: &[(u8, u32)], literal_scan: bool) -> Service {
    // Without the literal scan, index from the first server on, so that the
    // tests exercise the index (the default waits for 64 servers).
    service_flags(
        name,
        servers,
        ServiceFlags::EMPTY,
        SchedParams { literal_scan, index_from: 0, ..SchedParams::default() },
    )
}

pub(crate) fn service_flags(name: &str, servers: &[(u8, u32)], flags: ServiceFlags, params: SchedParams) -> Service {
    let key = ServiceKey::addr(Protocol::Tcp, VIP, 80);
    let mut svc = Service::with_params(ServiceConfig::new(key, name).flags(flags), params).unwrap();
    for &(s, w) in servers {
        svc.add_dest(DestConfig::masq(ip(s), 80).weight(w)).unwrap();
    }
    svc
}

pub(crate) fn client(last: u8, port: u16) -> Flow {
    Flow::new(Protocol::Tcp, IpAddr::V4(Ipv4Addr::new(203, 0, 113, last)), port, VIP, 80)
}

pub(crate) fn octet(d: &Dest) -> u8 {
    match d.addr() {
        IpAddr::V4(a) => a.octets()[3],
        IpAddr::V6(a) => a.octets()[15],
    }
}

pub(crate) fn pick_flow(svc: &mut Service, flow: &Flow, now: Instant) -> Option<u8> {
    svc.schedule(flow, now).map(|d| octet(d))
}

pub(crate) fn pick_opt(svc: &mut Service) -> Option<u8> {
    pick_flow(svc, &client(1, 1000), Instant::now())
}

pub(crate) fn pick(svc: &mut Service) -> u8 {
    pick_opt(svc).expect("a server")
}

pub(crate) fn picks(svc: &mut Service, n: usize) -> Vec<u8> {
    (0..n).map(|_| pick_opt(svc).unwrap_or(0)).collect()
}

pub(crate) fn dest(svc: &Service, last: u8) -> &Arc<Dest> {
    svc.dest(sa(last)).expect("server in the service")
}

pub(crate) fn set_conns(svc: &Service, last: u8, active: u32, inactive: u32) {
    dest(svc, last).set_conns(active, inactive);
}

pub(crate) fn overload(svc: &Service, last: u8, on: bool) {
    dest(svc, last).set_overloaded(on);
}

pub(crate) fn edit_weight(svc: &mut Service, last: u8, weight: u32) {
    let cfg = dest(svc, last).config().weight(weight);
    svc.edit_dest(cfg).unwrap();
}

pub(crate) fn add(svc: &mut Service, last: u8, weight: u32) {
    svc.add_dest(DestConfig::masq(ip(last), 80).weight(weight)).unwrap();
}

pub(crate) fn del(svc: &mut Service, last: u8) -> Arc<Dest> {
    svc.del_dest(sa(last)).unwrap()
}
