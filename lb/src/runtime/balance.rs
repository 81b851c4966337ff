//! Balancing algorithms over a backend's servers. Pure: the caller says which servers may
//! take a connection, the balancer says which one does.
use std::hash::{Hash, Hasher};
use std::net::IpAddr;
use std::sync::Mutex;

use crate::config::Algorithm;

/// What the balancer needs to know about one server at decision time.
#[derive(Debug, Clone, Copy)]
pub struct Slot {
    pub weight: u32,
    pub active: u64,
    /// The server may take this connection (usable, untried, under its maxconn).
    pub eligible: bool,
}

/// Per-backend balancing state; a new one is built on every swap.
#[derive(Debug)]
pub struct Balancer {
    algorithm: Algorithm,
    /// Smooth weighted round-robin credits (roundrobin, static-rr) or the leastconn tie
    /// breaker's rotating start.
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    credits: Vec<i64>,
    rotor: usize,
}

impl Balancer {
    pub fn new(algorithm: Algorithm) -> Self {
        Balancer {
            algorithm,
            state: Mutex::default(),
        }
    }

    /// Picks one eligible slot with a positive weight, or `None` if there is none.
    pub fn pick(&self, slots: &[Slot], client: IpAddr) -> Option<usize> {
        let total: u64 = slots
            .iter()
            .filter(|s| s.eligible)
            .map(|s| u64::from(s.weight))
            .sum();
        if total == 0 {
            return None;
        }
        match self.algorithm {
            // HAProxy's roundrobin is weighted and dynamic; static-rr differs only in how it
            // treats runtime weight changes, which here always arrive through a swap.
            Algorithm::Roundrobin | Algorithm::StaticRr => self.smooth_rr(slots, total),
            Algorithm::Leastconn => self.leastconn(slots),
            Algorithm::First => slots.iter().position(|s| s.eligible && s.weight > 0),
            Algorithm::Source => weighted_at(slots, source_hash(client) % total),
            Algorithm::Random => weighted_at(slots, fastrand::u64(..total)),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Nginx-style smooth weighted round robin: each pick adds every weight to its credit,
    /// takes the largest credit and charges it the total, so picks interleave by weight.
    fn smooth_rr(&self, slots: &[Slot], total: u64) -> Option<usize> {
        let mut state = self.lock();
        state.credits.resize(slots.len(), 0);
        let mut best: Option<usize> = None;
        for (i, slot) in slots.iter().enumerate() {
            if !slot.eligible || slot.weight == 0 {
                continue;
            }
            state.credits[i] += i64::from(slot.weight);
            if best.is_none_or(|b| state.credits[i] > state.credits[b]) {
                best = Some(i);
            }
        }
        let chosen = best?;
        state.credits[chosen] -= total as i64;
        Some(chosen)
    }

    /// Fewest active connections per unit of weight; ties rotate so that idle servers
    /// share the load.
    fn leastconn(&self, slots: &[Slot]) -> Option<usize> {
        let mut state = self.lock();
        let n = slots.len();
        let start = state.rotor % n.max(1);
        let mut best: Option<usize> = None;
        for k in 0..n {
            let i = (start + k) % n;
            let s = slots[i];
            if !s.eligible || s.weight == 0 {
                continue;
            }
            let better = best.is_none_or(|b| {
                let o = slots[b];
                u128::from(s.active) * u128::from(o.weight)
                    < u128::from(o.active) * u128::from(s.weight)
            });
            if better {
                best = Some(i);
            }
        }
        state.rotor = state.rotor.wrapping_add(1);
        best
    }
}

/// The eligible slot covering position `at` when the eligible weights are laid end to end.
fn weighted_at(slots: &[Slot], mut at: u64) -> Option<usize> {
    for (i, s) in slots.iter().enumerate() {
        if !s.eligible {
            continue;
        }
        let w = u64::from(s.weight);
        if at < w {
            return Some(i);
        }
        at -= w;
    }
    None
}

/// A stable hash of the client address (SipHash with fixed keys), so that a client keeps its
/// server while the set of servers stays the same.
fn source_hash(client: IpAddr) -> u64 {
    #[allow(deprecated)]
    let mut h = std::hash::SipHasher::new();
    client.hash(&mut h);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slots(weights: &[u32]) -> Vec<Slot> {
        weights
            .iter()
            .map(|&weight| Slot {
                weight,
                active: 0,
                eligible: true,
            })
            .collect()
    }

    fn counts(b: &Balancer, s: &[Slot], rounds: usize) -> Vec<usize> {
        let mut c = vec![0; s.len()];
        for i in 0..rounds {
            let ip = IpAddr::from([10, 0, (i / 256) as u8, (i % 256) as u8]);
            c[b.pick(s, ip).unwrap()] += 1;
        }
        c
    }

    #[test]
    fn round_robin_follows_weights_exactly() {
        let s = slots(&[1, 2, 3, 0]);
        for alg in [Algorithm::Roundrobin, Algorithm::StaticRr] {
            assert_eq!(counts(&Balancer::new(alg), &s, 600), [100, 200, 300, 0]);
        }
    }

    #[test]
    fn round_robin_interleaves() {
        let b = Balancer::new(Algorithm::Roundrobin);
        let s = slots(&[1, 1]);
        let picks: Vec<_> = (0..4)
            .map(|_| b.pick(&s, [0, 0, 0, 0].into()).unwrap())
            .collect();
        assert_eq!(picks, [0, 1, 0, 1]);
    }

    #[test]
    fn random_and_source_follow_weights_roughly() {
        let s = slots(&[1, 3]);
        for alg in [Algorithm::Random, Algorithm::Source] {
            let c = counts(&Balancer::new(alg), &s, 8000);
            assert!((1500..2500).contains(&c[0]), "{alg:?} {c:?}");
        }
    }

    #[test]
    fn source_is_sticky() {
        let b = Balancer::new(Algorithm::Source);
        let s = slots(&[1, 1, 1]);
        let ip: IpAddr = [192, 168, 1, 7].into();
        let first = b.pick(&s, ip);
        assert!((0..20).all(|_| b.pick(&s, ip) == first));
    }

    #[test]
    fn leastconn_prefers_fewest_per_weight() {
        let b = Balancer::new(Algorithm::Leastconn);
        let mut s = slots(&[1, 2]);
        s[0].active = 2;
        s[1].active = 3; // 1.5 per weight unit against 2
        assert_eq!(b.pick(&s, [0, 0, 0, 0].into()), Some(1));
    }

    #[test]
    fn first_takes_the_first_eligible() {
        let b = Balancer::new(Algorithm::First);
        let mut s = slots(&[1, 1]);
        assert_eq!(b.pick(&s, [0, 0, 0, 0].into()), Some(0));
        s[0].eligible = false;
        assert_eq!(b.pick(&s, [0, 0, 0, 0].into()), Some(1));
    }

    #[test]
    fn nothing_eligible_means_no_server() {
        let b = Balancer::new(Algorithm::Roundrobin);
        let mut s = slots(&[1, 1]);
        s.iter_mut().for_each(|x| x.eligible = false);
        assert_eq!(b.pick(&s, [0, 0, 0, 0].into()), None);
    }
}
