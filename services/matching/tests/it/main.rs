//! Integration tests of the matching service: the real server on an ephemeral port with a fresh database
//! (SQLite by default, PostgreSQL when the test configuration names one), called through the generated
//! client.

mod access;
mod alliance;
mod capacity;
mod directory;
mod fit;
mod helpers;
mod import;
mod limits;
mod reflection;
mod tls;
