#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use proptest::prelude::*;

use crate::*;

// ----- helpers ---------------------------------------------------------------------------------------

/// Builds an instance from a dense `scores[c][p]` table (None = not eligible).
fn build(caps: Vec<u32>, prios: Vec<u32>, scores: &[Vec<Option<u32>>]) -> Instance {
    let mut edges = Vec::new();
    for (c, row) in scores.iter().enumerate() {
        for (p, s) in row.iter().enumerate() {
            if let Some(score) = *s {
                edges.push(Edge { client: c as u32, provider: p as u32, score });
            }
        }
    }
    Instance { capacities: caps, priorities: prios, edges }
}

/// The instance after the given capacity increments and client removals.
fn modified(inst: &Instance, extra: &[u32], removed: &[bool]) -> Instance {
    Instance {
        capacities: inst.capacities.iter().zip(extra).map(|(c, e)| c + e).collect(),
        priorities: inst.priorities.clone(),
        edges: inst.edges.iter().copied().filter(|e| !removed[e.client as usize]).collect(),
    }
}

/// Independent reference: min-cost flow by successive shortest paths with Bellman-Ford (no potentials,
/// no shared code with the solver). Flow is pushed only while the path has negative cost.
fn reference_mcf(inst: &Instance) -> i64 {
    let n = inst.priorities.len();
    let m = inst.capacities.len();
    let (s, t) = (n + m, n + m + 1);
    let nodes = n + m + 2;
    // arcs: (to, cap, cost, rev)
    let mut g: Vec<Vec<(usize, i64, i64, usize)>> = vec![Vec::new(); nodes];
    let add =
        |g: &mut Vec<Vec<(usize, i64, i64, usize)>>, a: usize, b: usize, cap: i64, cost: i64| {
            let ra = g[b].len();
            let rb = g[a].len();
            g[a].push((b, cap, cost, ra));
            g[b].push((a, 0, -cost, rb));
        };
    for c in 0..n {
        add(&mut g, s, c, 1, 0);
    }
    for e in &inst.edges {
        let w = i64::from(inst.priorities[e.client as usize]) * i64::from(e.score);
        add(&mut g, e.client as usize, n + e.provider as usize, 1, -w);
    }
    for p in 0..m {
        add(&mut g, n + p, t, i64::from(inst.capacities[p]), 0);
    }
    let mut total = 0i64;
    loop {
        let mut dist = vec![i64::MAX; nodes];
        let mut prev: Vec<Option<(usize, usize)>> = vec![None; nodes];
        dist[s] = 0;
        for _ in 0..nodes {
            let mut changed = false;
            for a in 0..nodes {
                if dist[a] == i64::MAX {
                    continue;
                }
                for (k, &(b, cap, cost, _)) in g[a].iter().enumerate() {
                    if cap > 0 && dist[a] + cost < dist[b] {
                        dist[b] = dist[a] + cost;
                        prev[b] = Some((a, k));
                        changed = true;
                    }
                }
            }
            if !changed {
                break;
            }
        }
        if dist[t] >= 0 {
            break;
        }
        total -= dist[t];
        let mut x = t;
        while let Some((a, k)) = prev[x] {
            let (b, _, _, r) = g[a][k];
            g[a][k].1 -= 1;
            g[b][r].1 += 1;
            x = a;
        }
    }
    total
}

fn check_solution(inst: &Instance, s: &Solver) {
    s.certify().unwrap();
    assert_eq!(inst.evaluate(s.assignment()).unwrap(), s.objective());
}

// ----- strategies --------------------------------------------------------------------------------------

/// Scores drawn from a small set often, to provoke ties and degenerate duals.
fn score() -> impl Strategy<Value = u32> {
    prop_oneof![0u32..=3, Just(10u32), Just(1000u32), 0u32..=1000]
}

fn instance(max_n: usize, max_m: usize, max_cap: u32) -> impl Strategy<Value = Instance> {
    (0..=max_n, 1..=max_m).prop_flat_map(move |(n, m)| {
        (
            proptest::collection::vec(0..=max_cap, m),
            proptest::collection::vec(1u32..=5, n),
            proptest::collection::vec(
                proptest::collection::vec(proptest::option::weighted(0.6, score()), m),
                n,
            ),
        )
            .prop_map(|(caps, prios, scores)| build(caps, prios, &scores))
    })
}

#[derive(Clone, Debug)]
enum Op {
    AddCapacity(u32, u32),
    RemoveClient(u32),
}

fn ops(max_n: u32, max_m: u32) -> impl Strategy<Value = Vec<Op>> {
    proptest::collection::vec(
        prop_oneof![
            (0..max_m, 1u32..=3).prop_map(|(p, k)| Op::AddCapacity(p, k)),
            (0..max_n).prop_map(Op::RemoveClient),
        ],
        1..6,
    )
}

/// Applies ops to a solved solver, checking against a fresh solve (and `exact`) after each.
fn run_ops(inst: &Instance, ops: &[Op], exact: impl Fn(&Instance) -> i64) {
    let mut s = Solver::new(inst);
    s.solve();
    check_solution(inst, &s);
    let mut extra = vec![0u32; inst.providers()];
    let mut removed = vec![false; inst.clients()];
    for op in ops {
        match *op {
            Op::AddCapacity(p, k) => {
                if (p as usize) < extra.len() {
                    extra[p as usize] += k;
                }
                s.add_capacity(p, k);
            }
            Op::RemoveClient(c) => {
                if (c as usize) < removed.len() {
                    removed[c as usize] = true;
                }
                s.remove_client(c);
            }
        }
        let now = modified(inst, &extra, &removed);
        check_solution(&now, &s);
        let fresh = solve(&now);
        assert_eq!(s.objective(), fresh.objective, "incremental != re-solve after {op:?}");
        assert_eq!(s.objective(), exact(&now), "incremental != exact after {op:?}");
    }
}

// ----- property tests ------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig { cases: 600, ..ProptestConfig::default() })]

    #[test]
    fn solver_matches_brute_force(inst in instance(7, 4, 3)) {
        let mut s = Solver::new(&inst);
        let obj = s.solve().objective;
        prop_assert_eq!(obj, brute_force(&inst));
        // capacities respected, assignment consistent with the objective, certificate valid
        prop_assert_eq!(inst.evaluate(s.assignment()), Ok(obj));
        prop_assert_eq!(s.certify(), Ok(()));
        prop_assert_eq!(solve(&inst).objective, obj);
    }

    #[test]
    fn incremental_matches_resolve_tiny(inst in instance(7, 4, 3), ops in ops(8, 5)) {
        run_ops(&inst, &ops, brute_force);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 150, ..ProptestConfig::default() })]

    #[test]
    fn solver_matches_reference_flow(inst in instance(40, 8, 6)) {
        let mut s = Solver::new(&inst);
        let obj = s.solve().objective;
        prop_assert_eq!(obj, reference_mcf(&inst));
        prop_assert_eq!(inst.evaluate(s.assignment()), Ok(obj));
        prop_assert_eq!(s.certify(), Ok(()));
    }

    #[test]
    fn incremental_matches_resolve_medium(inst in instance(40, 8, 4), ops in ops(40, 8)) {
        run_ops(&inst, &ops, reference_mcf);
    }

    #[test]
    fn parse_never_panics(text in "[0-9 \\-a\\n]{0,80}") {
        let _ = Instance::parse(&text);
    }

    #[test]
    fn parse_roundtrip_and_mutations(inst in instance(6, 3, 5), cut in 0usize..200, byte in 0u8..128) {
        let text = inst.to_text();
        prop_assert_eq!(Instance::parse(&text), Ok(inst.clone()));
        // truncated or corrupted text must give an error or a valid instance, never a panic
        let mut bytes = text.clone().into_bytes();
        let k = cut.min(bytes.len());
        bytes.truncate(k);
        let _ = Instance::parse(&String::from_utf8_lossy(&bytes));
        let mut bytes = text.into_bytes();
        if !bytes.is_empty() {
            let k = cut % bytes.len();
            bytes[k] = byte;
        }
        if let Ok(i) = Instance::parse(&String::from_utf8_lossy(&bytes)) {
            prop_assert_eq!(i.validate(), Ok(()));
        }
    }
}

// ----- deterministic tests -------------------------------------------------------------------------------

/// Deterministic pseudo-random instance (xorshift), denser and larger than the property tests.
fn random_instance(seed: u64, n: usize, m: usize, deg: usize, max_cap: u32) -> Instance {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut rnd = move |k: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % k
    };
    let capacities = (0..m).map(|_| rnd(u64::from(max_cap) + 1) as u32).collect();
    let priorities = (0..n).map(|_| 1 + rnd(5) as u32).collect();
    let mut edges = Vec::new();
    for c in 0..n {
        let mut ps: Vec<u32> = (0..deg).map(|_| rnd(m as u64) as u32).collect();
        ps.sort_unstable();
        ps.dedup();
        for p in ps {
            edges.push(Edge { client: c as u32, provider: p, score: rnd(1001) as u32 });
        }
    }
    Instance { capacities, priorities, edges }
}

#[test]
fn larger_random_instances_certify_and_match_reference() {
    for seed in 1..=6 {
        let inst = random_instance(seed, 120, 25, 6, 4);
        let mut s = Solver::new(&inst);
        s.solve();
        check_solution(&inst, &s);
        assert_eq!(s.objective(), reference_mcf(&inst), "seed {seed}");
    }
}

#[test]
fn long_incremental_sequence_stays_optimal() {
    let inst = random_instance(42, 3000, 300, 12, 8);
    let mut s = Solver::new(&inst);
    s.solve();
    check_solution(&inst, &s);
    let mut extra = vec![0u32; inst.providers()];
    let mut removed = vec![false; inst.clients()];
    for k in 0..200u32 {
        if k % 3 == 0 {
            let c = (k * 7919) % 3000;
            removed[c as usize] = true;
            s.remove_client(c);
        } else {
            let p = (k * 104_729) % 300;
            extra[p as usize] += 1 + k % 2;
            s.add_capacity(p, 1 + k % 2);
        }
        let now = modified(&inst, &extra, &removed);
        check_solution(&now, &s);
        if k % 20 == 0 {
            assert_eq!(s.objective(), solve(&now).objective, "step {k}");
        }
    }
    let now = modified(&inst, &extra, &removed);
    assert_eq!(s.objective(), solve(&now).objective);
}

#[test]
fn updates_before_solve_are_just_recorded() {
    let inst = random_instance(7, 50, 10, 5, 3);
    let mut s = Solver::new(&inst);
    s.add_capacity(3, 2);
    s.remove_client(4);
    s.add_capacity(99, 1); // unknown: ignored
    s.remove_client(999); // unknown: ignored
    s.solve();
    let mut extra = vec![0; 10];
    extra[3] = 2;
    let mut removed = vec![false; 50];
    removed[4] = true;
    let now = modified(&inst, &extra, &removed);
    check_solution(&now, &s);
    assert_eq!(s.objective(), reference_mcf(&now));
}

#[test]
fn zero_capacity_provider_opens_up() {
    // provider 0 has no capacity and the best pairs; opening it must move clients there
    let inst = build(
        vec![0, 1],
        vec![1, 1, 1],
        &[vec![Some(100), Some(50)], vec![Some(90), Some(10)], vec![None, Some(60)]],
    );
    let mut s = Solver::new(&inst);
    assert_eq!(s.solve().objective, 60);
    s.add_capacity(0, 1);
    assert_eq!(s.objective(), 160);
    s.add_capacity(0, 5);
    assert_eq!(s.objective(), 250);
    s.certify().unwrap();
    s.remove_client(2);
    assert_eq!(s.objective(), 190); // c0 and c1 both at provider 0
    let now = modified(
        &Instance { capacities: vec![6, 1], ..inst.clone() },
        &[0, 0],
        &[false, false, true],
    );
    assert_eq!(s.objective(), brute_force(&now));
}

#[test]
fn empty_and_trivial_instances() {
    let inst = Instance::parse("0 0 0\n").unwrap();
    let sol = solve(&inst);
    assert_eq!(sol.objective, 0);
    assert!(sol.assignment.is_empty());
    let inst = Instance::parse("2 1 2\n5\n3\n1\n0 0 0\n1 0 0\n").unwrap();
    let mut s = Solver::new(&inst);
    assert_eq!(s.solve().objective, 0);
    s.certify().unwrap();
    s.add_capacity(0, 1);
    s.remove_client(0);
    s.certify().unwrap();
}

#[test]
fn parse_errors_name_the_line() {
    let cases: &[(&str, usize, &str)] = &[
        ("", 1, "empty input"),
        ("1 1\n", 1, "header"),
        ("1 1 x\n", 1, "not a non-negative"),
        ("1 1 1 1\n", 1, "found more"),
        ("-1 1 1\n", 1, "not a non-negative"),
        ("1 1 1\n", 2, "capacity of provider 0"),
        ("1 1 1\n2\n", 3, "priority of client 0"),
        ("1 1 1\n2\n3\n", 4, "pair 0 of 1"),
        ("1 1 1\n2\n3\n0 0\n", 4, "pair"),
        ("1 1 1\n2 2\n3\n0 0 5\n", 2, "capacity"),
        ("1 1 1\n2\n6\n0 0 5\n", 3, "priority of client 0 is 6"),
        ("1 1 1\n2\n0\n0 0 5\n", 3, "priority"),
        ("1 1 1\n2\n3\n0 0 1001\n", 4, "score 1001"),
        ("1 1 1\n2\n3\n1 0 5\n", 4, "client 1 out of range"),
        ("1 1 1\n2\n3\n0 1 5\n", 4, "provider 1 out of range"),
        ("1 1 1\n2\n3\n0 0 5\n0 0 5\n", 5, "extra content"),
        ("1 2 2\n2\n2\n3\n0 1 5\n0 0 5\n", 6, "not sorted"),
        ("1 2 2\n2\n2\n3\n0 1 5\n0 1 5\n", 6, "duplicate"),
        ("4000000000 4000000000 4000000000\n", 2, "end of input"),
    ];
    for &(text, line, needle) in cases {
        let err = Instance::parse(text).expect_err(text);
        assert_eq!(err.line, line, "{text:?}: {err}");
        assert!(err.to_string().contains(needle), "{text:?}: {err} (wanted {needle:?})");
        assert!(err.to_string().starts_with(&format!("line {line}:")), "{err}");
    }
    // CRLF and trailing blank lines are fine
    let inst = Instance::parse("1 1 1\r\n2\r\n3\r\n0 0 5\r\n\r\n\n").unwrap();
    assert_eq!(inst.edges, vec![Edge { client: 0, provider: 0, score: 5 }]);
}

#[test]
fn try_new_rejects_invalid_instances() {
    let bad = Instance {
        capacities: vec![1],
        priorities: vec![1],
        edges: vec![Edge { client: 0, provider: 3, score: 1 }],
    };
    let err = Solver::try_new(&bad).unwrap_err();
    assert_eq!(err.line, 4);
}

#[test]
fn bench_report_json() {
    let inst = random_instance(3, 200, 30, 5, 4);
    let r = bench_instance(&inst, "x\"y.txt", 3).unwrap();
    assert_eq!(r.reps, 3);
    assert_eq!(r.objective, solve(&inst).objective);
    let line = r.to_json_line();
    assert!(
        line.starts_with(
            "{\"instance\": \"x\\\"y.txt\", \"solver\": \"continuum-assign\", \"objective\": "
        ),
        "{line}"
    );
    assert!(line.contains("\"reps\": 3}"), "{line}");
}

fn shared_instance(name: &str) -> Option<PathBuf> {
    let p =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/bench/assign").join(name);
    p.exists().then_some(p)
}

#[test]
fn small_benchmark_instance_reaches_known_optimum() {
    let Some(path) = shared_instance("S.txt") else {
        eprintln!("skipping: ../shared/bench/assign/S.txt not present");
        return;
    };
    let inst = Instance::parse(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!((inst.clients(), inst.providers(), inst.edges.len()), (1000, 200, 2312));
    let mut s = Solver::new(&inst);
    assert_eq!(s.solve().objective, 954_609);
    check_solution(&inst, &s);
    assert_eq!(reference_mcf(&inst), 954_609);
    let r = bench_file(&path, 1).unwrap();
    assert_eq!(r.objective, 954_609);
    // incremental on S against fresh solves
    let mut extra = vec![0u32; inst.providers()];
    let mut removed = vec![false; inst.clients()];
    for k in 0..30u32 {
        let p = (k * 37) % 200;
        s.add_capacity(p, 1);
        extra[p as usize] += 1;
        let c = (k * 131) % 1000;
        s.remove_client(c);
        removed[c as usize] = true;
        let now = modified(&inst, &extra, &removed);
        check_solution(&now, &s);
        assert_eq!(s.objective(), solve(&now).objective);
    }
}
