//! `wrr`: weighted round robin (`net/netfilter/ipvs/ip_vs_wrr.c`).
//!
//! The kernel keeps a cursor on the last server picked, a current weight
//! `cw`, the greatest common divisor `di` of the positive weights and
//! `mw = max weight - (di - 1)`. A pick walks the list from the server after
//! the cursor and takes the first that is not overloaded and has a weight of
//! at least `cw`; each time the walk passes the end of the list, `cw` drops
//! by `di`, and when it reaches 0 or less it starts again at `mw`. So per
//! cycle a server of weight `w` is picked `w / di` times, the heaviest first.
//! If a full pass down to `cw = 1` finds nothing, the pick fails (all
//! overloaded).
//!
//! Any change to the list or a weight (`add_dest`, `del_dest`, `upd_dest`)
//! recomputes `di` and `mw`, puts the cursor back at the head of the list,
//! and keeps `cw` if it still fits: reset to `mw` when it is above it (or 0),
//! otherwise rounded down to a multiple of `di`, plus 1, when `di > 1`.
//!
//! Cost per pick: O(1) amortised when most servers are usable, O(n * mw / di)
//! worst case (as the kernel). Memory: the cursor and three integers.

use std::sync::Arc;

use super::{SchedRequest, Scheduler};
use crate::ipvs::dest::Dest;

/// Weighted round robin.
#[derive(Debug, Clone, Default)]
pub struct WeightedRoundRobin {
    /// Index of the last server picked; `None` is the list head.
    cursor: Option<usize>,
    /// Current weight.
    cw: i64,
    /// Maximum weight minus `di - 1`.
    mw: i64,
    /// Greatest common divisor of the positive weights.
    di: i64,
}

fn gcd(mut a: i64, mut b: i64) -> i64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// `ip_vs_wrr_gcd_weight`: the gcd of the positive weights, 1 if none.
fn gcd_weight(dests: &[Arc<Dest>]) -> i64 {
    let g = dests.iter().map(|d| d.weight() as i64).filter(|&w| w > 0).fold(0, gcd);
    if g > 0 { g } else { 1 }
}

/// `ip_vs_wrr_max_weight`: the highest weight, 0 if none.
fn max_weight(dests: &[Arc<Dest>]) -> i64 {
    dests.iter().map(|d| d.weight() as i64).max().unwrap_or(0)
}

impl WeightedRoundRobin {
    /// A weighted round robin over an empty list.
    pub fn new() -> Self {
        WeightedRoundRobin { cursor: None, cw: 0, mw: 0, di: 1 }
    }

    /// `ip_vs_wrr_dest_changed`.
    fn changed(&mut self, dests: &[Arc<Dest>]) {
        self.cursor = None;
        self.di = gcd_weight(dests);
        self.mw = max_weight(dests) - (self.di - 1);
        if self.cw > self.mw || self.cw == 0 {
            self.cw = self.mw;
        } else if self.di > 1 {
            self.cw = (self.cw / self.di) * self.di + 1;
        }
    }
}

impl Scheduler for WeightedRoundRobin {
    fn name(&self) -> &'static str {
        "wrr"
    }

    /// `ip_vs_wrr_init_svc`.
    fn init(&mut self, dests: &[Arc<Dest>]) {
        self.cursor = None;
        self.di = gcd_weight(dests);
        self.mw = max_weight(dests) - (self.di - 1);
        self.cw = self.mw;
    }

    fn add_dest(&mut self, dests: &[Arc<Dest>], _index: usize) {
        self.changed(dests);
    }

    fn del_dest(&mut self, dests: &[Arc<Dest>], _removed: &Arc<Dest>, _index: usize) {
        self.changed(dests);
    }

    fn update_dest(&mut self, dests: &[Arc<Dest>], _index: usize) {
        self.changed(dests);
    }

    /// `ip_vs_wrr_schedule`, step for step: the walk continues from the
    /// cursor; passing the head lowers `cw`; `stop` bounds the last pass.
    fn schedule(&mut self, req: &SchedRequest<'_>) -> Option<usize> {
        let dests = req.dests;
        let n = dests.len();
        if self.mw == 0 {
            return None;
        }
        // Position: None = the list head, Some(i) = dests[i].
        let mut pos = self.cursor.filter(|&c| c < n);
        let last = pos;
        let mut stop: Option<usize> = None;
        let (mut last_pass, mut restarted) = (false, false);
        loop {
            let start = pos.map_or(0, |p| p + 1);
            for (i, d) in dests.iter().enumerate().skip(start) {
                if !d.is_overloaded() && d.weight() as i64 >= self.cw {
                    self.cursor = Some(i);
                    return Some(i);
                }
                if stop == Some(i) {
                    self.cursor = Some(i);
                    return None;
                }
            }
            pos = None; // walked past the end: at the head
            self.cw -= self.di;
            if self.cw <= 0 {
                self.cw = self.mw;
                // A full pass for weight >= 1 already happened from the head
                // (or this is the end of the last pass): give up.
                if last_pass || last.is_none() {
                    self.cursor = None;
                    return None;
                }
                restarted = true;
            }
            last_pass = self.cw <= self.di;
            if last_pass && restarted && last.is_some() {
                // The first traversal for weight >= 1 covered only the servers
                // after `last`: this one must also cover those up to it.
                stop = last;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;

    #[test]
    fn weights_4_3_2_in_kernel_order() {
        // Servers added 1(w4), 2(w3), 3(w2): list 3 2 1, di 1, mw 4. The
        // service starts empty, so after the first add cw is 4 - 3 = 1 and
        // the later adds keep it: the first cycle begins at cw 1.
        // cw 1: 3 2 1 | cw 4: 1 | cw 3: 2 1 | cw 2: 3 2 1 | cw 1: 3 2 ...
        let mut svc = service_with("wrr", &[(1, 4), (2, 3), (3, 2)], false);
        assert_eq!(picks(&mut svc, 11), [3, 2, 1, 1, 2, 1, 3, 2, 1, 3, 2]);
    }

    #[test]
    fn gcd_steps() {
        // Weights 4 (1) and 2 (2): di 2, mw 4 - 1 = 3, cw starts at 1.
        // cw 1: 2 1 | cw 3: 1 | cw 1: 2 1 | cw 3: 1
        let mut svc = service_with("wrr", &[(1, 4), (2, 2)], false);
        assert_eq!(picks(&mut svc, 6), [2, 1, 1, 2, 1, 1]);
    }

    #[test]
    fn change_resets_cursor_and_rounds_cw() {
        // Weights 1(w3) 2(w3): di 3, mw 1; every cw is 1: plain rotation.
        let mut svc = service_with("wrr", &[(1, 3), (2, 3)], false);
        assert_eq!(picks(&mut svc, 3), [2, 1, 2]);
        // Adding 3(w6): di 3, mw 4; cw 1 stays (not above mw, (1/3)*3+1 = 1);
        // the cursor goes back to the head: list 3 2 1 from the start.
        add(&mut svc, 3, 6);
        // cw 1: 3 2 1 | cw 4: 3 | cw 1: 3 2 1
        assert_eq!(picks(&mut svc, 7), [3, 2, 1, 3, 3, 2, 1]);
    }

    #[test]
    fn weight_zero_and_overload() {
        let mut svc = service_with("wrr", &[(1, 1), (2, 1)], false);
        edit_weight(&mut svc, 2, 0);
        assert_eq!(picks(&mut svc, 3), [1, 1, 1]);
        overload(&svc, 1, true);
        assert_eq!(pick_opt(&mut svc), None);
        overload(&svc, 1, false);
        assert_eq!(pick(&mut svc), 1);
        edit_weight(&mut svc, 1, 0);
        assert_eq!(pick_opt(&mut svc), None, "mw 0: no server");
    }
}
