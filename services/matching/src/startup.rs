//! Builds the matching service (binds the listener, opens and migrates the database) and runs it until
//! the shutdown token is cancelled.

use std::net::SocketAddr;

use continuum_proto::matching::v1::matching_service_server::MatchingServiceServer;
use continuum_runtime::{ServeOptions, Shutdown};
use tokio::net::TcpListener;
use tonic::service::Routes;

use crate::config::Settings;
use crate::grpc::MatchingApi;
use crate::store::{Migrator, Store};

/// Service name used for the database schema and SQLite file.
pub const SERVICE: &str = "matching";

/// A built, not yet running, matching service.
#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    store: Store,
    settings: Settings,
    model: crate::config::FitModel,
}

impl Application {
    /// Binds the listener (port 0 picks a free one) and prepares the database.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let model = settings.fit_model()?;
        let db =
            continuum_db::connect_and_migrate::<Migrator>(SERVICE, &settings.common.db()).await?;
        let listener = continuum_runtime::bind(settings.listen_addr).await?;
        Ok(Self { listener, store: Store::new(db), settings, model })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().unwrap_or(self.settings.listen_addr)
    }

    /// The store (the all-in-one binary seeds demo data through it).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Serves until `shutdown` is cancelled, then drains.
    pub async fn run(self, shutdown: Shutdown) -> anyhow::Result<()> {
        continuum_telemetry::names::register_service(SERVICE, env!("CARGO_PKG_VERSION"));
        crate::telemetry::register();
        let intake = continuum_runtime::care::CareRelationships::connect_lazy(
            &self.settings.common,
            &self.settings.intake_addr,
            SERVICE,
        )?;
        let app = crate::app::App::new(self.store.clone(), self.model.clone(), intake);
        // Load the directory snapshot in the background so the first Recommend does not pay for it.
        let warm = app.clone();
        tokio::spawn(async move { warm.warm_directory().await });
        let api = MatchingApi::new(app);
        let relay = crate::workers::capacity_events::Relay::new(
            self.store.clone(),
            self.settings.waitlist_addr.as_deref(),
            &self.settings.common,
            std::time::Duration::from_millis(self.settings.capacity_event_poll_ms),
        )?;
        tokio::spawn(relay.run(shutdown.clone()));
        let routes = Routes::new(
            MatchingServiceServer::new(api)
                .max_decoding_message_size(continuum_runtime::MAX_MESSAGE_BYTES),
        );
        let options =
            ServeOptions::new(continuum_proto::service_names::MATCHING, &self.settings.common)?;
        let auth = self.settings.common.auth_layer(SERVICE).await?;
        let probe = continuum_runtime::db_probe(self.store.connection().clone());
        continuum_runtime::serve(self.listener, routes, auth, options, shutdown, probe).await
    }
}
