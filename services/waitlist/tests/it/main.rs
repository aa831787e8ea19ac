//! Integration tests of the waitlist service: the real server on an ephemeral port with a fresh database
//! (SQLite by default, PostgreSQL + Redis when the test configuration names them), on a manual clock, with
//! a test double standing in for the referral peer, called through the generated client.

mod bridge;
mod capacity_events;
mod check_ins;
mod entries;
mod helpers;
mod offers;
mod replicas;
mod rescreen;
mod scoping;
mod trace;
mod while_waiting;
