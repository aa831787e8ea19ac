//! End-to-end tests: the four services as separate processes (`continuum serve <service>`) on loopback,
//! over one fresh backing store (SQLite files by default; PostgreSQL and Redis when the test configuration
//! names them), driven through the generated gRPC clients exactly as a clinic would.

mod console;
mod fhir;
mod flow;
mod handoff;
mod health;
mod hsds;
mod journey;
mod matrix;
mod reflection;
mod stack;
mod telemetry;
