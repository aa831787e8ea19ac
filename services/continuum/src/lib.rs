//! The all-in-one Continuum binary and operator CLI.
//!
//! - `continuum up [--demo]`: all four services in one process on the embedded default (SQLite files under
//!   a data directory, in-process cache), on ports 50051-50054, and the HTTP gateway on 8080; `--demo` seeds a demo directory when the
//!   directory is empty and prints how to call the stack.
//! - `continuum serve <service>`: one service, configured from the environment exactly like its own
//!   binary (used by the end-to-end tests to run each service as a separate process).
//! - `continuum migrate`: runs every service's migrations against the configured database.
//! - `continuum bench intake`: the end-to-end load benchmark (with pgbench as the same run's reference);
//!   `bench directory` fills the directory with synthetic providers; `bench waitlist` times a
//!   coordinator's reads of a long waitlist.
//! - `continuum assign-bench FILE`: the batch-assigner benchmark on an instance file.
//! - `continuum token mint`: development tokens (signed with the local development secret).
//! - `continuum directory import | export | sample --format hsds`: the provider directory as HSDS 3.0.
//! - `continuum org add | list`: the organization registry (organizations the deployment serves).

pub mod bench;
pub mod bench_directory;
pub mod bench_waitlist;
pub mod cli;
pub mod demo;
pub mod dev_auth;
pub mod directory;
pub mod up;
