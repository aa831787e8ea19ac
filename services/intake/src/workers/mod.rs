//! The intake service's background workers: `routing` (finishing the routings a submission could not
//! finish inline, on any replica, through the leased queue of `continuum_outbox`) and `tasks` (escalating
//! clinical tasks that missed their deadline).

pub mod routing;
pub mod tasks;
