//! The waitlist service's application layer: what its use cases may do for whom. `access` decides which
//! organization may see or change which entry, offer and provider's slots (the only place that does);
//! whether the caller's organization owns a client intake answers (`continuum_runtime::care`), and whose
//! provider a slot is matching's directory answers (`crate::matching`).

pub mod access;
