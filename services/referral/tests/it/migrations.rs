//! Start-up migrations: replicas that start together on a fresh PostgreSQL database (a first install with
//! several replicas) create the schema and migrate one at a time under an advisory lock, so every one of
//! them starts; on any backing, migrating again is a no-op.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use continuum_testkit::Backing;
use referral::store::Migrator;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_starting_together_all_migrate_and_a_second_run_changes_nothing() {
    let backing = Backing::fresh().await;
    let settings = backing.common().db();
    if backing.database_url().is_some() {
        let starts: Vec<_> = (0..4)
            .map(|_| {
                let s = settings.clone();
                tokio::spawn(async move {
                    continuum_db::connect_and_migrate::<Migrator>("referral", &s).await.map(|_| ())
                })
            })
            .collect();
        for s in starts {
            s.await.unwrap().expect("every replica starts");
        }
    }
    let db = continuum_db::connect_and_migrate::<Migrator>("referral", &settings).await.unwrap();
    let again = continuum_db::connect_and_migrate::<Migrator>("referral", &settings).await.unwrap();
    use sea_orm_migration::MigratorTrait;
    assert!(Migrator::get_pending_migrations(&db).await.unwrap().is_empty());
    assert_eq!(
        Migrator::get_applied_migrations(&again).await.unwrap().len(),
        Migrator::migrations().len()
    );
}
