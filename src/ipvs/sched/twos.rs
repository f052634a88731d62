//! `twos`: power of two choices (`net/netfilter/ipvs/ip_vs_twos.c`, in the
//! kernel since 6.2; Debian's 6.1 lacks it, its 6.12 backport has it).
//!
//! Draws two servers at random, each with probability proportional to its
//! weight, and takes the one with the lower overhead per weight, the first
//! draw on a tie. The overhead is the 6.12 kernel's
//! `ip_vs_dest_conn_overhead`, `(active << 8) + inactive` (the 6.1 kernel
//! that lvskit's other schedulers follow counts `(active << 8) + total`; 6.1
//! has no twos). Exactly as the
//! kernel: with `T` the total weight of the servers that are not overloaded
//! and have a weight above 0, two numbers `r` are drawn uniformly from
//! `0..=T`, and each picks the first such server in list order at which the
//! running sum of weights reaches `r`; so the head server is a little more
//! likely (`(w + 1) / (T + 1)`) than its weight alone says. The comparison
//! `w2 * oh1 > w1 * oh2` is done in the kernel's 32-bit `int` arithmetic,
//! wrapping as the kernel's does.
//!
//! The draws come from a seeded RNG (xoshiro256++, whose output is fixed by
//! its specification, seeded with [`SchedParams::seed`](super::SchedParams::seed)),
//! so a run is reproducible; they cannot match the kernel's RNG, which is
//! why the kernel-agreement test checks twos by its distribution.
//!
//! The kernel walks the list twice per pick. From
//! [`INDEX_FROM`](super::INDEX_FROM) servers up lvskit keeps a Fenwick tree of
//! the usable weights, updated when a weight or
//! overload flag changes, and finds both servers in O(log n). Cost per pick:
//! two RNG draws and O(log n); with
//! [`SchedParams::literal_scan`](super::SchedParams::literal_scan), the
//! kernel's O(n) walk ([`PowerOfTwo::scan`]), drawing the same numbers.
//! Memory: 12 bytes per server.

use std::sync::Arc;

use rand::rngs::Xoshiro256PlusPlus;
use rand::{Rng, SeedableRng};

use super::index::{Adaptive, WeightSums};
use super::{SchedRequest, Scheduler, usable};
use crate::ipvs::dest::Dest;

/// Power of two choices.
#[derive(Debug)]
pub struct PowerOfTwo {
    rng: Xoshiro256PlusPlus,
    sums: Adaptive<WeightSums>,
}

/// The 6.12 kernel's `int` overhead `(active << 8) + inactive`, wrapping.
#[inline]
fn overhead_i32(d: &Dest) -> i32 {
    ((d.active_conns() as i32) << 8).wrapping_add(d.inactive_conns() as i32)
}

impl PowerOfTwo {
    /// A twos scheduler drawing from an RNG seeded with `seed`; with
    /// `literal_scan` it walks the list as the kernel does, otherwise it uses
    /// its index from `index_from` servers up (and walks below).
    pub fn new(seed: u64, literal_scan: bool, index_from: usize) -> Self {
        PowerOfTwo {
            rng: Xoshiro256PlusPlus::seed_from_u64(seed),
            sums: Adaptive::new((!literal_scan).then(WeightSums::default), index_from),
        }
    }

    /// `prandom_u32_max(t)`: a draw in `0..t` by multiply and shift.
    #[inline]
    fn draw(&mut self, t: u64) -> u64 {
        ((self.rng.next_u32() as u128 * t as u128) >> 32) as u64
    }

    /// The kernel's two walks (`ip_vs_twos_schedule`) for draws `r1`, `r2`:
    /// O(n).
    pub fn scan(dests: &[Arc<Dest>], r1: u64, r2: u64) -> Option<(usize, usize)> {
        let (mut rw1, mut rw2) = (r1 as i64, r2 as i64);
        let (mut c1, mut c2) = (None, None);
        for (i, d) in dests.iter().enumerate() {
            if !usable(d) {
                continue;
            }
            let w = d.weight() as i64;
            rw1 -= w;
            rw2 -= w;
            if rw1 <= 0 && c1.is_none() {
                c1 = Some(i);
            }
            if rw2 <= 0 && c2.is_none() {
                c2 = Some(i);
            }
            if c1.is_some() && c2.is_some() {
                break;
            }
        }
        Some((c1?, c2?))
    }
}

impl Scheduler for PowerOfTwo {
    fn name(&self) -> &'static str {
        "twos"
    }

    fn init(&mut self, dests: &[Arc<Dest>]) {
        self.sums.rebuild(dests);
    }

    fn add_dest(&mut self, dests: &[Arc<Dest>], index: usize) {
        self.sums.add(dests, index);
    }

    fn del_dest(&mut self, dests: &[Arc<Dest>], _removed: &Arc<Dest>, _index: usize) {
        self.sums.remove(dests);
    }

    fn update_dest(&mut self, dests: &[Arc<Dest>], index: usize) {
        self.sums.refresh(dests, index);
    }

    fn tracks_load(&self) -> bool {
        self.sums.live()
    }

    fn load_changed(&mut self, dests: &[Arc<Dest>], index: usize) {
        self.sums.refresh(dests, index);
    }

    fn schedule(&mut self, req: &SchedRequest<'_>) -> Option<usize> {
        let dests = req.dests;
        let total = match self.sums.get() {
            Some(s) => s.total(),
            None => dests.iter().filter(|d| usable(d)).map(|d| d.weight() as u64).sum(),
        };
        if total == 0 {
            return None;
        }
        // Drawn from 0..=total (the kernel adds 1 to make the bound inclusive).
        let r1 = self.draw(total + 1);
        let r2 = self.draw(total + 1);
        let (c1, c2) = match self.sums.get() {
            // A draw of 0 stops at the first usable server, as 1 does.
            Some(s) => (s.find(r1.max(1)), s.find(r2.max(1))),
            None => Self::scan(dests, r1, r2)?,
        };
        let (d1, d2) = (&dests[c1], &dests[c2]);
        let (w1, w2) = (d1.weight() as i32, d2.weight() as i32);
        if w2.wrapping_mul(overhead_i32(d1)) > w1.wrapping_mul(overhead_i32(d2)) { Some(c2) } else { Some(c1) }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use crate::ipvs::sched::SchedParams;

    #[test]
    fn draws_by_weight_and_prefers_the_lighter() {
        // Weights 1, 3 (list: 2(w3) 1(w1)), no connections: ties keep the
        // first draw, so picks follow the draw distribution: server 2 gets
        // (3 + 1) / 5 and server 1 1 / 5 of the draws.
        let params = SchedParams { seed: 42, index_from: 0, ..SchedParams::default() };
        let mut svc = service_flags("twos", &[(1, 1), (2, 3)], Default::default(), params);
        let n = 20_000;
        let ones = picks(&mut svc, n).iter().filter(|&&d| d == 1).count();
        let share = ones as f64 / n as f64;
        assert!((share - 0.2).abs() < 0.02, "server 1 share {share}");
        // A loaded server loses the comparison whenever it meets the other.
        set_conns(&svc, 2, 10, 0);
        let ones = picks(&mut svc, n).iter().filter(|&&d| d == 1).count();
        // 1 wins unless both draws land on 2: 1 - (4/5)^2 = 0.36.
        let share = ones as f64 / n as f64;
        assert!((share - 0.36).abs() < 0.02, "server 1 share {share}");
        overload(&svc, 2, true);
        assert_eq!(picks(&mut svc, 10), [1; 10]);
        edit_weight(&mut svc, 1, 0);
        assert_eq!(pick_opt(&mut svc), None);
    }

    #[test]
    fn index_and_scan_draw_the_same() {
        let servers = [(1, 5), (2, 0), (3, 2), (4, 7), (5, 1)];
        for seed in 0..20 {
            let a = SchedParams { seed, index_from: 0, ..SchedParams::default() };
            let b = SchedParams { seed, literal_scan: true, ..SchedParams::default() };
            let mut x = service_flags("twos", &servers, Default::default(), a);
            let mut y = service_flags("twos", &servers, Default::default(), b);
            for k in 0..50 {
                let (p, q) = (pick(&mut x), pick(&mut y));
                assert_eq!(p, q);
                dest(&x, p).bind_conn(k % 3 == 0);
                dest(&y, q).bind_conn(k % 3 == 0);
            }
        }
    }
}
