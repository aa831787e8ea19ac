//! The primal-dual solver: successive shortest augmenting paths with dual prices, opening one slot
//! at a time (see the crate docs for the algorithm and the optimality argument).

use crate::instance::{Instance, ParseError};
use crate::queue::BucketQueue;

/// Sentinel for "no client / no provider / no slot".
const NONE: u32 = u32::MAX;
/// Dual values and path labels. Weights are at most 5 * 1000, duals and labels at most the largest
/// weight (plus the same again in intermediate sums), so `i32` is exact here; objectives and
/// certificate sums use `i64`.
type Val = i32;
/// "Not reached" label.
const INF: Val = Val::MAX / 4;
/// Dual of a removed client: so large that no search ever relaxes one of its pairs.
const GONE: Val = Val::MAX / 8;

/// A provider's pair with a client.
#[derive(Clone, Copy, Debug)]
struct PArc {
    /// The client.
    to: u32,
    /// `priority * score` (at most 5000 in a valid instance).
    w: u16,
    /// A lower bound on `u[to] - w`. Client duals never decrease (see the crate docs), so a bound
    /// computed once stays valid; each provider's pairs are kept sorted by `key`, so a search stops
    /// at the first pair whose bound already rules it out.
    key: i16,
}

/// Per-provider data touched on every search step, kept together for locality.
#[derive(Clone, Copy, Debug)]
struct PState {
    /// Price (dual) `v[p]`.
    v: Val,
    /// Search label (INF when untouched).
    dist: Val,
}

/// Where the cheapest way to fill the free slot starts.
#[derive(Clone, Copy, Debug)]
enum Start {
    /// At this unassigned client.
    Client(u32),
    /// By taking a client out of this provider, whose price falls to 0; for the target provider
    /// itself: no move at all, its price falls to 0.
    Stop(u32),
}

/// Recomputes the bounds of one provider's pairs from the current client duals and re-sorts them.
fn resort(arcs: &mut [PArc], u: &[Val]) {
    for a in arcs.iter_mut() {
        let k = u[a.to as usize] - Val::from(a.w);
        a.key = k.clamp(Val::from(i16::MIN), Val::from(i16::MAX)) as i16;
    }
    arcs.sort_unstable_by_key(|a| a.key);
}

/// An optimal assignment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Solution {
    /// `assignment[c]`: the provider of client `c`, or `None`.
    pub assignment: Vec<Option<u32>>,
    /// Sum of `priority * score` over the assigned pairs.
    pub objective: i64,
}

impl Solution {
    /// How many clients are assigned.
    pub fn assigned(&self) -> usize {
        self.assignment.iter().filter(|a| a.is_some()).count()
    }
}

/// The solver state: the instance in CSR form (by provider), the current assignment and the dual
/// prices that prove it optimal. See the crate docs.
#[derive(Debug)]
pub struct Solver {
    n: usize,
    m: usize,
    // provider -> clients, positive-weight pairs only
    p_off: Vec<usize>,
    p_arcs: Vec<PArc>,
    /// Per provider: pair reads wasted on stale bounds since the last re-sort (`u32::MAX`: never
    /// sorted). A provider is re-sorted once this reaches its degree, which keeps the re-sorting
    /// cost within the waste it saves.
    waste: Vec<u32>,
    /// Capacities as given (plus increments).
    cap: Vec<u64>,
    /// Open slots: `min(cap, number of positive pairs)` (an equivalent capacity) once solved.
    cap_eff: Vec<u32>,
    // slots: provider p owns slots[slot_off[p] ..][.. cap_eff[p]], the first load[p] filled.
    slot_off: Vec<usize>,
    slots: Vec<u32>,
    load: Vec<u32>,
    // per client
    prov_of: Vec<u32>,
    slot_of: Vec<u32>,
    mw: Vec<u32>,
    removed: Vec<bool>,
    // duals: u per client, prices inside `ps`
    u: Vec<Val>,
    ps: Vec<PState>,
    solved: bool,
    sol: Solution,
    // scratch for the searches
    pred: Vec<u32>,
    touched: Vec<u32>,
    finalized: Vec<u32>,
    cpred: Vec<u32>,
    cpred_w: Vec<u32>,
    chain: Vec<u32>,
    queue: BucketQueue,
}

impl Solver {
    /// Builds the solver. Cost: O(N + M + E).
    ///
    /// # Panics
    /// If `instance.validate()` fails; use [`Solver::try_new`] for untrusted instances.
    pub fn new(instance: &Instance) -> Solver {
        match Solver::try_new(instance) {
            Ok(s) => s,
            Err(e) => panic!("continuum-assign: invalid instance: {e}"),
        }
    }

    /// Validates the instance, then builds the solver.
    pub fn try_new(instance: &Instance) -> Result<Solver, ParseError> {
        instance.validate()?;
        let n = instance.priorities.len();
        let m = instance.capacities.len();
        // provider CSR by counting sort, dropping zero-weight pairs (they never add to the objective)
        let mut p_off = vec![0usize; m + 1];
        for e in &instance.edges {
            if e.score > 0 {
                p_off[e.provider as usize + 1] += 1;
            }
        }
        for p in 0..m {
            p_off[p + 1] += p_off[p];
        }
        let mut fill = p_off.clone();
        let mut p_arcs = vec![PArc { to: 0, w: 0, key: 0 }; p_off[m]];
        let mut max_w = 0u32;
        for e in &instance.edges {
            if e.score > 0 {
                // validated: priority <= 5 and score <= 1000, so w <= 5000 fits u16 and i16
                let w = instance.priorities[e.client as usize] * e.score;
                max_w = max_w.max(w);
                let f = &mut fill[e.provider as usize];
                p_arcs[*f] = PArc { to: e.client, w: w as u16, key: -(w as i16) };
                *f += 1;
            }
        }
        let cap: Vec<u64> = instance.capacities.iter().map(|&c| u64::from(c)).collect();
        let cap_eff: Vec<u32> =
            (0..m).map(|p| cap[p].min((p_off[p + 1] - p_off[p]) as u64) as u32).collect();
        let mut slot_off = vec![0usize; m + 1];
        for p in 0..m {
            slot_off[p + 1] = slot_off[p] + cap_eff[p] as usize;
        }
        let slots = vec![NONE; slot_off[m]];
        Ok(Solver {
            n,
            m,
            p_off,
            p_arcs,
            waste: vec![u32::MAX; m],
            cap,
            cap_eff,
            slot_off,
            slots,
            load: vec![0; m],
            prov_of: vec![NONE; n],
            slot_of: vec![NONE; n],
            mw: vec![0; n],
            removed: vec![false; n],
            u: vec![0; n],
            ps: vec![PState { v: 0, dist: INF }; m],
            solved: false,
            sol: Solution { assignment: vec![None; n], objective: 0 },
            pred: vec![NONE; m],
            touched: Vec::new(),
            finalized: Vec::new(),
            cpred: vec![NONE; n],
            cpred_w: vec![0; n],
            chain: Vec::new(),
            queue: BucketQueue::new(max_w as usize + 1),
        })
    }

    /// Number of clients.
    pub fn clients(&self) -> usize {
        self.n
    }

    /// Number of providers.
    pub fn providers(&self) -> usize {
        self.m
    }

    /// Solves to optimality (from scratch on the first call; later calls return the current optimum,
    /// which incremental updates keep optimal).
    ///
    /// Starts with every slot closed, every client unassigned (`u = 0`) and each provider priced at
    /// its heaviest pair (the least dual-feasible price), then opens the slots one at a time exactly
    /// as [`Solver::add_capacity`] does.
    pub fn solve(&mut self) -> &Solution {
        if self.solved {
            return &self.sol;
        }
        let target = std::mem::replace(&mut self.cap_eff, vec![0; self.m]);
        for p in 0..self.m {
            let heaviest = self.p_arcs[self.p_off[p]..self.p_off[p + 1]]
                .iter()
                .map(|a| a.w)
                .max()
                .unwrap_or(0);
            self.ps[p].v = Val::from(heaviest);
        }
        self.solved = true;
        for (p, &t) in target.iter().enumerate() {
            while self.cap_eff[p] < t {
                self.cap_eff[p] += 1;
                self.settle_provider(p);
                if self.ps[p].v == 0 {
                    // price 0: the remaining slots may stay free without breaking the invariant
                    self.cap_eff[p] = t;
                }
            }
        }
        &self.sol
    }

    /// Whether [`Solver::solve`] has run (incremental updates re-optimise only after it).
    pub fn is_solved(&self) -> bool {
        self.solved
    }

    /// The current objective (optimal once solved).
    pub fn objective(&self) -> i64 {
        self.sol.objective
    }

    /// The current assignment, per client.
    pub fn assignment(&self) -> &[Option<u32>] {
        &self.sol.assignment
    }

    /// The current solution.
    pub fn solution(&self) -> &Solution {
        &self.sol
    }

    /// Dual values `(u per client, v per provider)`; removed clients report 0. Together with the
    /// assignment they certify optimality (see [`Solver::certify`]).
    pub fn duals(&self) -> (Vec<i64>, Vec<i64>) {
        let u = self
            .u
            .iter()
            .zip(&self.removed)
            .map(|(&x, &r)| if r { 0 } else { i64::from(x) })
            .collect();
        (u, self.ps.iter().map(|s| i64::from(s.v)).collect())
    }

    // ----- slot bookkeeping -------------------------------------------------------------------------

    fn set_assignment(&mut self, c: usize, p: u32, slot: u32, w: u32) {
        self.prov_of[c] = p;
        self.slot_of[c] = slot;
        self.mw[c] = w;
        self.sol.assignment[c] = if p == NONE { None } else { Some(p) };
    }

    /// Removes the client in `slot` of provider `p` by moving the last filled slot into it.
    fn vacate_slot(&mut self, p: usize, slot: usize) {
        let last = self.slot_off[p] + self.load[p] as usize - 1;
        if slot != last {
            let moved = self.slots[last];
            self.slots[slot] = moved;
            self.slot_of[moved as usize] = slot as u32;
        }
        self.slots[last] = NONE;
        self.load[p] -= 1;
    }

    /// Rebuilds the slot array after `cap_eff` grew.
    fn relayout(&mut self) {
        let mut off = vec![0usize; self.m + 1];
        for p in 0..self.m {
            off[p + 1] = off[p] + self.cap_eff[p] as usize;
        }
        let mut slots = vec![NONE; off[self.m]];
        for p in 0..self.m {
            let old = self.slot_off[p];
            for k in 0..self.load[p] as usize {
                let c = self.slots[old + k];
                slots[off[p] + k] = c;
                self.slot_of[c as usize] = (off[p] + k) as u32;
            }
        }
        self.slots = slots;
        self.slot_off = off;
    }

    // ----- the search -------------------------------------------------------------------------------

    /// Provider `p0` has a free slot but a positive price (complementary slackness broken). Finds the
    /// cheapest chain of moves that ends in that slot and starts at an unassigned client or at a slot
    /// of another provider whose price can fall to 0 — or lowers `p0`'s price to 0, whichever is
    /// cheapest — then applies it and restores the invariant (see the crate docs).
    fn release(&mut self, p0: usize) {
        let mut delta = self.ps[p0].v;
        let mut start = Start::Stop(p0 as u32);
        {
            let ps = &mut self.ps;
            let (p_off, arcs, waste) = (&self.p_off, &mut self.p_arcs, &mut self.waste);
            let (u, prov_of) = (&self.u, &self.prov_of);
            let (pred, touched, finalized, queue) =
                (&mut self.pred, &mut self.touched, &mut self.finalized, &mut self.queue);
            let (cpred, cpred_w) = (&mut self.cpred, &mut self.cpred_w);
            ps[p0].dist = 0;
            touched.push(p0 as u32);
            queue.push(0, p0 as u32);
            while let Some((d, q)) = queue.pop_below(delta as usize) {
                let q = q as usize;
                let d = d as Val;
                if d != ps[q].dist {
                    continue; // stale entry (labels only improve, so the current one is unique)
                }
                finalized.push(q as u32);
                let vq = ps[q].v;
                if q != p0 && d + vq < delta {
                    delta = d + vq;
                    start = Start::Stop(q as u32);
                }
                let qa = &mut arcs[p_off[q]..p_off[q + 1]];
                if waste[q] as usize >= qa.len() {
                    // the stale bounds cost as many wasted pair reads as a re-sort: refresh them
                    waste[q] = 0;
                    resort(qa, u);
                }
                let dv = d + vq;
                let mut wasted = 0u32;
                for a in qa.iter() {
                    if dv + Val::from(a.key) >= delta {
                        break; // u - w >= key: this and every later pair has label >= delta
                    }
                    let i = a.to as usize;
                    let nd = dv + u[i] - Val::from(a.w);
                    if nd >= delta {
                        wasted += 1;
                        continue;
                    }
                    let q2 = prov_of[i];
                    if q2 == NONE {
                        // unassigned (removed clients have a huge dual and never get here)
                        delta = nd;
                        start = Start::Client(i as u32);
                        cpred[i] = q as u32;
                        cpred_w[i] = u32::from(a.w);
                    } else if q2 as usize != q {
                        let q2 = q2 as usize;
                        // finalized providers have dist <= d <= nd, so they are never relabelled
                        if nd < ps[q2].dist {
                            if ps[q2].dist == INF {
                                touched.push(q2 as u32);
                            }
                            ps[q2].dist = nd;
                            pred[q2] = i as u32;
                            queue.push(nd as usize, q2 as u32);
                            cpred[i] = q as u32;
                            cpred_w[i] = u32::from(a.w);
                        }
                    }
                }
                waste[q] = waste[q].saturating_add(wasted);
            }
        }
        // Johnson's update for distances to p0: settled providers get cheaper
        for k in 0..self.finalized.len() {
            let q = self.finalized[k] as usize;
            self.ps[q].v -= delta - self.ps[q].dist;
        }
        // apply the chain of moves
        self.chain.clear();
        let first = match start {
            Start::Stop(q) if q as usize == p0 => NONE,
            Start::Stop(q) => self.pred[q as usize],
            Start::Client(i) => i,
        };
        if first != NONE {
            let mut x = first;
            loop {
                self.chain.push(x);
                let to = self.cpred[x as usize];
                if to as usize == p0 {
                    break;
                }
                x = self.pred[to as usize];
            }
            let mut slot = self.slot_off[p0] + self.load[p0] as usize;
            self.load[p0] += 1;
            for k in (0..self.chain.len()).rev() {
                let x = self.chain[k] as usize;
                let (old_slot, old_prov) = (self.slot_of[x], self.prov_of[x]);
                let (to, w) = (self.cpred[x], self.cpred_w[x]);
                self.slots[slot] = x as u32;
                self.sol.objective += i64::from(w) - i64::from(self.mw[x]);
                self.set_assignment(x, to, slot as u32, w);
                slot = old_slot as usize;
                if k == 0 && old_prov != NONE {
                    // Stop(q): the first client left q, whose slot is now free (and its price 0).
                    self.vacate_slot(old_prov as usize, slot);
                }
            }
        }
        // re-tighten: clients of settled providers take dual = weight - price (this only raises them)
        for k in 0..self.finalized.len() {
            let q = self.finalized[k] as usize;
            let vq = self.ps[q].v;
            for s in self.slot_off[q]..self.slot_off[q] + self.load[q] as usize {
                let i = self.slots[s] as usize;
                let ui = self.mw[i] as Val - vq;
                debug_assert!(ui >= self.u[i], "client dual decreased");
                self.u[i] = ui;
            }
        }
        // reset scratch
        for &p in &self.touched {
            self.ps[p as usize].dist = INF;
        }
        self.touched.clear();
        self.finalized.clear();
        self.queue.clear();
    }

    /// Restores complementary slackness at `p` after it gained a free slot.
    fn settle_provider(&mut self, p: usize) {
        while self.load[p] < self.cap_eff[p] && self.ps[p].v > 0 {
            self.release(p);
        }
    }

    // ----- incremental updates ----------------------------------------------------------------------

    /// Gives provider `provider` `extra` more slots and, once solved, re-optimises from the current
    /// optimum (at most `extra` searches, each local to the provider). Unknown providers are ignored.
    pub fn add_capacity(&mut self, provider: u32, extra: u32) {
        let p = provider as usize;
        if p >= self.m || extra == 0 {
            return;
        }
        self.cap[p] = self.cap[p].saturating_add(u64::from(extra));
        let deg = (self.p_off[p + 1] - self.p_off[p]) as u64;
        let eff = self.cap[p].min(deg) as u32;
        if eff == self.cap_eff[p] {
            return;
        }
        self.cap_eff[p] = eff;
        self.relayout();
        if self.solved {
            self.settle_provider(p);
        }
    }

    /// Removes a client for good (its pairs disappear) and, once solved, re-optimises: the slot it
    /// frees is refilled by the best chain of moves. Unknown or already removed clients are ignored.
    pub fn remove_client(&mut self, client: u32) {
        let c = client as usize;
        if c >= self.n || self.removed[c] {
            return;
        }
        self.removed[c] = true;
        self.u[c] = GONE;
        let p = self.prov_of[c];
        if p != NONE {
            let pu = p as usize;
            self.vacate_slot(pu, self.slot_of[c] as usize);
            self.sol.objective -= i64::from(self.mw[c]);
            self.set_assignment(c, NONE, NONE, 0);
            if self.solved {
                self.settle_provider(pu);
            }
        }
    }

    /// Whether a client was removed.
    pub fn is_removed(&self, client: u32) -> bool {
        self.removed.get(client as usize).copied().unwrap_or(false)
    }

    /// Current capacity of a provider (as given plus increments).
    pub fn capacity(&self, provider: u32) -> Option<u64> {
        self.cap.get(provider as usize).copied()
    }

    // ----- certificate ------------------------------------------------------------------------------

    /// Checks the optimality certificate in O(N + M + E): primal feasibility, dual feasibility
    /// (`u >= 0`, `v >= 0`, `u[c] + v[p] >= w` on every pair), complementary slackness, and equality
    /// of the primal and dual objectives. `Ok` proves the current assignment optimal (for the
    /// instance minus removed clients, with the current capacities).
    pub fn certify(&self) -> Result<(), String> {
        if !self.solved {
            return Err("not solved".into());
        }
        let mut matched = vec![false; self.n];
        let mut primal = 0i64;
        let mut dual = 0i64;
        for p in 0..self.m {
            let vp = i64::from(self.ps[p].v);
            let mut load = 0u32;
            for a in &self.p_arcs[self.p_off[p]..self.p_off[p + 1]] {
                let c = a.to as usize;
                if self.removed[c] {
                    continue;
                }
                let r = i64::from(self.u[c]) + vp - i64::from(a.w);
                if r < 0 {
                    return Err(format!("pair ({c}, {p}): reduced cost {r} < 0"));
                }
                if self.prov_of[c] as usize == p {
                    if r != 0 {
                        return Err(format!(
                            "assigned pair ({c}, {p}) not tight (reduced cost {r})"
                        ));
                    }
                    if u32::from(a.w) != self.mw[c] {
                        return Err(format!(
                            "client {c}: stored weight {} != pair weight {}",
                            self.mw[c], a.w
                        ));
                    }
                    matched[c] = true;
                    primal += i64::from(a.w);
                    load += 1;
                }
            }
            if load != self.load[p] {
                return Err(format!(
                    "provider {p}: load {} but {load} clients point at it",
                    self.load[p]
                ));
            }
            if u64::from(load) > self.cap[p] || load > self.cap_eff[p] {
                return Err(format!("provider {p}: over capacity"));
            }
            if vp < 0 {
                return Err(format!("provider {p}: price {vp} < 0"));
            }
            if vp > 0 && load < self.cap_eff[p] {
                return Err(format!("provider {p}: price {vp} > 0 but a slot is free"));
            }
            for s in self.slot_off[p]..self.slot_off[p] + load as usize {
                let c = self.slots[s] as usize;
                if c >= self.n || self.prov_of[c] as usize != p || self.slot_of[c] as usize != s {
                    return Err(format!("provider {p}: slot bookkeeping broken"));
                }
            }
            dual += vp * i64::from(self.cap_eff[p]);
        }
        for (c, &has_pair) in matched.iter().enumerate() {
            let (uc, pc) = (i64::from(self.u[c]), self.prov_of[c]);
            if self.sol.assignment[c] != (if pc == NONE { None } else { Some(pc) }) {
                return Err(format!("client {c}: public assignment out of sync"));
            }
            if self.removed[c] {
                if pc != NONE {
                    return Err(format!("removed client {c} is assigned"));
                }
                continue;
            }
            if uc < 0 {
                return Err(format!("client {c}: dual {uc} < 0"));
            }
            if pc == NONE && uc != 0 {
                return Err(format!("unassigned client {c} has dual {uc} != 0"));
            }
            if pc != NONE && !has_pair {
                return Err(format!("client {c} assigned to ineligible provider {pc}"));
            }
            dual += uc;
        }
        if primal != self.sol.objective {
            return Err(format!(
                "objective {} but assigned pairs sum to {primal}",
                self.sol.objective
            ));
        }
        if primal != dual {
            return Err(format!("primal {primal} != dual {dual}"));
        }
        Ok(())
    }
}

/// Solves an instance (convenience wrapper around [`Solver`]).
///
/// # Panics
/// If `instance.validate()` fails.
pub fn solve(instance: &Instance) -> Solution {
    let mut s = Solver::new(instance);
    s.solve();
    s.sol
}
