//! Builds the intake service (database, peer clients, router) and runs it with its routing worker
//! until the shutdown token is cancelled.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use continuum_auth::crypto::FieldCipher;

use continuum_proto::intake::v1::intake_service_server::IntakeServiceServer;
use continuum_runtime::{ServeOptions, Shutdown};
use tokio::net::TcpListener;
use tonic::service::Routes;

use crate::app::App;
use crate::app::routing::Router;
use crate::config::Settings;
use crate::domain::Rules;
use crate::grpc::IntakeApi;
use crate::peers::Peers;
use crate::peers::referral::ReferralPeer;
use crate::store::{Migrator, Store};

/// Service name used for the database schema, SQLite file and cache namespace.
pub const SERVICE: &str = "intake";

/// A built, not yet running, intake service.
#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    store: Store,
    api: IntakeApi,
    router: Router,
    settings: Settings,
}

impl Application {
    /// Binds the listener (port 0 picks a free one), prepares the database and cache, and creates the peer
    /// clients (which connect lazily: a peer that is down now is not an error).
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        // The rules first: a bad rules file stops start-up before anything is bound or migrated.
        let rules = Arc::new(Rules::load(settings.rules_file.as_deref())?);
        tracing::info!(rules_version = %rules.version, custom = settings.rules_file.is_some(), "intake rules loaded");
        let db =
            continuum_db::connect_and_migrate::<Migrator>(SERVICE, &settings.common.db()).await?;
        let common = &settings.common;
        if common.database_url.is_some() && common.crypto.encryption_keys.is_none() {
            anyhow::bail!(
                "CONTINUUM_ENCRYPTION_KEYS is required with a database URL (the key file fallback is for the embedded setup only)"
            );
        }
        let cipher = FieldCipher::from_settings_or_file(
            &common.crypto,
            &common.data_dir.join("intake.keys"),
        )?;
        let store = Store::new(db, Arc::new(cipher));
        let peers = Peers::connect(&settings)?;
        let referrals = ReferralPeer::new(peers.referral.clone());
        let router = Router::new(
            store.clone(),
            peers,
            rules.clone(),
            Duration::from_secs(settings.routing_max_backoff_secs.max(1)),
        );
        let api = IntakeApi::new(App::new(store.clone(), router.clone(), rules, referrals));
        let listener = continuum_runtime::bind(settings.listen_addr).await?;
        Ok(Self { listener, store, api, router, settings })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().unwrap_or(self.settings.listen_addr)
    }

    /// Serves until `shutdown` is cancelled, then stops the worker and drains.
    pub async fn run(self, shutdown: Shutdown) -> anyhow::Result<()> {
        continuum_telemetry::names::register_service(SERVICE, env!("CARGO_PKG_VERSION"));
        crate::telemetry::register();
        let worker = tokio::spawn(crate::workers::routing::run(
            self.router.clone(),
            shutdown.clone(),
            self.settings.routing_poll(),
        ));
        let sweeper =
            tokio::spawn(crate::workers::tasks::run(self.store.clone(), shutdown.clone()));
        let routes = Routes::new(
            IntakeServiceServer::new(self.api)
                .max_decoding_message_size(continuum_runtime::MAX_MESSAGE_BYTES),
        );
        let options =
            ServeOptions::new(continuum_proto::service_names::INTAKE, &self.settings.common)?;
        let auth = self.settings.common.auth_layer(SERVICE).await?;
        let probe = continuum_runtime::db_probe(self.store.connection().clone());
        let served =
            continuum_runtime::serve(self.listener, routes, auth, options, shutdown.clone(), probe)
                .await;
        shutdown.cancel();
        let _ = worker.await;
        let _ = sweeper.await;
        served
    }
}
