//! Integration tests of the referral service: the real server on an ephemeral port with a fresh database
//! (SQLite by default, PostgreSQL when the test configuration names one), talking to the real matching
//! service started in-process on its own backing store, both called through the generated clients.

mod create;
mod deadlines;
mod held;
mod helpers;
mod migrations;
mod outbox;
mod queries;
mod scoping;
mod trace;
mod transitions;
mod watch;
