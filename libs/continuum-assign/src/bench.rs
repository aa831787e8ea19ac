//! Benchmark helper: time `Solver::new` + `solve` on an instance file (file reading excluded).

use std::path::Path;
use std::time::Instant;

use crate::instance::Instance;
use crate::solver::Solver;

/// Result of [`bench_file`].
#[derive(Clone, Debug, PartialEq)]
pub struct BenchReport {
    /// The instance path as given.
    pub instance: String,
    /// Optimal objective.
    pub objective: i64,
    /// Assigned clients in the optimum found.
    pub assigned: usize,
    /// Median seconds of build + solve.
    pub median_s: f64,
    /// Repetitions timed.
    pub reps: usize,
    /// Clients in the instance.
    pub clients: usize,
    /// Providers in the instance.
    pub providers: usize,
    /// Eligible pairs in the instance.
    pub edges: usize,
}

fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

impl BenchReport {
    /// One JSON line shaped like the OR-Tools reference script's output.
    pub fn to_json_line(&self) -> String {
        format!(
            "{{\"instance\": {}, \"solver\": \"continuum-assign\", \"objective\": {}, \"assigned\": {}, \"median_s\": {:.4}, \"reps\": {}}}",
            json_str(&self.instance),
            self.objective,
            self.assigned,
            self.median_s,
            self.reps
        )
    }
}

/// Median of a non-empty list of seconds (0 when empty).
pub(crate) fn median(xs: &mut [f64]) -> f64 {
    if xs.is_empty() {
        return 0.0;
    }
    xs.sort_by(f64::total_cmp);
    let k = xs.len() / 2;
    if xs.len() % 2 == 1 { xs[k] } else { (xs[k - 1] + xs[k]) / 2.0 }
}

/// Reads and parses `path`, then times `reps` (at least 1) runs of `Solver::new` + `solve`.
pub fn bench_file(path: &Path, reps: usize) -> Result<BenchReport, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let inst = Instance::parse(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    drop(text);
    bench_instance(&inst, &path.display().to_string(), reps)
}

/// Times `reps` (at least 1) runs of `Solver::new` + `solve` on a parsed instance.
pub fn bench_instance(inst: &Instance, name: &str, reps: usize) -> Result<BenchReport, String> {
    inst.validate().map_err(|e| format!("{name}: {e}"))?;
    let reps = reps.max(1);
    let mut times = Vec::with_capacity(reps);
    let mut objective = 0;
    let mut assigned = 0;
    for _ in 0..reps {
        let t0 = Instant::now();
        let mut s = Solver::new(inst);
        let sol = s.solve();
        times.push(t0.elapsed().as_secs_f64());
        objective = sol.objective;
        assigned = sol.assigned();
    }
    Ok(BenchReport {
        instance: name.to_owned(),
        objective,
        assigned,
        median_s: median(&mut times),
        reps,
        clients: inst.clients(),
        providers: inst.providers(),
        edges: inst.edges.len(),
    })
}
