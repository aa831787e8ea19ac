//! The intake service's background workers: `routing` (finishing the routings a submission could not
//! finish inline, on any replica, through the leased queue of `continuum_outbox`).

pub mod routing;
