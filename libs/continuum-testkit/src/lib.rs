//! Test helpers shared by every crate's tests: a fresh, isolated backing store per test (with its own
//! organization registry: every token minted here registers its organization), [`intake_double`], a
//! test double of intake's care-relationship answers for the component tests of its peers, and
//! [`query_plan`], the database's plan for a statement a store ran.
//!
//! On the embedded default a test gets a temporary data directory (SQLite files, in-process cache). When
//! the test configuration names servers — `CONTINUUM_TEST_DATABASE_URL` (a PostgreSQL URL whose user may
//! create databases) and `CONTINUUM_TEST_REDIS_URL` — each test gets its own freshly created PostgreSQL
//! database (dropped afterwards) and the Redis server. A configured server that cannot be reached fails
//! the test loudly; it is never skipped.

#![allow(clippy::expect_used)]

pub mod intake_double;
pub mod proto_paths;
pub mod query_plan;
pub mod requests;
pub mod wire;

use std::path::Path;

use std::time::Duration;

use continuum_auth::{AuthSettings, Minter, Role};
use continuum_runtime::CommonSettings;
use sea_orm::{ConnectionTrait, Database};

/// Env var naming the PostgreSQL server for server-backed test runs.
pub const DATABASE_ENV: &str = "CONTINUUM_TEST_DATABASE_URL";
/// Env var naming the Redis server for server-backed test runs.
pub const REDIS_ENV: &str = "CONTINUUM_TEST_REDIS_URL";
/// The organization registry's file name in a backing's data directory (the services' default).
pub const ORGANIZATIONS_FILE: &str = "organizations.json";

/// An isolated place for one test's data. Dropping it removes the data (and drops the PostgreSQL database).
#[derive(Debug)]
pub struct Backing {
    dir: tempfile::TempDir,
    secret: String,
    database_url: Option<String>,
    redis_url: Option<String>,
    pg: Option<(String, String)>,
}

impl Backing {
    /// A fresh backing store: SQLite + in-process by default, PostgreSQL + Redis when configured.
    pub async fn fresh() -> Backing {
        let dir = tempfile::tempdir().expect("creating a temporary directory");
        let redis_url = std::env::var(REDIS_ENV).ok().filter(|s| !s.is_empty());
        let (database_url, pg) = match std::env::var(DATABASE_ENV).ok().filter(|s| !s.is_empty()) {
            Some(admin_url) => {
                let name = format!("continuum_test_{}", uuid::Uuid::new_v4().simple());
                let admin = Database::connect(admin_url.as_str()).await.unwrap_or_else(|e| {
                    panic!("{DATABASE_ENV} is set but PostgreSQL cannot be reached: {e}")
                });
                admin
                    .execute_unprepared(&format!("CREATE DATABASE {name}"))
                    .await
                    .expect("creating a test database");
                admin.close().await.ok();
                (Some(with_database(&admin_url, &name)), Some((admin_url, name)))
            }
            None => (None, None),
        };
        // The organization registry starts empty; every token minted here registers its organization.
        std::fs::write(dir.path().join(ORGANIZATIONS_FILE), r#"{"organizations": []}"#)
            .expect("writing the organization registry");
        Backing { dir, secret: continuum_auth::token::random_secret(), database_url, redis_url, pg }
    }

    /// Adds `organization_id` to this backing's organization registry (services see it at its first call).
    pub fn register(&self, organization_id: &str) {
        continuum_auth::registry::RegistryFile::add(
            &self.organizations_file(),
            organization_id,
            "test organization",
        )
        .expect("registering a test organization");
    }

    /// This backing's organization registry.
    pub fn organizations_file(&self) -> std::path::PathBuf {
        self.dir.path().join(ORGANIZATIONS_FILE)
    }

    /// Settings for a service under test pointing at this backing store.
    pub fn common(&self) -> CommonSettings {
        let mut c = CommonSettings::embedded(self.dir.path(), &self.secret);
        c.database_url = self.database_url.clone().map(Into::into);
        c.redis_url = self.redis_url.clone().map(Into::into);
        c.cache_namespace = self.namespace();
        c.crypto.encryption_keys = Some(self.encryption_keys().into());
        // Named explicitly, so a peer given these auth settings shares this backing's registry.
        c.auth.organizations_file = Some(self.organizations_file());
        c.shutdown_grace_secs = 2;
        c
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    /// The PostgreSQL URL of this test's database, when server-backed.
    pub fn database_url(&self) -> Option<&str> {
        self.database_url.as_deref()
    }

    /// The Redis URL, when server-backed.
    pub fn redis_url(&self) -> Option<&str> {
        self.redis_url.as_deref()
    }

    /// Environment variables that point a service process at this backing store.
    pub fn env(&self) -> Vec<(String, String)> {
        let mut env = vec![
            ("CONTINUUM_DATA_DIR".to_owned(), self.dir.path().display().to_string()),
            ("CONTINUUM_AUTH_DEV_SECRET".to_owned(), self.secret.clone()),
            ("CONTINUUM_CACHE_NAMESPACE".to_owned(), self.namespace()),
            ("CONTINUUM_ENCRYPTION_KEYS".to_owned(), self.encryption_keys()),
            (
                "CONTINUUM_ORGANIZATIONS_FILE".to_owned(),
                self.organizations_file().display().to_string(),
            ),
        ];
        if let Some(u) = &self.database_url {
            env.push(("CONTINUUM_DATABASE_URL".to_owned(), u.clone()));
        }
        if let Some(u) = &self.redis_url {
            env.push(("CONTINUUM_REDIS_URL".to_owned(), u.clone()));
        }
        env
    }

    /// A cache namespace of this test's own, so tests sharing a Redis server never see each other's keys.
    fn namespace(&self) -> String {
        let dir = self
            .dir
            .path()
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        format!("test-{dir}")
    }

    /// The field-encryption key list of this test (one key derived from the backing's secret).
    pub fn encryption_keys(&self) -> String {
        use base64::Engine;
        let digest = ring::digest::digest(&ring::digest::SHA256, self.secret.as_bytes());
        format!("test-1:{}", base64::engine::general_purpose::STANDARD.encode(digest.as_ref()))
    }

    /// A user token for `organization_id` with `roles`, signed with this backing's development secret;
    /// the organization is registered first.
    pub fn token(&self, organization_id: &str, roles: &[Role]) -> String {
        self.register(organization_id);
        self.unregistered_token(organization_id, roles)
    }

    /// A validly signed user token for `organization_id` without registering it (an organization this
    /// deployment does not serve, unless registered otherwise).
    pub fn unregistered_token(&self, organization_id: &str, roles: &[Role]) -> String {
        self.minter()
            .dev_user_token("test-user", organization_id, roles, Duration::from_secs(3600))
            .expect("minting a test token")
    }

    /// A service token acting for a user of `organization_id` (what a peer service sends); the
    /// organization is registered first.
    pub fn service_token(&self, organization_id: &str) -> String {
        self.service_token_of("test", organization_id)
    }

    /// A service token of the peer service `service` (its `svc` claim) acting for a user of
    /// `organization_id`; the organization is registered first.
    pub fn service_token_of(&self, service: &str, organization_id: &str) -> String {
        self.register(organization_id);
        self.minter()
            .service_token(service, organization_id, Some("test-user"), Duration::from_secs(3600))
            .expect("minting a service token")
    }

    fn minter(&self) -> Minter {
        Minter::from_settings(&AuthSettings::dev(&self.secret)).expect("test minter")
    }

    /// Which engines back this test ("sqlite+in-process" or "postgres+redis").
    pub fn describe(&self) -> String {
        format!(
            "{}+{}",
            if self.database_url.is_some() { "postgres" } else { "sqlite" },
            if self.redis_url.is_some() { "redis" } else { "in-process" }
        )
    }
}

impl Drop for Backing {
    fn drop(&mut self) {
        if let Some((admin_url, name)) = self.pg.take() {
            // Drop runs outside async context; a short-lived runtime on its own thread does the cleanup.
            let _ = std::thread::spawn(move || {
                let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build()
                else {
                    return;
                };
                rt.block_on(async move {
                    if let Ok(admin) = Database::connect(admin_url.as_str()).await {
                        let _ = admin
                            .execute_unprepared(&format!(
                                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                            ))
                            .await;
                        admin.close().await.ok();
                    }
                });
            })
            .join();
        }
    }
}

/// Replaces the database name (the URL path) of a PostgreSQL URL.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let host_part = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    match query {
        Some(q) => format!("{host_part}/{name}?{q}"),
        None => format!("{host_part}/{name}"),
    }
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn replaces_database_name() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/test", "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            with_database("postgres://u@h/test?sslmode=disable", "x"),
            "postgres://u@h/x?sslmode=disable"
        );
        assert_eq!(with_database("postgres://u@h", "x"), "postgres://u@h/x");
    }
}

/// A client interceptor sending a fixed bearer token (tests call servers as a chosen caller).
#[derive(Clone, Debug)]
pub struct Bearer(tonic::metadata::MetadataValue<tonic::metadata::Ascii>);

impl Bearer {
    /// Sends `token`.
    pub fn new(token: &str) -> Self {
        Bearer(format!("Bearer {token}").parse().expect("a token is a header value"))
    }

    /// Sends no credentials at all.
    pub fn none() -> Self {
        Bearer(tonic::metadata::MetadataValue::from_static(""))
    }
}

impl tonic::service::Interceptor for Bearer {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if !self.0.is_empty() {
            req.metadata_mut().insert("authorization", self.0.clone());
        }
        Ok(req)
    }
}

/// A test channel with `token` on every call.
pub type AuthedChannel =
    tonic::service::interceptor::InterceptedService<tonic::transport::Channel, Bearer>;

/// The folder holding the self-signed `localhost` certificate and key used by the TLS tests.
pub fn tls_cert_dir() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("certs")
}

/// An accepting adult outpatient clinician of `organization_id`: US-CA, English, self-pay, video, offering
/// `modalities`, with `slots` open slots. The directory entry most tests start from.
pub fn clinician(
    organization_id: &str,
    name: &str,
    modalities: &[continuum_proto::common::v1::Modality],
    slots: i32,
) -> continuum_proto::matching::v1::Provider {
    use continuum_proto::common::v1 as common;
    continuum_proto::matching::v1::Provider {
        organization_id: organization_id.into(),
        display_name: name.into(),
        kind: continuum_proto::matching::v1::ProviderKind::Clinician as i32,
        levels_of_care: vec![common::LevelOfCare::Outpatient as i32],
        age_groups: vec![common::AgeGroup::Adult as i32],
        jurisdictions: vec!["US-CA".into()],
        languages: vec!["en".into()],
        modalities: modalities.iter().map(|m| *m as i32).collect(),
        payment_options: vec![common::PaymentOption::SelfPay as i32],
        formats: vec![common::CareFormat::Video as i32],
        accepting_new_clients: true,
        open_slots: slots,
        ..Default::default()
    }
}
