//! Exact solver for capacity-constrained client-to-provider assignment.
//!
//! # Problem
//! `N` clients, `M` providers, `E` eligible pairs `(c, p, score)`. Choose pairs maximising
//! `Σ priority[c] · score` such that every client is in at most one chosen pair and provider `p` is in
//! at most `capacity[p]` of them. Clients may stay unassigned. This is a maximum-weight bipartite
//! b-matching; write `w(c,p) = priority[c] · score ∈ 0..=5000`.
//!
//! # Text format
//! ```text
//! N M E                 header: clients, providers, eligible pairs
//! capacity[p]           M lines
//! priority[c]           N lines, each in 1..=5
//! client provider score E lines, score in 0..=1000, sorted by client then provider, no duplicates
//! ```
//! [`Instance::parse`] never panics; a [`ParseError`] names the offending line.
//!
//! # Algorithm: primal-dual successive shortest paths (Johnson potentials)
//! Linear-programming dual (the constraint matrix is a bipartite incidence matrix, hence totally
//! unimodular, so the LP optimum is integral and equals the assignment optimum):
//!
//! ```text
//! min Σ_c u[c] + Σ_p cap[p]·v[p]   s.t.  u[c] + v[p] ≥ w(c,p) for every pair,  u ≥ 0,  v ≥ 0.
//! ```
//!
//! The solver keeps exact integer duals (no floating point anywhere) and maintains this
//! **invariant** over the clients that were not removed and the slots opened so far:
//!
//! 1. *primal feasibility*: every client has ≤ 1 provider, every provider ≤ `cap` clients;
//! 2. *dual feasibility*: `u ≥ 0`, `v ≥ 0`, `u[c] + v[p] ≥ w(c,p)` on every pair;
//! 3. *complementary slackness*: an assigned pair is tight (`u[c] + v[p] = w`); an unassigned client
//!    has `u[c] = 0`; a provider with a free slot has `v[p] = 0`.
//!
//! By weak duality every feasible assignment `x` has `Σ w·x ≤ Σ_c u[c] + Σ_p cap[p]·v[p]`, and (3)
//! makes the current assignment reach that bound exactly:
//! `Σ_{assigned} w = Σ_{assigned} (u[c] + v[p]) = Σ_c u[c] + Σ_p load[p]·v[p] = Σ_c u[c] + Σ_p cap[p]·v[p]`
//! (unassigned clients have `u = 0`, and `v[p] > 0` only when `load[p] = cap[p]`). So the invariant
//! **proves optimality**; [`Solver::certify`] re-checks it in O(N + M + E) and the tests run it.
//! Pairs of weight 0 are dropped (for them `u + v ≥ 0` holds trivially) and `cap[p]` is replaced by
//! `min(cap[p], degree(p))`, which admits exactly the same assignments.
//!
//! In min-cost-flow terms (source → clients → providers → sink, arc cost `-w`, plus a zero-cost
//! "stay unassigned" arc client → sink), `u` and `-v` are node potentials and the invariant says all
//! residual arcs have non-negative reduced cost: `u[c] + v[p] − w` on a free pair, `0` on an assigned
//! pair (reversed), `u[c]` on "stay unassigned" for an assigned client, `0` on its reverse for an
//! unassigned one, `v[p]` on sink → loaded provider, and `−v[p] = 0` on provider → sink when a slot is
//! free.
//!
//! **The one repair step** (`release`). Suppose the invariant holds except that provider `p0` has a
//! free slot while `v[p0] > 0`. A Dijkstra search *backwards* from `p0` computes, for each provider
//! `q`, the reduced length `D(q)` of the cheapest chain of moves "a client leaves `q`, …, a client
//! enters `p0`'s free slot" (one step: client `i`, held by `q`, moves to a provider `q'` it is
//! eligible for, at reduced cost `u[i] + v[q'] − w(i,q') ≥ 0`, so `D(q) ≤ D(q') + u[i] + v[q'] − w`).
//! The chain can start in three ways: at an unassigned client `i` (total `D(q') + u[i] + v[q'] − w`,
//! with `u[i] = 0`), at a loaded provider `q` whose price then falls to 0 and whose slot becomes the
//! free one (total `D(q) + v[q]`), or not at all: `p0` keeps its free slot and its price falls to 0
//! (total `v[p0]`). Let `δ` be the cheapest total (so `δ ≤ v[p0]`; labels are integers below
//! `max w ≤ 5000`, which allows a bucket queue). Then every provider settled at `D(q) < δ` gets
//! `v[q] −= δ − D(q)` (never below 0, since `δ ≤ D(q) + v[q]`), the chain is applied, and every
//! client of a settled provider is re-tightened to `u = w − v` of its (new) pair. This is Johnson's
//! potential update for distances *to* a target: reduced costs stay ≥ 0, the chain's arcs become
//! tight, the new free slot (if any) has price 0, and re-tightening only raises `u` (which keeps all
//! its other pairs feasible). So the invariant holds again, the objective rose by exactly the
//! chain's gain, and — because the search stops at distance `δ ≤ v[p0]` — only the neighbourhood of
//! `p0` is touched.
//!
//! **Full solve** ([`Solver::solve`]). Start with every slot closed, every client unassigned with
//! `u = 0`, and each provider priced at its heaviest pair: the invariant holds trivially (a provider
//! with no open slot is full). Then open the slots one at a time and run the repair step after each
//! (once a provider's price falls to 0 its remaining slots open at once). When all are open, the
//! invariant — hence optimality — holds for the real capacities. Searches end at unassigned
//! clients, which stay plentiful when capacity is scarce, so they are short.
//!
//! **Incremental updates** start from a solved state. [`Solver::add_capacity`] opens slots and runs
//! the same repair step. [`Solver::remove_client`] deletes the client (its dual leaves the dual
//! problem, which keeps the rest feasible; its provider gains a free slot) and repairs that
//! provider. Each costs one search per opened slot, local to the provider; nothing is re-solved.
//!
//! **Pruning.** Client duals `u` never decrease (the update above only raises them; a removed client
//! gets a huge dual, which also keeps searches away from it). So `u[i] − w` computed once stays a
//! valid lower bound; each provider keeps its pairs sorted by that bound and a search stops reading
//! a provider's pairs at the first bound that cannot beat `δ`. When stale bounds have wasted as many
//! reads as the provider has pairs, its bounds are recomputed and re-sorted (amortised).
//!
//! # Example
//! ```
//! use continuum_assign::{Instance, Solver};
//! let inst = Instance::parse("2 1 2\n1\n1\n2\n0 0 10\n1 0 10\n").unwrap();
//! let mut s = Solver::new(&inst);
//! assert_eq!(s.solve().objective, 20); // client 1 (priority 2) gets the only slot
//! s.add_capacity(0, 1);
//! assert_eq!(s.objective(), 30);
//! s.remove_client(1);
//! assert_eq!(s.objective(), 10);
//! assert_eq!(s.assignment(), &[Some(0), None]);
//! s.certify().unwrap();
//! ```

mod bench;
mod brute;
mod instance;
mod queue;
mod solver;

pub use bench::{BenchReport, bench_file, bench_instance};
#[doc(hidden)]
pub use brute::brute_force;
pub use instance::{Edge, Instance, MAX_PRIORITY, MAX_SCORE, ParseError};
pub use solver::{Solution, Solver, solve};

#[cfg(test)]
mod tests;
