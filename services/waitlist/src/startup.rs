//! Builds the waitlist service (binds the listener, opens and migrates the database, opens the cache,
//! prepares the referral, intake and matching channels) and runs it, with its workers (the offer-expiry
//! sweeper, the slot releases, the placement follow-up and the bridge-program retry), until the shutdown
//! token is cancelled.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use continuum_proto::intake::v1::intake_service_client::IntakeServiceClient;
use continuum_proto::referral::v1::referral_service_client::ReferralServiceClient;
use continuum_proto::waitlist::v1::waitlist_service_server::WaitlistServiceServer;
use continuum_runtime::{ServeOptions, Shutdown};
use tokio::net::TcpListener;
use tonic::service::Routes;

use crate::app::{App, WaitlistPeers};
use crate::clock::{SharedClock, SystemClock};
use crate::config::Settings;
use crate::grpc::WaitlistApi;
use crate::holds::Holds;
use crate::peers::intake::IntakePeer;
use crate::peers::matching::MatchingPeer;
use crate::peers::referral::ReferralPeer;
use crate::store::{Migrator, Store};
use crate::workers::bridge_filler::BridgeFiller;
use crate::workers::followup::FollowUp;
use crate::workers::slot_releases::Releaser;
use crate::workers::sweeper::Sweeper;

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
        continuum_runtime::peer_channel(&settings.matching_addr)?;
        let db =
            continuum_db::connect_and_migrate::<Migrator>(SERVICE, &settings.common.db()).await?;
        let cache = settings.common.open_cache(SERVICE).await?;
        let listener = continuum_runtime::bind(settings.listen_addr).await?;
        Ok(Self {
            listener,
            store: Store::new(db, settings.policy()),
            holds: Holds::new(cache),
            clock,
            settings,
        })
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
            .with_registry(self.settings.common.organizations_file())
    }

    /// A handle on the placement follow-up, reading referrals through `referral` (tests call
    /// `follow_up` with a chosen time).
    pub fn followup(
        &self,
        referral: ReferralServiceClient<continuum_runtime::PeerChannel>,
    ) -> FollowUp {
        FollowUp::new(
            self.store.clone(),
            ReferralPeer::new(referral),
            self.clock.clone(),
            Duration::from_secs(self.settings.followup_interval_secs.max(1)),
        )
    }

    /// A handle on the bridge-program chooser, asking matching's directory (tests call `fill_due` with a
    /// chosen time).
    pub fn bridge_filler(&self) -> anyhow::Result<BridgeFiller> {
        let answers_kept = Duration::from_millis(self.settings.bridge_options_cache_ms);
        Ok(BridgeFiller::new(
            self.store.clone(),
            self.matching_peer()?.with_bridge_cache(answers_kept),
            self.clock.clone(),
            self.settings.bridge_retry_secs,
        ))
    }

    /// A client of the referral service as this service calls it.
    pub fn referral_client(
        &self,
    ) -> anyhow::Result<ReferralServiceClient<continuum_runtime::PeerChannel>> {
        Ok(ReferralServiceClient::new(
            self.settings.common.authed_peer(&self.settings.referral_addr, "waitlist")?,
        ))
    }

    /// The matching client: whose provider a slot is, capacity-event slots (taking them, and giving
    /// unoffered ones back) and bridge programs.
    pub fn matching_peer(&self) -> anyhow::Result<MatchingPeer> {
        MatchingPeer::connect_lazy(&self.settings.matching_addr, &self.settings.common)
    }

    /// Serves until `shutdown` is cancelled, then drains; the sweeper stops on the same token.
    pub async fn run(self, shutdown: Shutdown) -> anyhow::Result<()> {
        continuum_telemetry::names::register_service(SERVICE, env!("CARGO_PKG_VERSION"));
        crate::telemetry::register();
        let referral = self.referral_client()?;
        let sweeper = self.sweeper();
        let every = Duration::from_secs(self.settings.sweep_interval_secs.max(1));
        // A child token: cancelled with `shutdown`, and by us alone when the server stops on its own.
        let sweep_stop = shutdown.child_token();
        let sweep_task = tokio::spawn(sweeper.run(every, sweep_stop.clone()));
        let followup_task = tokio::spawn(self.followup(referral.clone()).run(sweep_stop.clone()));
        let bridges = self.bridge_filler()?;
        let bridge_task =
            tokio::spawn(bridges.clone().run(
                Duration::from_secs(self.settings.bridge_retry_secs.max(1)),
                sweep_stop.clone(),
            ));
        let intake = IntakeServiceClient::new(
            self.settings.common.authed_peer(&self.settings.intake_addr, "waitlist")?,
        );
        let capacity = self.matching_peer()?;
        let release_task = tokio::spawn(
            Releaser::new(self.store.clone(), capacity.clone())
                .run(Duration::from_secs(1), sweep_stop.clone()),
        );
        let relationships = continuum_runtime::care::CareRelationships::connect_lazy(
            &self.settings.common,
            &self.settings.intake_addr,
            "waitlist",
        )?;
        let peers = WaitlistPeers {
            referral: ReferralPeer::new(referral),
            intake: IntakePeer::new(intake),
            matching: capacity,
            relationships,
        };
        let app =
            App::new(self.store.clone(), self.holds.clone(), self.clock.clone(), peers, bridges);
        let routes = Routes::new(
            WaitlistServiceServer::new(WaitlistApi::new(app))
                .max_decoding_message_size(continuum_runtime::MAX_MESSAGE_BYTES),
        );
        let options =
            ServeOptions::new(continuum_proto::service_names::WAITLIST, &self.settings.common)?;
        let auth = self.settings.common.auth_layer("waitlist").await?;
        let probe = continuum_runtime::db_probe(self.store.connection().clone());
        let served =
            continuum_runtime::serve(self.listener, routes, auth, options, shutdown.clone(), probe)
                .await;
        sweep_stop.cancel();
        if let Err(e) = sweep_task.await {
            tracing::warn!(error = %e, "offer sweeper ended abnormally");
        }
        if let Err(e) = release_task.await {
            tracing::warn!(error = %e, "slot-release worker ended abnormally");
        }
        if let Err(e) = bridge_task.await {
            tracing::warn!(error = %e, "bridge retry ended abnormally");
        }
        if let Err(e) = followup_task.await {
            tracing::warn!(error = %e, "placement follow-up ended abnormally");
        }
        served
    }
}
