//! The care timeline across services: referral's own steps merged with the intake, waitlist and session
//! feedback steps the other services report through their `ListCareEvents` RPCs.
//!
//! Each peer is asked on the caller's behalf (a service token carrying the caller's organization and
//! user), so each service applies its own scoping and audit: a clinic sees its own intakes and waitlist
//! entries, a provider organization its own feedback, and both the steps of referrals they are party to.
//! The peers are asked at once, each with a short deadline; one that cannot answer is named in
//! `unavailable_sources` and the rest of the timeline is still returned. [`merge`] is pure.

use std::time::Duration;

use continuum_auth::Caller;
use continuum_proto::common::v1::CareEvent;
use continuum_proto::intake::v1 as ipb;
use continuum_proto::intake::v1::intake_service_client::IntakeServiceClient;
use continuum_proto::matching::v1 as mpb;
use continuum_proto::matching::v1::matching_service_client::MatchingServiceClient;
use continuum_proto::waitlist::v1 as wpb;
use continuum_proto::waitlist::v1::waitlist_service_client::WaitlistServiceClient;
use continuum_runtime::PeerChannel;
use continuum_vocab::ids::ClientId;
use continuum_vocab::time;
use tonic::metadata::MetadataValue;

use crate::store::TimelineItem;

/// How long one peer may take before the timeline is answered without its steps.
pub const PEER_DEADLINE: Duration = Duration::from_secs(3);

/// The purpose of use the peers record for a timeline read.
pub const PURPOSE: &str = "care_coordination";

/// Lazily connected clients of the services whose steps the timeline shows.
#[derive(Clone, Debug)]
pub struct CareSources {
    intake: IntakeServiceClient<PeerChannel>,
    matching: MatchingServiceClient<PeerChannel>,
    waitlist: WaitlistServiceClient<PeerChannel>,
}

/// What the peers reported: their steps, and the sources that could not be read.
#[derive(Clone, Debug, Default)]
pub struct PeerSteps {
    /// Steps, in no particular order.
    pub events: Vec<CareEvent>,
    /// Sources that did not answer in time or failed.
    pub unavailable: Vec<&'static str>,
}

fn ask<T>(message: T, caller: &Caller) -> tonic::Request<T> {
    let mut req =
        continuum_auth::on_behalf_of(message, &caller.organization_id, Some(caller.audit_user()));
    req.set_timeout(PEER_DEADLINE);
    req.metadata_mut().insert("x-continuum-purpose", MetadataValue::from_static(PURPOSE));
    req
}

/// The steps of one peer, or the source's name when it cannot give them now.
fn settle(
    source: &'static str,
    answer: Result<Result<Vec<CareEvent>, tonic::Status>, tokio::time::error::Elapsed>,
) -> Result<Vec<CareEvent>, &'static str> {
    match answer {
        Ok(Ok(events)) => Ok(events),
        Ok(Err(status)) => {
            tracing::warn!(peer = source, code = ?status.code(), "care timeline source failed");
            Err(source)
        }
        Err(_) => {
            tracing::warn!(peer = source, "care timeline source timed out");
            Err(source)
        }
    }
}

impl CareSources {
    /// Clients of intake, matching and waitlist at these addresses (`host:port` or URL); each connects on
    /// first use, so a peer that is down at start-up is not an error.
    pub fn connect_lazy(
        intake_addr: &str,
        matching_addr: &str,
        waitlist_addr: &str,
        common: &continuum_runtime::CommonSettings,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            intake: IntakeServiceClient::new(common.authed_peer(intake_addr, "referral")?),
            matching: MatchingServiceClient::new(common.authed_peer(matching_addr, "referral")?),
            waitlist: WaitlistServiceClient::new(common.authed_peer(waitlist_addr, "referral")?),
        })
    }

    /// Asks the three peers at once for `client_id`'s steps, as `caller`.
    pub async fn steps(&self, client_id: &ClientId, caller: &Caller) -> PeerSteps {
        let (mut intake, mut matching, mut waitlist) =
            (self.intake.clone(), self.matching.clone(), self.waitlist.clone());
        let id = client_id.to_string();
        let limit = PEER_DEADLINE + Duration::from_millis(500);
        let (i, m, w) = tokio::join!(
            tokio::time::timeout(limit, async {
                intake
                    .list_care_events(ask(
                        ipb::ListCareEventsRequest { client_id: id.clone() },
                        caller,
                    ))
                    .await
                    .map(|r| r.into_inner().events)
            }),
            tokio::time::timeout(limit, async {
                matching
                    .list_care_events(ask(
                        mpb::ListCareEventsRequest { client_id: id.clone() },
                        caller,
                    ))
                    .await
                    .map(|r| r.into_inner().events)
            }),
            tokio::time::timeout(limit, async {
                waitlist
                    .list_care_events(ask(
                        wpb::ListCareEventsRequest { client_id: id.clone() },
                        caller,
                    ))
                    .await
                    .map(|r| r.into_inner().events)
            }),
        );
        let mut out = PeerSteps::default();
        for result in [settle("intake", i), settle("matching", m), settle("waitlist", w)] {
            match result {
                Ok(events) => out.events.extend(events),
                Err(source) => out.unavailable.push(source),
            }
        }
        out
    }
}

/// One referral step as a timeline entry.
pub fn referral_entry(i: &TimelineItem) -> CareEvent {
    let mut details = std::collections::HashMap::new();
    details.insert("status".to_owned(), i.event.to_status.code().to_owned());
    if let Some(reason) = i.event.rejection_reason {
        details.insert("rejection_reason".to_owned(), reason.code().to_owned());
    }
    if let Some(t) = i.event.appointment_at {
        details.insert("appointment_at".to_owned(), t.to_rfc3339());
    }
    CareEvent {
        occurred_at: Some(time::to_proto(i.event.occurred_at)),
        referral_id: i.event.referral_id.to_string(),
        organization_id: i.event.actor_organization_id.clone(),
        kind: i.event.kind().to_owned(),
        provider_id: i.provider_id.to_string(),
        source: "referral".to_owned(),
        record_id: i.event.id.clone(),
        details,
    }
}

/// The whole timeline in time order. Steps at the same instant keep the order of a client's path
/// (intake, matching, waitlist, then referral) and, within a source, the order they were given in.
pub fn merge(referral_steps: Vec<CareEvent>, peer_steps: Vec<CareEvent>) -> Vec<CareEvent> {
    let rank = |source: &str| match source {
        "intake" => 0,
        "matching" => 1,
        "waitlist" => 2,
        _ => 3,
    };
    let mut all: Vec<CareEvent> = peer_steps.into_iter().chain(referral_steps).collect();
    all.sort_by_key(|e| (e.occurred_at.map(|t| (t.seconds, t.nanos)), rank(&e.source)));
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64, source: &str, kind: &str) -> CareEvent {
        CareEvent {
            occurred_at: Some(prost_types::Timestamp { seconds, nanos: 0 }),
            source: source.into(),
            kind: kind.into(),
            ..Default::default()
        }
    }

    fn peer(seconds: i64, source: &str, kind: &str) -> CareEvent {
        at(seconds, source, kind)
    }

    #[test]
    fn merges_in_time_order_and_keeps_the_path_order_at_the_same_instant() {
        let merged = merge(
            vec![at(30, "referral", "referral.requested"), at(10, "referral", "referral.created")],
            vec![
                peer(10, "waitlist", "waitlist.enqueued"),
                peer(5, "intake", "intake.received"),
                peer(10, "intake", "intake.routed"),
            ],
        );
        let kinds: Vec<&str> = merged.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(
            kinds,
            [
                "intake.received",
                "intake.routed",
                "waitlist.enqueued",
                "referral.created",
                "referral.requested"
            ]
        );
    }

    #[test]
    fn a_step_without_a_time_comes_first_rather_than_being_lost() {
        let mut undated = peer(0, "matching", "feedback.recorded");
        undated.occurred_at = None;
        let merged = merge(vec![at(1, "referral", "referral.requested")], vec![undated]);
        assert_eq!(merged.len(), 2);
        assert_eq!(merged[0].kind, "feedback.recorded");
    }
}
