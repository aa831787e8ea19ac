//! The matching service's background workers, run on the shared `continuum-outbox` runner:
//! `capacity_events` delivers every rise of a provider's capacity to the waitlist.

pub mod capacity_events;
