//! Exhaustive search, for cross-checking the solver on tiny instances.

use crate::instance::Instance;

/// The optimum by exhaustive search over every client's choice (exponential: use only for a handful
/// of clients). Ignores nothing: zero-score pairs and zero capacities are handled as given.
///
/// # Panics
/// If edges name out-of-range clients or providers (run [`Instance::validate`] first).
#[doc(hidden)]
pub fn brute_force(instance: &Instance) -> i64 {
    let n = instance.priorities.len();
    let mut by_client: Vec<Vec<(usize, i64)>> = vec![Vec::new(); n];
    for e in &instance.edges {
        let w = i64::from(instance.priorities[e.client as usize]) * i64::from(e.score);
        by_client[e.client as usize].push((e.provider as usize, w));
    }
    let mut load: Vec<u64> = vec![0; instance.capacities.len()];
    let caps: Vec<u64> = instance.capacities.iter().map(|&c| u64::from(c)).collect();
    fn go(c: usize, by_client: &[Vec<(usize, i64)>], caps: &[u64], load: &mut [u64]) -> i64 {
        if c == by_client.len() {
            return 0;
        }
        let mut best = go(c + 1, by_client, caps, load);
        for &(p, w) in &by_client[c] {
            if load[p] < caps[p] {
                load[p] += 1;
                best = best.max(w + go(c + 1, by_client, caps, load));
                load[p] -= 1;
            }
        }
        best
    }
    go(0, &by_client, &caps, &mut load)
}
