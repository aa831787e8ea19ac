//! What the PostgreSQL tests of this crate share: a schema of the run's own on the server named by
//! `CONTINUUM_TEST_DATABASE_URL` (which `.ci/run` sets for the server-backed pass).

#![allow(clippy::unwrap_used, dead_code)]

use continuum_db::DbSettings;
use continuum_db::sea_orm::{ActiveValue::Set, ConnectionTrait, DatabaseConnection};

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

/// Creates the tables of [`parent`] and [`child`] rows.
pub async fn create_family_tables(db: &DatabaseConnection) {
    for sql in [
        "CREATE TABLE parents (id VARCHAR(36) PRIMARY KEY, note VARCHAR(64) NOT NULL)",
        "CREATE TABLE children (id VARCHAR(36) PRIMARY KEY, \
         parent_id VARCHAR(36) NOT NULL REFERENCES parents (id))",
    ] {
        db.execute_unprepared(sql).await.unwrap();
    }
}

/// Rows of `parents` (id, note), for the batch tests.
pub mod parent {
    use continuum_db::sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "parents")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub note: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Rows of `children` (id, parent_id), each referring to a parent.
pub mod child {
    use continuum_db::sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "children")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub parent_id: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// A parent row with a note holding a `$` (placeholders inside values are not renumbered).
pub fn parent_row(id: &str) -> parent::ActiveModel {
    parent::ActiveModel { id: Set(id.to_owned()), note: Set(format!("note ${id}")) }
}

/// A child row of `parent_id`.
pub fn child_row(id: &str, parent_id: &str) -> child::ActiveModel {
    child::ActiveModel { id: Set(id.to_owned()), parent_id: Set(parent_id.to_owned()) }
}
