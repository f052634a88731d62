//! [`SyncGroup`]: keepalived's `vrrp_sync_group`, instances that change
//! state together (`keepalived/vrrp/vrrp_sync.c` and the transition matrix
//! in `vrrp_scheduler.c`).
//!
//! * A member may only become master when every other member wants to
//!   (`vrrp_sync_can_goto_master`); the last one to time out takes them
//!   all to MASTER (`vrrp_sync_master`).
//! * A member yielding to a higher priority takes them all to BACKUP
//!   (`vrrp_sync_backup`).
//! * A member going to FAULT takes them all to FAULT (`vrrp_sync_fault`),
//!   and they come back only when no member is faulted any more.
//! * Without `sync_group_tracking_weight`, weighted tracking is ignored in
//!   members (interfaces and weight-1 files become unweighted, other
//!   weighted objects are dropped), as keepalived does.
//! * If any member is not an address owner starting as MASTER, every
//!   member starts as BACKUP.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::time::Instant;

use super::config::{ConfigError, ConfigWarning};
use super::instance::{FaultEdge, Input, RxMeta, SyncView, VrrpInstance};
use super::output::{Action, Event, Reason, State, Transmit};

/// A change of the group's own state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupEvent {
    /// Before.
    pub from: State,
    /// After.
    pub to: State,
}

/// A `vrrp_sync_group`: members move between BACKUP, MASTER and FAULT
/// together. Drive it like a [`VrrpInstance`]; inputs and outputs name
/// the member by its index in [`members`](Self::members).
#[derive(Debug, Clone)]
pub struct SyncGroup {
    name: String,
    members: Vec<VrrpInstance>,
    state: State,
    warnings: Vec<ConfigWarning>,
    events: VecDeque<GroupEvent>,
}

impl SyncGroup {
    /// Groups `members` (built but not started) under `name`;
    /// `tracking_weight` is keepalived's `sync_group_tracking_weight`.
    pub fn new(
        name: impl Into<String>,
        mut members: Vec<VrrpInstance>,
        tracking_weight: bool,
    ) -> Result<Self, ConfigError> {
        let name = name.into();
        if members.is_empty() {
            return Err(ConfigError::SyncGroup { group: name, message: "no matching virtual router found".into() });
        }
        for (i, m) in members.iter().enumerate() {
            if m.is_started() {
                return Err(ConfigError::SyncGroup {
                    group: name,
                    message: format!("{} is already running", m.name()),
                });
            }
            if members[..i].iter().any(|o| o.name() == m.name()) {
                return Err(ConfigError::SyncGroup {
                    group: name,
                    message: format!("virtual router {} cannot be in a sync group twice", m.name()),
                });
            }
        }
        let mut warnings = Vec::new();
        if members.len() == 1 {
            warnings.push(ConfigWarning {
                instance: members[0].name().to_owned(),
                keyword: "vrrp_sync_group",
                message: format!("Sync group {name} has only 1 virtual router(s) - this probably isn't what you want"),
            });
        }
        if !tracking_weight {
            for m in &mut members {
                warnings.extend(m.drop_weighted_tracking());
            }
        }
        // vrrp_complete_init: members start as MASTER only if all can.
        let want_master = |m: &VrrpInstance| m.wanted_state() == State::Master;
        let any_backup = members.iter().any(|m| !want_master(m) || m.base_priority() != 255);
        if any_backup && members.iter().any(want_master) {
            for m in &mut members {
                if want_master(m) {
                    m.set_wantstate(State::Backup);
                }
            }
        }
        let state = if any_backup { State::Backup } else { State::Master };
        Ok(SyncGroup { name, members, state, warnings, events: VecDeque::new() })
    }

    /// Adds the group's own `track_interface`, `track_script` and
    /// `track_file` entries to every member (before [`Input::Startup`]).
    /// As keepalived adds them after trimming the members' weights
    /// (`sync_group_tracking_init`), they keep their weights, unless a
    /// member is an address owner: then they become unweighted.
    pub fn with_group_tracking(mut self, objects: Vec<super::TrackedObject>) -> Self {
        let owner = self.members.iter().any(|m| m.base_priority() == 255);
        for mut o in objects {
            if owner && o.weight != 0 {
                self.warnings.push(ConfigWarning {
                    instance: self.name.clone(),
                    keyword: "track",
                    message: format!(
                        "Cannot have weighted track {} '{}' with member having priority 255 - clearing weight",
                        o.kind, o.name
                    ),
                });
                o.weight = 0;
            }
            for m in &mut self.members {
                m.add_track(o.clone());
            }
        }
        self
    }

    /// The group's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The group's state.
    pub fn state(&self) -> State {
        self.state
    }

    /// The members.
    pub fn members(&self) -> &[VrrpInstance] {
        &self.members
    }

    /// The adjustments made when grouping.
    pub fn warnings(&self) -> &[ConfigWarning] {
        &self.warnings
    }

    fn view(&self, i: usize) -> SyncView {
        let others = self.members.iter().enumerate().filter(|(j, _)| *j != i).map(|(_, m)| m);
        SyncView {
            group_state: self.state,
            others_want_master: others.clone().all(|m| m.wanted_state() == State::Master),
            others_faulted: others.filter(|m| m.fault().is_some()).count(),
        }
    }

    fn set_state(&mut self, to: State) {
        if self.state != to {
            self.events.push_back(GroupEvent { from: self.state, to });
            self.state = to;
        }
    }

    /// `vrrp_sync_master`.
    fn sync_master(&mut self, now: Instant, i: usize) {
        if self.state == State::Master || !self.view(i).can_goto_master() {
            return;
        }
        for j in 0..self.members.len() {
            if j != i && self.members[j].state() != State::Master {
                self.members[j].set_wantstate(State::Master);
                let v = self.view(j);
                self.members[j].goto_master(now, Some(&v), Reason::SyncGroup);
            }
        }
        self.set_state(State::Master);
    }

    /// `vrrp_sync_backup`.
    fn sync_backup(&mut self, now: Instant, i: usize) {
        if self.state == State::Backup {
            return;
        }
        for j in 0..self.members.len() {
            if j == i || self.members[j].state() == State::Backup {
                continue;
            }
            self.members[j].set_wantstate(State::Backup);
            let v = self.view(j);
            match self.members[j].state() {
                State::Fault | State::Init => self.members[j].leave_fault(now, Some(&v), Reason::SyncGroup),
                State::Master => self.members[j].leave_master(now, false, Reason::SyncGroup),
                _ => {}
            }
        }
        self.set_state(State::Backup);
    }

    /// `vrrp_sync_fault`.
    fn sync_fault(&mut self, now: Instant, i: usize) {
        if self.state == State::Fault {
            return;
        }
        for j in 0..self.members.len() {
            if j != i {
                self.members[j].sync_to_fault(now);
            }
        }
        self.set_state(State::Fault);
    }

    /// The transition matrix (`VRRP_TSM`) after member `i` handled a packet
    /// or a timeout.
    fn transition(&mut self, now: Instant, i: usize, prev: State) {
        match (prev, self.members[i].state()) {
            (State::Backup | State::Master | State::Fault, State::Master) => self.sync_master(now, i),
            (State::Master, State::Backup) => self.sync_backup(now, i),
            _ => {}
        }
        if std::mem::take(&mut self.members[i].lower_prio_seen) {
            for j in 0..self.members.len() {
                if j != i {
                    self.members[j].sync_lower_prio_garps(now);
                }
            }
        }
    }

    fn fault_edge(&mut self, now: Instant, i: usize, edge: Option<FaultEdge>, others_faulted: usize) {
        match edge {
            Some(FaultEdge::Down) if others_faulted == 0 => self.sync_fault(now, i),
            Some(FaultEdge::Up) if others_faulted == 0 => {
                if self.members[i].state() == State::Master {
                    self.sync_master(now, i);
                } else {
                    self.sync_backup(now, i);
                }
            }
            _ => {}
        }
    }

    /// A received VRRP packet for member `i` (see
    /// [`VrrpInstance::handle_advert`]).
    pub fn handle_advert(&mut self, now: Instant, i: usize, meta: RxMeta, bytes: &[u8]) {
        let Some(m) = self.members.get_mut(i) else { return };
        let prev = m.state();
        m.receive(now, meta, bytes);
        self.transition(now, i, prev);
    }

    /// A whole IPv4 packet for member `i` (see
    /// [`VrrpInstance::handle_ipv4_packet`]).
    pub fn handle_ipv4_packet(&mut self, now: Instant, i: usize, bytes: &[u8]) {
        let Some(m) = self.members.get_mut(i) else { return };
        let prev = m.state();
        m.receive_ipv4(now, bytes);
        self.transition(now, i, prev);
    }

    /// Timers of every member.
    pub fn handle_timeout(&mut self, now: Instant) {
        for i in 0..self.members.len() {
            let prev = self.members[i].state();
            let v = self.view(i);
            self.members[i].timeout(now, Some(&v));
            self.transition(now, i, prev);
        }
    }

    /// An input for every member: [`Input::Startup`], [`Input::Shutdown`]
    /// and [`Input::Track`] (tracked objects are named globally).
    pub fn handle_input(&mut self, now: Instant, input: Input) {
        if input == Input::Startup {
            self.startup(now);
            return;
        }
        for i in 0..self.members.len() {
            self.handle_member_input(now, i, input.clone());
        }
    }

    /// An input for member `i` alone ([`Input::LinkUp`],
    /// [`Input::LinkDown`], [`Input::InterfaceAddress`] …).
    pub fn handle_member_input(&mut self, now: Instant, i: usize, input: Input) {
        if i >= self.members.len() {
            return;
        }
        if input == Input::Startup {
            self.startup(now);
            return;
        }
        let v = self.view(i);
        let prev = self.members[i].state();
        let removed = matches!(input, Input::AddressRemoved(_));
        let edge = self.members[i].input(now, input, Some(&v));
        if removed && prev == State::Master && self.members[i].state() == State::Backup {
            // keepalived's set_vrrp_backup: every other master of the group
            // goes to BACKUP the same way, to come back after Skew_Time.
            for j in 0..self.members.len() {
                if j != i && self.members[j].state() == State::Master {
                    self.members[j].backup_then_quick_master(now, Reason::SyncGroup);
                }
            }
            self.set_state(State::Backup);
        }
        self.fault_edge(now, i, edge, v.others_faulted);
        if self.members.iter().all(|m| m.state() == State::Stopped) {
            self.set_state(State::Stopped);
        }
    }

    /// `vrrp_init_state` for the whole group.
    fn startup(&mut self, now: Instant) {
        if self.members.iter().any(|m| m.is_started()) {
            return;
        }
        if self.members.iter().any(|m| m.current_fault().is_some()) {
            self.set_state(State::Fault);
        }
        for i in 0..self.members.len() {
            let v = self.view(i);
            self.members[i].startup(now, Some(&v));
        }
    }

    /// The earliest timer of any member.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.members.iter().filter_map(VrrpInstance::poll_timeout).min()
    }

    /// The next packet to send, and the member sending it.
    pub fn poll_transmit(&mut self) -> Option<(usize, Transmit)> {
        self.members.iter_mut().enumerate().find_map(|(i, m)| m.poll_transmit().map(|t| (i, t)))
    }

    /// The next host change, and its member.
    pub fn poll_action(&mut self) -> Option<(usize, Action)> {
        self.members.iter_mut().enumerate().find_map(|(i, m)| m.poll_action().map(|a| (i, a)))
    }

    /// The next member event.
    pub fn poll_event(&mut self) -> Option<(usize, Event)> {
        self.members.iter_mut().enumerate().find_map(|(i, m)| m.poll_event().map(|e| (i, e)))
    }

    /// The next change of the group's own state.
    pub fn poll_group_event(&mut self) -> Option<GroupEvent> {
        self.events.pop_front()
    }

    /// The member whose VRID and family match, to route a received advert.
    pub fn member_for(&self, vrid: u8, src: IpAddr) -> Option<usize> {
        self.members.iter().position(|m| m.vrid() == vrid && m.family() == crate::wire::Family::of(src))
    }
}
