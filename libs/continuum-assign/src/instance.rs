//! The instance model and its plain-text format (see the crate docs for the format).

use std::fmt;

/// Highest allowed client priority.
pub const MAX_PRIORITY: u32 = 5;
/// Highest allowed pair score.
pub const MAX_SCORE: u32 = 1000;

/// One eligible (client, provider) pair with its score.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Edge {
    /// Client id, `0..clients`.
    pub client: u32,
    /// Provider id, `0..providers`.
    pub provider: u32,
    /// Score, `0..=1000`.
    pub score: u32,
}

/// A capacity-constrained assignment instance.
///
/// `capacities.len()` is the number of providers, `priorities.len()` the number of clients. `edges` must
/// be strictly sorted by `(client, provider)` (so no pair appears twice); [`Instance::validate`] checks
/// this and every range.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Instance {
    /// `capacities[p]`: how many clients provider `p` can take.
    pub capacities: Vec<u32>,
    /// `priorities[c]` in `1..=5`.
    pub priorities: Vec<u32>,
    /// Eligible pairs, sorted by client then provider.
    pub edges: Vec<Edge>,
}

/// A malformed or invalid instance. `line` is the 1-based line of the text format that holds (or, for
/// an [`Instance`] built in memory, would hold) the offending value; 0 when no single line is to blame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based line number (0: not tied to a line).
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl ParseError {
    fn new(line: usize, message: impl Into<String>) -> Self {
        ParseError { line, message: message.into() }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}", self.message)
        } else {
            write!(f, "line {}: {}", self.line, self.message)
        }
    }
}

impl std::error::Error for ParseError {}

/// Parses exactly `K` unsigned integers from one line.
fn fields<const K: usize>(line_no: usize, line: &str, what: &str) -> Result<[u32; K], ParseError> {
    let mut out = [0u32; K];
    let mut it = line.split_ascii_whitespace();
    for (k, slot) in out.iter_mut().enumerate() {
        let tok = it.next().ok_or_else(|| {
            ParseError::new(line_no, format!("{what}: expected {K} integer(s), found {k}"))
        })?;
        *slot = tok.parse::<u32>().map_err(|_| {
            ParseError::new(
                line_no,
                format!("{what}: `{}` is not a non-negative 32-bit integer", clip(tok)),
            )
        })?;
    }
    if it.next().is_some() {
        return Err(ParseError::new(
            line_no,
            format!("{what}: expected {K} integer(s), found more"),
        ));
    }
    Ok(out)
}

/// Shortens a token for an error message.
fn clip(tok: &str) -> String {
    if tok.chars().count() > 24 {
        let mut s: String = tok.chars().take(24).collect();
        s.push('…');
        s
    } else {
        tok.to_owned()
    }
}

impl Instance {
    /// Number of clients.
    pub fn clients(&self) -> usize {
        self.priorities.len()
    }

    /// Number of providers.
    pub fn providers(&self) -> usize {
        self.capacities.len()
    }

    /// Parses the text format and validates the result. Never panics; on failure the error names the
    /// offending line.
    pub fn parse(text: &str) -> Result<Instance, ParseError> {
        let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l));
        let (_, header) = lines
            .next()
            .ok_or_else(|| ParseError::new(1, "empty input: missing header `N M E`"))?;
        let [n, m, e] = fields::<3>(1, header, "header `N M E`")?;
        // Never trust header counts for allocation: a line holds at least 2 bytes.
        let bound = text.len() / 2 + 1;
        let mut capacities = Vec::with_capacity((m as usize).min(bound));
        for p in 0..m as usize {
            let (no, line) = lines.next().ok_or_else(|| {
                ParseError::new(2 + p, format!("unexpected end of input: expected capacity of provider {p} (header says {m} providers)"))
            })?;
            let [c] = fields::<1>(no, line, "capacity")?;
            capacities.push(c);
        }
        let mut priorities = Vec::with_capacity((n as usize).min(bound));
        for c in 0..n as usize {
            let (no, line) = lines.next().ok_or_else(|| {
                ParseError::new(2 + m as usize + c, format!("unexpected end of input: expected priority of client {c} (header says {n} clients)"))
            })?;
            let [pr] = fields::<1>(no, line, "priority")?;
            priorities.push(pr);
        }
        let mut edges = Vec::with_capacity((e as usize).min(bound / 3));
        for k in 0..e as usize {
            let (no, line) = lines.next().ok_or_else(|| {
                ParseError::new(
                    2 + m as usize + n as usize + k,
                    format!("unexpected end of input: expected pair {k} of {e} (`client provider score`), found {k}"),
                )
            })?;
            let [client, provider, score] = fields::<3>(no, line, "pair `client provider score`")?;
            edges.push(Edge { client, provider, score });
        }
        for (no, line) in lines {
            if !line.trim().is_empty() {
                return Err(ParseError::new(
                    no,
                    format!("unexpected extra content after the {e} pairs announced in the header"),
                ));
            }
        }
        let inst = Instance { capacities, priorities, edges };
        inst.validate()?;
        Ok(inst)
    }

    /// Checks every range and the ordering of `edges`. Errors name the line the value has (or would
    /// have) in the text format.
    pub fn validate(&self) -> Result<(), ParseError> {
        let m = self.capacities.len();
        let n = self.priorities.len();
        if n > u32::MAX as usize || m > u32::MAX as usize {
            return Err(ParseError::new(1, "more than 2^32-1 clients or providers"));
        }
        for (c, &pr) in self.priorities.iter().enumerate() {
            if !(1..=MAX_PRIORITY).contains(&pr) {
                return Err(ParseError::new(
                    2 + m + c,
                    format!("priority of client {c} is {pr}, must be in 1..={MAX_PRIORITY}"),
                ));
            }
        }
        let base = 2 + m + n;
        let mut prev: Option<(u32, u32)> = None;
        for (k, ed) in self.edges.iter().enumerate() {
            let line = base + k;
            if ed.client as usize >= n {
                return Err(ParseError::new(
                    line,
                    format!("client {} out of range (there are {n} clients)", ed.client),
                ));
            }
            if ed.provider as usize >= m {
                return Err(ParseError::new(
                    line,
                    format!("provider {} out of range (there are {m} providers)", ed.provider),
                ));
            }
            if ed.score > MAX_SCORE {
                return Err(ParseError::new(
                    line,
                    format!("score {} out of range 0..={MAX_SCORE}", ed.score),
                ));
            }
            let key = (ed.client, ed.provider);
            if let Some(pk) = prev {
                if key == pk {
                    return Err(ParseError::new(
                        line,
                        format!("duplicate pair (client {}, provider {})", ed.client, ed.provider),
                    ));
                }
                if key < pk {
                    return Err(ParseError::new(line, "pairs not sorted by client then provider"));
                }
            }
            prev = Some(key);
        }
        Ok(())
    }

    /// Objective of an assignment, or an error if it is infeasible (unknown pair, over capacity, wrong
    /// length). Used by tests and by callers that want to double-check a solution.
    pub fn evaluate(&self, assignment: &[Option<u32>]) -> Result<i64, String> {
        if assignment.len() != self.priorities.len() {
            return Err(format!(
                "assignment has {} entries, instance has {} clients",
                assignment.len(),
                self.priorities.len()
            ));
        }
        let mut load = vec![0u64; self.capacities.len()];
        let mut total = 0i64;
        for (c, a) in assignment.iter().enumerate() {
            let Some(p) = *a else { continue };
            let lo = self.edges.partition_point(|e| (e.client, e.provider) < (c as u32, p));
            match self.edges.get(lo) {
                Some(e) if e.client == c as u32 && e.provider == p => {
                    total += i64::from(self.priorities[c]) * i64::from(e.score);
                }
                _ => return Err(format!("client {c} assigned to ineligible provider {p}")),
            }
            let Some(l) = load.get_mut(p as usize) else {
                return Err(format!("client {c} assigned to unknown provider {p}"));
            };
            *l += 1;
        }
        for (p, (&l, &cap)) in load.iter().zip(&self.capacities).enumerate() {
            if l > u64::from(cap) {
                return Err(format!("provider {p} has {l} clients, capacity {cap}"));
            }
        }
        Ok(total)
    }

    /// Writes the instance in the text format (round-trips through [`Instance::parse`]).
    pub fn to_text(&self) -> String {
        use fmt::Write as _;
        let mut s = String::new();
        let _ =
            writeln!(s, "{} {} {}", self.priorities.len(), self.capacities.len(), self.edges.len());
        for c in &self.capacities {
            let _ = writeln!(s, "{c}");
        }
        for p in &self.priorities {
            let _ = writeln!(s, "{p}");
        }
        for e in &self.edges {
            let _ = writeln!(s, "{} {} {}", e.client, e.provider, e.score);
        }
        s
    }
}
