//! Builds the waitlist service (binds the listener, opens and migrates the database, opens the cache,
//! prepares the referral and intake channels) and runs it, with the offer-expiry sweeper, until the shutdown token is
//! cancelled.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use continuum_proto::intake::v1::intake_service_client::IntakeServiceClient;
use continuum_proto::referral::v1::referral_service_client::ReferralServiceClient;
use continuum_proto::waitlist::v1::waitlist_service_server::WaitlistServiceServer;
use continuum_runtime::{ServeOptions, Shutdown};
use tokio::net::TcpListener;
use tonic::service::Routes;

use crate::clock::{SharedClock, SystemClock};
use crate::config::Settings;
use crate::grpc::WaitlistApi;
use crate::holds::Holds;
use crate::store::{Migrator, Store};
use crate::sweeper::Sweeper;

/// Service name used for the database schema, SQLite file and cache namespace.
pub const SERVICE: &str = "waitlist";

/// A built, not yet running, waitlist service.
#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    store: Store,
    holds: Holds,
    clock: SharedClock,
    settings: Settings,
}

impl Application {
    /// Binds the listener (port 0 picks a free one), prepares the database and the cache, on the wall
    /// clock.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        Self::build_with_clock(settings, Arc::new(SystemClock)).await
    }

    /// Like [`Application::build`], reading time from `clock` (tests pass a manual clock).
    pub async fn build_with_clock(settings: Settings, clock: SharedClock) -> anyhow::Result<Self> {
        // Fail on a bad peer address before binding anything; the channel itself connects lazily.
        continuum_runtime::peer_channel(&settings.referral_addr)?;
        continuum_runtime::peer_channel(&settings.intake_addr)?;
        let db = continuum_db::connect_and_migrate::<Migrator>(SERVICE, &settings.common.db()).await?;
        let cache = settings.common.open_cache(SERVICE).await?;
        let listener = continuum_runtime::bind(settings.listen_addr).await?;
        Ok(Self { listener, store: Store::new(db, settings.policy()), holds: Holds::new(cache), clock, settings })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().unwrap_or(self.settings.listen_addr)
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The offer holds in the cache.
    pub fn holds(&self) -> &Holds {
        &self.holds
    }

    /// A handle on the offer-expiry sweep (tests call `sweep_expired` with a chosen time).
    pub fn sweeper(&self) -> Sweeper {
        Sweeper::new(self.store.clone(), self.holds.clone(), self.clock.clone())
    }

    /// Serves until `shutdown` is cancelled, then drains; the sweeper stops on the same token.
    pub async fn run(self, shutdown: Shutdown) -> anyhow::Result<()> {
        let referral = ReferralServiceClient::new(self.settings.common.authed_peer(&self.settings.referral_addr, "waitlist")?);
        let sweeper = self.sweeper();
        let every = Duration::from_secs(self.settings.sweep_interval_secs.max(1));
        // A child token: cancelled with `shutdown`, and by us alone when the server stops on its own.
        let sweep_stop = shutdown.child_token();
        let sweep_task = tokio::spawn(sweeper.run(every, sweep_stop.clone()));
        let intake = IntakeServiceClient::new(self.settings.common.authed_peer(&self.settings.intake_addr, "waitlist")?);
        let api = WaitlistApi::new(self.store.clone(), self.holds.clone(), self.clock.clone(), referral, intake);
        let routes = Routes::new(WaitlistServiceServer::new(api));
        let options = ServeOptions::new(continuum_proto::service_names::WAITLIST, &self.settings.common)?;
        let auth = self.settings.common.auth_layer("waitlist").await?;
        let probe = continuum_runtime::db_probe(self.store.connection().clone());
        let served = continuum_runtime::serve(self.listener, routes, auth, options, shutdown.clone(), probe).await;
        sweep_stop.cancel();
        if let Err(e) = sweep_task.await {
            tracing::warn!(error = %e, "offer sweeper ended abnormally");
        }
        served
    }
}
