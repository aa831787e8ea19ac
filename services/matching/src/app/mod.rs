//! The matching service's application layer: what its use cases may do for whom. `access` decides who may
//! write which directory entry and record what about which client (the only place that does); whether the
//! caller's organization may act for a client intake answers (`continuum_runtime::care`).

pub mod access;
