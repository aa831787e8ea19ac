//! Integration tests of the intake service: the real server on an ephemeral port with a fresh database,
//! called through the generated client. Peers are either absent (closed ports) or the real matching
//! service started in-process; the whole four-service flow is covered by the end-to-end tests in `tests/`.

mod cli;
mod consent;
mod helpers;
mod safety;
mod scenarios;
mod security;
mod submit;
mod validation;
