//! Picking allocates nothing: a counting global allocator watches every
//! scheduler through `Service::schedule`, with connections bound and closed
//! between picks (the counter changes that indexed schedulers follow), over
//! many flows and destinations (lblc/lblcr caches filling).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lvskit::ipvs::sched::{NAMES, SchedParams};
use lvskit::ipvs::{Dest, DestConfig, Family, Flow, Protocol, Service, ServiceConfig, ServiceFlags, ServiceKey};

struct Counting;

thread_local! {
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: forwards every call to the system allocator unchanged; the only
// addition is a thread-local counter bump (a const-initialised Cell, which
// never allocates).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocs() -> u64 {
    ALLOCS.with(|c| c.get())
}

#[test]
fn picks_allocate_nothing() {
    let flows: Vec<Flow> = (0..2000u32)
        .map(|i| {
            let src = IpAddr::V4(Ipv4Addr::from(0xCB00_7100 + (i % 256)));
            let dst = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 128 + (i % 100) as u8));
            Flow::new(Protocol::Tcp, src, 1024 + i as u16, dst, 80).with_fwmark(1)
        })
        .collect();
    let flags = ServiceFlags::from_name("sh-port").unwrap() | ServiceFlags::from_name("sh-fallback").unwrap();
    for name in NAMES {
        let params = SchedParams { lblcr_expiration: Duration::from_secs(30), ..SchedParams::default() };
        let mut svc =
            Service::with_params(ServiceConfig::new(ServiceKey::fwmark(Family::V4, 1), name).flags(flags), params)
                .unwrap();
        for k in 0..64u32 {
            let addr = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1 + k as u8));
            svc.add_dest(DestConfig::masq(addr, 80).weight(1 + k % 5).thresholds(if k % 7 == 0 { 3 } else { 0 }, 0))
                .unwrap();
        }
        let mut open: Vec<(Arc<Dest>, bool)> = Vec::with_capacity(512);
        let t0 = Instant::now();
        let run = |svc: &mut Service, open: &mut Vec<(Arc<Dest>, bool)>, rounds: usize, from: usize| {
            for i in 0..rounds {
                let now = t0 + Duration::from_millis(((from + i) * 50) as u64);
                if let Some(d) = svc.schedule(&flows[(from + i) % flows.len()], now) {
                    let active = i % 3 != 0;
                    d.bind_conn(active);
                    if open.len() == open.capacity() {
                        let (old, was_active) = open.swap_remove((from + i) % open.len());
                        old.unbind_conn(was_active);
                    }
                    open.push((Arc::clone(d), active));
                }
            }
        };
        // Warm up: caches, sets and queues reach their working sizes.
        run(&mut svc, &mut open, 4000, 0);
        let before = allocs();
        run(&mut svc, &mut open, 20_000, 4000);
        let after = allocs();
        assert_eq!(after - before, 0, "{name}: {} allocation(s) in 20 000 picks", after - before);
    }
}
