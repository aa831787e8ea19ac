//! Times build + solve on an instance file and, optionally, incremental updates on the solved state.
//!
//! ```text
//! cargo run --release -p continuum-assign --example bench -- INSTANCE.txt [--reps 3] [--incremental 20] [--no-certify]
//! ```
//! Prints the benchmark JSON line, then (with `--incremental K`) one JSON line each for
//! `add_capacity(p, 1)` on K random providers and `remove_client(c)` on K random assigned clients:
//! median and max milliseconds per call. Unless `--no-certify`, every result's optimality
//! certificate is checked (outside the timed region).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::Instant;

use continuum_assign::{Instance, Solver, bench_instance};

fn median_max(xs: &mut [f64]) -> (f64, f64) {
    xs.sort_by(f64::total_cmp);
    (xs[xs.len() / 2], xs[xs.len() - 1])
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut path = None;
    let mut reps = 3usize;
    let mut inc = 0usize;
    let mut certify = true;
    let mut k = 0;
    while k < args.len() {
        match args[k].as_str() {
            "--reps" => {
                reps = args[k + 1].parse().expect("--reps N");
                k += 1;
            }
            "--incremental" => {
                inc = args[k + 1].parse().expect("--incremental K");
                k += 1;
            }
            "--no-certify" => certify = false,
            p => path = Some(p.to_owned()),
        }
        k += 1;
    }
    let path = path.expect("usage: bench INSTANCE.txt [--reps N] [--incremental K] [--no-certify]");
    let t0 = Instant::now();
    let text = std::fs::read_to_string(Path::new(&path)).expect("read instance");
    let inst = Instance::parse(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
    drop(text);
    eprintln!("parsed in {:.3}s", t0.elapsed().as_secs_f64());
    let report = bench_instance(&inst, &path, reps).unwrap();
    println!("{}", report.to_json_line());

    let mut s = Solver::new(&inst);
    s.solve();
    if certify {
        let t = Instant::now();
        s.certify().expect("certificate");
        assert_eq!(inst.evaluate(s.assignment()), Ok(s.objective()));
        eprintln!(
            "certificate OK ({:.3}s): objective {} is optimal",
            t.elapsed().as_secs_f64(),
            s.objective()
        );
    }
    if inc == 0 {
        return;
    }
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    let mut rnd = move |k: usize| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x % k as u64) as usize
    };
    let mut add_ms = Vec::new();
    let mut gains = Vec::new();
    for _ in 0..inc {
        let p = rnd(inst.providers()) as u32;
        let before = s.objective();
        let t = Instant::now();
        s.add_capacity(p, 1);
        add_ms.push(t.elapsed().as_secs_f64() * 1e3);
        gains.push(s.objective() - before);
        if certify {
            s.certify().expect("certificate after add_capacity");
        }
    }
    let mut rem_ms = Vec::new();
    for _ in 0..inc {
        let mut c = rnd(inst.clients());
        while s.assignment()[c].is_none() {
            c = rnd(inst.clients());
        }
        let t = Instant::now();
        s.remove_client(c as u32);
        rem_ms.push(t.elapsed().as_secs_f64() * 1e3);
        if certify {
            s.certify().expect("certificate after remove_client");
        }
    }
    let (am, ax) = median_max(&mut add_ms);
    let (rm, rx) = median_max(&mut rem_ms);
    println!(
        "{{\"instance\": \"{path}\", \"op\": \"add_capacity(p,1)\", \"calls\": {inc}, \"median_ms\": {am:.4}, \"max_ms\": {ax:.4}, \"certified\": {certify}, \"gains\": {gains:?}}}"
    );
    println!(
        "{{\"instance\": \"{path}\", \"op\": \"remove_client(c)\", \"calls\": {inc}, \"median_ms\": {rm:.4}, \"max_ms\": {rx:.4}, \"certified\": {certify}}}"
    );
}
