//! `AssignBatch`: converts a batch request into an assignment instance (validating every field), solves it
//! exactly with `continuum-assign`, and maps the solution back to ids. Pure; no I/O.

use std::collections::HashMap;

use continuum_assign::{Edge, Instance};
use continuum_errors::Violations;
use continuum_proto::matching::v1 as pb;

use crate::error::Result;

/// Largest batch accepted in one call (eligible pairs).
pub const MAX_PAIRS: usize = 5_000_000;

/// A validated batch: the instance plus the ids behind its indices.
#[derive(Debug)]
pub struct Batch {
    /// The instance (indices into `client_ids` and `provider_ids`).
    pub instance: Instance,
    /// Client ids by index.
    pub client_ids: Vec<String>,
    /// Provider ids by index.
    pub provider_ids: Vec<String>,
}

/// The assignment, by id.
#[derive(Debug, PartialEq)]
pub struct Solved {
    /// (client id, provider id) pairs.
    pub assignments: Vec<(String, String)>,
    /// The optimal objective.
    pub objective: i64,
    /// Clients left unassigned.
    pub unassigned: Vec<String>,
}

/// Most providers (`capacities`) one AssignBatch may list.
pub const MAX_BATCH_PROVIDERS: usize = 20_000;
/// Most clients one AssignBatch may list.
pub const MAX_BATCH_CLIENTS: usize = 20_000;
/// Most candidates one client of an AssignBatch may list.
pub const MAX_BATCH_CANDIDATES: usize = 1_000;

/// Validates the request and builds the instance.
pub fn batch_from_proto(req: &pb::AssignBatchRequest) -> Result<Batch> {
    let mut v = Violations::default();
    let mut provider_index: HashMap<&str, u32> = HashMap::new();
    let mut provider_ids = Vec::new();
    let mut capacities = Vec::new();
    for (i, c) in v.capped("capacities", &req.capacities, MAX_BATCH_PROVIDERS).iter().enumerate() {
        if c.provider_id.is_empty() {
            v.add(format!("capacities[{i}].provider_id"), "is required");
            continue;
        }
        if !(0..=100_000).contains(&c.capacity) {
            v.add(format!("capacities[{i}].capacity"), "must be between 0 and 100000");
        }
        if provider_index.contains_key(c.provider_id.as_str()) {
            v.add(format!("capacities[{i}].provider_id"), "is listed twice");
            continue;
        }
        provider_index
            .insert(c.provider_id.as_str(), u32::try_from(provider_ids.len()).unwrap_or(u32::MAX));
        provider_ids.push(c.provider_id.clone());
        capacities.push(u32::try_from(c.capacity).unwrap_or(0));
    }
    let mut client_ids = Vec::with_capacity(req.clients.len());
    let mut priorities = Vec::with_capacity(req.clients.len());
    let mut edges = Vec::new();
    let mut seen_clients = std::collections::HashSet::new();
    for (ci, c) in v.capped("clients", &req.clients, MAX_BATCH_CLIENTS).iter().enumerate() {
        if c.client_id.is_empty() {
            v.add(format!("clients[{ci}].client_id"), "is required");
        } else if !seen_clients.insert(c.client_id.as_str()) {
            v.add(format!("clients[{ci}].client_id"), "is listed twice");
        }
        if !(1..=5).contains(&c.priority) {
            v.add(format!("clients[{ci}].priority"), "must be between 1 and 5");
        }
        let client = u32::try_from(client_ids.len()).unwrap_or(u32::MAX);
        let mut row: Vec<Edge> = Vec::with_capacity(c.candidates.len());
        let candidates =
            v.capped(&format!("clients[{ci}].candidates"), &c.candidates, MAX_BATCH_CANDIDATES);
        for (k, cand) in candidates.iter().enumerate() {
            if !(0..=1000).contains(&cand.score) {
                v.add(format!("clients[{ci}].candidates[{k}].score"), "must be between 0 and 1000");
            }
            match provider_index.get(cand.provider_id.as_str()) {
                // A provider without a listed capacity has none: the pair can never be used.
                None => {}
                Some(p) => {
                    if row.iter().any(|e| e.provider == *p) {
                        v.add(
                            format!("clients[{ci}].candidates[{k}].provider_id"),
                            "is listed twice for this client",
                        );
                    } else {
                        row.push(Edge {
                            client,
                            provider: *p,
                            score: u32::try_from(cand.score).unwrap_or(0),
                        });
                    }
                }
            }
        }
        row.sort_by_key(|e| e.provider);
        edges.extend(row);
        client_ids.push(c.client_id.clone());
        priorities.push(u32::try_from(c.priority).unwrap_or(1));
    }
    if edges.len() > MAX_PAIRS {
        v.add("clients", format!("at most {MAX_PAIRS} eligible pairs per batch"));
    }
    v.finish(Batch {
        instance: Instance { capacities, priorities, edges },
        client_ids,
        provider_ids,
    })
}

/// Solves the batch exactly.
pub fn solve_batch(batch: &Batch) -> Result<Solved> {
    // `try_new` re-validates the instance, so no input can reach the solver's panicking path.
    let mut solver = continuum_assign::Solver::try_new(&batch.instance).map_err(|e| {
        crate::error::Error::invalid(
            "clients",
            format!("batch is not a valid assignment instance: {}", e.message),
        )
    })?;
    let solution = solver.solve().clone();
    let mut assignments = Vec::new();
    let mut unassigned = Vec::new();
    for (c, a) in solution.assignment.iter().enumerate() {
        match a.and_then(|p| batch.provider_ids.get(p as usize)) {
            Some(p) => assignments.push((batch.client_ids[c].clone(), p.clone())),
            None => unassigned.push(batch.client_ids[c].clone()),
        }
    }
    Ok(Solved { assignments, objective: solution.objective, unassigned })
}
