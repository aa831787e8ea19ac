//! [`continuum_db::Batch`] against real databases: SQLite always, PostgreSQL too when
//! `CONTINUUM_TEST_DATABASE_URL` names one (`.ci/run` sets it for the server-backed pass). A row and the
//! row referring to it land together; a batch with one failing write (a duplicate key) leaves nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use continuum_db::sea_orm::sea_query::Expr;
use continuum_db::sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
};
use continuum_db::{Batch, DbSettings, Writer};

mod common;

use common::{child, child_row, parent, parent_row};

async fn note(db: &DatabaseConnection, id: &str) -> String {
    parent::Entity::find_by_id(id).one(db).await.unwrap().unwrap().note
}

async fn exercise(db: &DatabaseConnection) {
    common::create_family_tables(db).await;
    let writer = Writer::new(db);
    // A parent and two children referring to it: all land.
    let mut batch = Batch::new(db);
    batch.push(&parent::Entity::insert(parent_row("p1")));
    batch.push(&child::Entity::insert_many([child_row("c1", "p1"), child_row("c2", "p1")]));
    assert_eq!(batch.len(), 2);
    batch.run(&writer).await.unwrap();
    assert_eq!(child::Entity::find().count(db).await.unwrap(), 2);
    assert_eq!(note(db, "p1").await, "note $p1");
    // An update of a stored row and an insert.
    let mut batch = Batch::new(db);
    batch.push(
        &parent::Entity::update_many()
            .col_expr(parent::Column::Note, Expr::value("second $1"))
            .filter(parent::Column::Id.eq("p1")),
    );
    batch.push(&parent::Entity::insert(parent_row("p0")));
    batch.run(&writer).await.unwrap();
    assert_eq!(note(db, "p1").await, "second $1");
    assert_eq!(parent::Entity::find().count(db).await.unwrap(), 2);

    // A new parent with its child, and a duplicate of p1: nothing of the batch lands.
    let mut batch = Batch::new(db);
    batch.push(&parent::Entity::insert(parent_row("p2")));
    batch.push(&child::Entity::insert(child_row("c3", "p2")));
    batch.push(&parent::Entity::insert(parent_row("p1")));
    let err = batch.run(&writer).await.expect_err("a duplicate key fails the batch");
    assert!(
        matches!(err.sql_err(), Some(continuum_db::sea_orm::SqlErr::UniqueConstraintViolation(_))),
        "{err}"
    );
    assert_eq!(parent::Entity::find().count(db).await.unwrap(), 2);
    assert_eq!(child::Entity::find().count(db).await.unwrap(), 2);

    // A child without its parent fails too (the reference is checked), and leaves nothing.
    let mut batch = Batch::new(db);
    batch.push(&parent::Entity::insert(parent_row("p3")));
    batch.push(&child::Entity::insert(child_row("c4", "nobody")));
    batch.run(&writer).await.expect_err("a dangling reference fails the batch");
    assert_eq!(parent::Entity::find().count(db).await.unwrap(), 2);
    assert!(Batch::new(db).is_empty());
    Batch::new(db).run(&writer).await.unwrap();
}

#[tokio::test]
async fn a_batch_lands_whole_or_not_at_all_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let db = continuum_db::connect("batch", &DbSettings::sqlite(dir.path())).await.unwrap();
    exercise(&db).await;
}

#[tokio::test]
async fn a_batch_lands_whole_or_not_at_all_on_postgres() {
    let Some((db, schema)) = common::fresh_postgres("batch").await else { return };
    exercise(&db).await;
    common::drop_schema(&db, &schema).await;
}
