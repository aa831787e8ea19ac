//! What the PostgreSQL tests of this crate share: a schema of the run's own on the server named by
//! `CONTINUUM_TEST_DATABASE_URL` (which `.ci/run` sets for the server-backed pass).

#![allow(clippy::unwrap_used, dead_code)]

use continuum_db::DbSettings;
use continuum_db::sea_orm::{ConnectionTrait, DatabaseConnection};

/// A pool on a fresh schema named `{prefix}_{random letters}`, and that name; `None` without a server.
pub async fn fresh_postgres(prefix: &str) -> Option<(DatabaseConnection, String)> {
    let url = std::env::var("CONTINUUM_TEST_DATABASE_URL").ok()?;
    // A service name is lowercase letters and underscores only.
    let letters: String = uuid::Uuid::new_v4()
        .simple()
        .to_string()
        .chars()
        .map(|c| if c.is_ascii_digit() { char::from(b'g' + c as u8 - b'0') } else { c })
        .collect();
    let schema = format!("{prefix}_{letters}");
    let settings = DbSettings { database_url: Some(url.into()), data_dir: "unused".into() };
    Some((continuum_db::connect(&schema, &settings).await.unwrap(), schema))
}

/// Drops the schema [`fresh_postgres`] made.
pub async fn drop_schema(db: &DatabaseConnection, schema: &str) {
    db.execute_unprepared(&format!("DROP SCHEMA {schema} CASCADE")).await.unwrap();
}
