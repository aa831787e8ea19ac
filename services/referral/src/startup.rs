//! Builds the referral service (binds the listener, opens and migrates the database, prepares the lazy
//! matching and intake clients) and runs it, with its outbox worker and deadline sweeper, until the shutdown token is cancelled.

use std::net::SocketAddr;
use std::time::Duration;

use continuum_proto::referral::v1::referral_service_server::ReferralServiceServer;
use continuum_runtime::{ServeOptions, Shutdown};
use tokio::net::TcpListener;
use tonic::service::Routes;

use crate::app::{App, ReferralPeers};
use crate::config::Settings;
use crate::grpc::ReferralApi;
use crate::peers::intake::IntakePeer;
use crate::peers::matching::MatchingPeer;
use crate::peers::timeline::CareSources;
use crate::store::{Migrator, Store};
use crate::workers::deadlines::Deadlines;
use crate::workers::outbox::Relay;

/// Service name used for the database schema and SQLite file.
pub const SERVICE: &str = "referral";

/// A built, not yet running, referral service.
#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    store: Store,
    matching: MatchingPeer,
    intake: IntakePeer,
    settings: Settings,
}

impl Application {
    /// Binds the listener (port 0 picks a free one), prepares the database and the matching and intake
    /// clients (which connect on first use, so matching and intake may start later).
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let matching = MatchingPeer::connect_lazy(&settings.matching_addr, &settings.common)?;
        let intake = IntakePeer::connect_lazy(&settings.intake_addr, &settings.common)?;
        let db =
            continuum_db::connect_and_migrate::<Migrator>(SERVICE, &settings.common.db()).await?;
        let listener = continuum_runtime::bind(settings.listen_addr).await?;
        Ok(Self { listener, store: Store::new(db), matching, intake, settings })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().unwrap_or(self.settings.listen_addr)
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// A handle on the deadline sweep (tests call `sweep` with a chosen time).
    pub fn deadlines(&self) -> Deadlines {
        Deadlines::new(
            self.store.clone(),
            self.matching.clone(),
            Relay::new(self.store.clone(), self.matching.clone()),
        )
        .with_response_window(self.settings.response_window())
    }

    /// Serves until `shutdown` is cancelled, then drains; the outbox worker stops with the same token.
    pub async fn run(self, shutdown: Shutdown) -> anyhow::Result<()> {
        continuum_telemetry::names::register_service(SERVICE, env!("CARGO_PKG_VERSION"));
        crate::telemetry::register();
        let relay = Relay::new(self.store.clone(), self.matching.clone());
        // A child token: cancelled with `shutdown`, and on its own when the server ends by itself, without
        // cancelling the caller's token (the all-in-one binary shares it between services).
        let worker_stop = shutdown.child_token();
        let worker = tokio::spawn(relay.clone().run(worker_stop.clone()));
        let deadlines = Deadlines::new(self.store.clone(), self.matching.clone(), relay.clone())
            .with_response_window(self.settings.response_window());
        let sweep_every = Duration::from_secs(self.settings.deadline_sweep_secs.max(1));
        let sweeper = tokio::spawn(deadlines.clone().run(sweep_every, worker_stop.clone()));
        let sources = CareSources::connect_lazy(
            &self.settings.intake_addr,
            &self.settings.matching_addr,
            &self.settings.waitlist_addr,
            &self.settings.common,
        )?;
        let relationships = continuum_runtime::care::CareRelationships::connect_lazy(
            &self.settings.common,
            &self.settings.intake_addr,
            SERVICE,
        )?;
        let peers = ReferralPeers { matching: self.matching, intake: self.intake, relationships };
        let app = App::new(self.store.clone(), peers, relay, deadlines, worker_stop.clone())
            .with_care_sources(sources);
        let api = ReferralApi::new(app);
        let routes = Routes::new(
            ReferralServiceServer::new(api)
                .max_decoding_message_size(continuum_runtime::MAX_MESSAGE_BYTES),
        );
        let options =
            ServeOptions::new(continuum_proto::service_names::REFERRAL, &self.settings.common)?;
        let auth = self.settings.common.auth_layer("referral").await?;
        let probe = continuum_runtime::db_probe(self.store.connection().clone());
        let served =
            continuum_runtime::serve(self.listener, routes, auth, options, shutdown, probe).await;
        worker_stop.cancel();
        if let Err(e) = worker.await {
            tracing::warn!(error = %e, "outbox worker ended abnormally");
        }
        if let Err(e) = sweeper.await {
            tracing::warn!(error = %e, "deadline sweeper ended abnormally");
        }
        served
    }
}
