//! Health follows the database: a service reports NOT_SERVING for its own name while its database is
//! unreachable and SERVING again once it is back, while the overall ("") status — what liveness probes
//! check — stays SERVING. Runs against PostgreSQL (the server-backed pass), where the test can cut the
//! service off its database without touching anyone else's: it forbids new connections to the test's own
//! database and ends the open ones.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use sea_orm::{ConnectionTrait, Database};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::stack::{Stack, eventually};

async fn status(stack: &Stack, service: &str, name: &str) -> Option<i32> {
    let ch = continuum_runtime::peer_channel(&stack.addrs[service]).ok()?;
    HealthClient::new(ch)
        .check(HealthCheckRequest { service: name.into() })
        .await
        .ok()
        .map(|r| r.into_inner().status)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_is_not_serving_while_its_database_is_down() {
    let Ok(admin_url) = std::env::var(continuum_testkit::DATABASE_ENV) else {
        eprintln!(
            "health-follows-database runs in the PostgreSQL pass ({} unset)",
            continuum_testkit::DATABASE_ENV
        );
        return;
    };
    let stack = Stack::start().await;
    let db_url = stack.backing.database_url().expect("server-backed run").to_owned();
    let db_name = db_url.rsplit('/').next().unwrap().split('?').next().unwrap().to_owned();
    let name = continuum_proto::service_names::MATCHING;
    assert_eq!(status(&stack, "matching", name).await, Some(ServingStatus::Serving as i32));

    let admin = Database::connect(admin_url.as_str()).await.unwrap();
    admin
        .execute_unprepared(&format!("ALTER DATABASE {db_name} ALLOW_CONNECTIONS false"))
        .await
        .unwrap();
    admin
        .execute_unprepared(&format!("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{db_name}' AND pid <> pg_backend_pid()"))
        .await
        .unwrap();
    let down = eventually(Duration::from_secs(30), || async {
        (status(&stack, "matching", name).await == Some(ServingStatus::NotServing as i32))
            .then_some(())
    })
    .await;
    let overall = status(&stack, "matching", "").await;
    admin
        .execute_unprepared(&format!("ALTER DATABASE {db_name} ALLOW_CONNECTIONS true"))
        .await
        .unwrap();
    assert!(down.is_some(), "matching reports NOT_SERVING while its database is unreachable");
    assert_eq!(overall, Some(ServingStatus::Serving as i32), "liveness stays SERVING");

    let up = eventually(Duration::from_secs(30), || async {
        (status(&stack, "matching", name).await == Some(ServingStatus::Serving as i32))
            .then_some(())
    })
    .await;
    assert!(up.is_some(), "matching reports SERVING again once its database is back");
    admin.close().await.ok();
}
