// lvskit-test: root
//! The in-process ways to stop and signal a [`Driver`], on a namespace lab
//! (h1 runs the driver, the bridge is captured):
//!
//! * `handle_signals` a second time is refused with
//!   `RawSocketError::SignalsAlreadyHandled` and leaves the first handlers
//!   working (SIGUSR2 still yields `DriverEvent::Stats`);
//! * `Stopper::stop` from another thread makes a master send its priority 0
//!   advert, remove its VIP and return from `run` with `Ok`.

#![cfg(all(feature = "raw-socket", target_os = "linux"))]

mod lab;

use std::net::IpAddr;
use std::sync::mpsc;
use std::time::Duration;

use lab::{Lab, wait_for};
use lvskit::backend::raw_socket::{Driver, DriverEvent, RawSocketError, enter_netns};
use lvskit::vrrp::{Event, InitialState, InstanceConfig, State, VirtualAddress, VrrpInstance};
use lvskit::wire::vrrp::Version;

const VIP: &str = "192.0.2.100";

#[test]
fn second_handle_signals_is_refused_and_stopper_stops_cleanly() {
    if !lab::enabled("second_handle_signals_is_refused_and_stopper_stops_cleanly") {
        return;
    }
    let mut lab = Lab::up("ds", 1);
    let cap = lab.capture("segment");
    let ns = lab.ns(1);
    let (ready_tx, ready_rx) = mpsc::channel();
    let (event_tx, event_rx) = mpsc::channel::<String>();
    let thread = std::thread::spawn(move || -> Result<(), RawSocketError> {
        enter_netns(&ns)?;
        let vi = VrrpInstance::new(
            InstanceConfig::new("VI_1", 62)
                .interface("eth0")
                .priority(150)
                .state(InitialState::Master)
                .version(Version::V3)
                .advert_int(Duration::from_millis(100))
                .vip(format!("{VIP}/24").parse::<VirtualAddress>().unwrap()),
        )
        .unwrap();
        let mut driver = Driver::new()?;
        driver.add_instance(vi)?;
        driver.handle_signals()?;
        let second = driver.handle_signals();
        ready_tx.send((driver.stopper(), second.map_err(|e| e.to_string()))).unwrap();
        driver.run(|e| {
            let line = match e {
                DriverEvent::Instance { event: Event::StateChanged { to, .. }, .. } => format!("state {to:?}"),
                DriverEvent::Stats { instances, .. } => format!("stats {}", instances.len()),
                DriverEvent::ShuttingDown => "shutting down".to_owned(),
                DriverEvent::AddressRemoved { address, .. } => format!("removed {}", address.addr),
                _ => return,
            };
            let _ = event_tx.send(line);
        })
    });
    let (stopper, second) = ready_rx.recv_timeout(Duration::from_secs(10)).expect("driver ready");
    assert_eq!(
        second,
        Err("the driver already handles its signals (handle_signals called twice)".to_owned()),
        "a second handle_signals must be refused"
    );
    let mut seen = Vec::new();
    let collect = |seen: &mut Vec<String>| seen.extend(event_rx.try_iter());
    wait_for(Duration::from_secs(10), "the driver's master", || {
        collect(&mut seen);
        seen.iter().any(|l| l == &format!("state {:?}", State::Master)) && lab.has_addr(1, VIP)
    });

    // The first handlers still work: SIGUSR2 (to this process) -> Stats.
    lab::signal(std::process::id(), "USR2");
    wait_for(Duration::from_secs(5), "a stats event after SIGUSR2", || {
        collect(&mut seen);
        seen.iter().any(|l| l == "stats 1")
    });

    let t_stop = lab::epoch_now();
    stopper.stop();
    let result = thread.join().expect("driver thread");
    assert!(result.is_ok(), "{result:?}");
    collect(&mut seen);
    assert!(seen.iter().any(|l| l == "shutting down"), "{seen:?}");
    assert!(seen.iter().any(|l| l == &format!("removed {VIP}")), "{seen:?}");
    assert!(!lab.has_addr(1, VIP), "the VIP stayed after Stopper::stop");
    wait_for(Duration::from_secs(2), "the priority 0 advert in the capture", || {
        lab::read_pcap(&cap.path).iter().any(|f| f.t >= t_stop && f.advert_from(1) == Some(0))
    });
    let frames = lab.stop_capture(&cap);
    let zero = frames.iter().find(|f| f.t >= t_stop && f.advert_from(1) == Some(0)).unwrap().t;
    assert!(
        !frames.iter().any(|f| f.t > zero && f.advert_from(1).is_some_and(|p| p > 0)),
        "adverts after the priority 0 one"
    );
    let src = frames.iter().find_map(|f| match &f.line {
        Some(lvskit::wire::inspect::Line::Advert { src, header, .. }) if header.priority == Some(0) => Some(*src),
        _ => None,
    });
    assert_eq!(src, Some("192.0.2.11".parse::<IpAddr>().unwrap()));
}
