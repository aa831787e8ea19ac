//! The waitlist's client of the matching service: whose provider a slot is (only the provider's own
//! organization opens its slots), taking the slot an offer holds when the slots came from a matching
//! capacity event (so new intakes cannot take it while the offer is pending), giving it back when the
//! offer chain ends with nobody eligible, and the bridge-type programs its directory ranks for a waiting
//! client. Takes and give-backs carry a hold key, so matching applies each at most once and every call
//! here is safe to retry; they act for the provider's organization, the one the capacity event was for.
//!
//! Matching's bridge options for a profile are kept for a moment ([`MatchingPeer::with_bridge_cache`]):
//! clients enqueued in a burst (a clinic's batch, a backlog drained after an outage) often share a profile,
//! and each ask is a ranking of the directory per bridge level.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use continuum_auth::OnBehalfOf;
use continuum_errors::PeerError;
use continuum_proto::matching::v1 as pb;
use continuum_proto::matching::v1::matching_service_client::MatchingServiceClient;
use continuum_runtime::PeerChannel;
use continuum_vocab::AgeGroup;
use tonic::Status;

use crate::domain::bridge::{self, BridgeNeeds, Candidate, ProgramKind};

/// A lazily connected client of the matching service.
#[derive(Clone, Debug)]
pub struct MatchingPeer {
    client: MatchingServiceClient<PeerChannel>,
    bridge_answers: Arc<BridgeAnswers>,
}

/// Most profiles whose bridge options are kept at once; past it the oldest half is dropped.
const MAX_KEPT_PROFILES: usize = 1024;

/// One bridge ask: whose, and for which profile (codes only).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct BridgeAsk {
    organization_id: String,
    age_group: AgeGroup,
    needs: BridgeNeeds,
}

/// Matching's answers to bridge asks, each kept for `ttl` from when it arrived (`ZERO`: none kept). Only
/// answers are kept; a refusal or a failure is asked again.
#[derive(Debug, Default)]
struct BridgeAnswers {
    ttl: Duration,
    kept: Mutex<HashMap<BridgeAsk, (Instant, Vec<Candidate>)>>,
}

impl BridgeAnswers {
    fn get(&self, ask: &BridgeAsk, now: Instant) -> Option<Vec<Candidate>> {
        let kept = self.kept.lock().ok()?;
        let (at, options) = kept.get(ask)?;
        (now.duration_since(*at) < self.ttl).then(|| options.clone())
    }

    fn keep(&self, ask: BridgeAsk, options: &[Candidate], now: Instant) {
        if self.ttl.is_zero() {
            return;
        }
        let Ok(mut kept) = self.kept.lock() else { return };
        if kept.len() >= MAX_KEPT_PROFILES {
            let ttl = self.ttl;
            kept.retain(|_, (at, _)| now.duration_since(*at) < ttl);
            if kept.len() >= MAX_KEPT_PROFILES {
                let mut ages: Vec<Instant> = kept.values().map(|(at, _)| *at).collect();
                ages.sort_unstable();
                let cut = ages[ages.len() / 2];
                kept.retain(|_, (at, _)| *at > cut);
            }
        }
        kept.insert(ask, (now, options.to_vec()));
    }
}

/// How a take ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Take {
    /// The slot is held under the key (now or by an earlier call with the same key).
    Taken,
    /// Nothing is open any more (an intake took it first): no offer for this slot.
    NoCapacity,
    /// Matching could not be asked; try again later.
    Unavailable(PeerError),
}

/// What matching's directory answered when asked for a client's bridge programs.
#[derive(Clone, Debug, PartialEq)]
pub enum BridgeOptions {
    /// Bridge-type options in rank order (possibly none).
    Options(Vec<Candidate>),
    /// Matching refused the profile outright (a definite answer: nothing to retry).
    Refused(tonic::Code),
    /// Matching could not answer now (retry later).
    Unavailable(tonic::Code),
}

/// The bridge-type program kind of a matching `ProviderKind`; `None` for every other kind.
fn program_kind(kind: i32) -> Option<ProgramKind> {
    match pb::ProviderKind::try_from(kind).ok()? {
        pb::ProviderKind::BridgeSupport => Some(ProgramKind::BridgeSupport),
        pb::ProviderKind::SkillsGroup => Some(ProgramKind::SkillsGroup),
        pb::ProviderKind::PeerSupport => Some(ProgramKind::PeerSupport),
        _ => None,
    }
}

/// The hold key of slot `n` of capacity event `event_id`.
pub fn slot_key(event_id: &str, n: usize) -> String {
    format!("waitlist-slot:{event_id}:{n}")
}

/// The hold key of giving slot `slot_key` back.
pub fn release_key(slot_key: &str) -> String {
    format!("waitlist-slot-release:{slot_key}")
}

impl MatchingPeer {
    /// A client of matching at `addr` (`host:port` or URL). Connects on first use.
    pub fn connect_lazy(
        addr: &str,
        common: &continuum_runtime::CommonSettings,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            client: MatchingServiceClient::new(common.authed_peer(addr, "waitlist")?),
            bridge_answers: Arc::default(),
        })
    }

    /// This client, keeping each of matching's bridge answers for `ttl` and answering the same ask
    /// (organization, age group, bridge needs) from it meanwhile. An answer that old is what a replica of
    /// matching may itself rank from (its directory sees other replicas' writes after its refresh
    /// interval), and a bridge choice is a suggestion a coordinator books, so an open seat taken in the
    /// meantime costs nothing a fresh answer would have saved.
    #[must_use]
    pub fn with_bridge_cache(mut self, ttl: Duration) -> Self {
        self.bridge_answers = Arc::new(BridgeAnswers { ttl, ..BridgeAnswers::default() });
        self
    }

    async fn change(
        &self,
        who: &OnBehalfOf,
        provider_id: &str,
        delta: i32,
        hold_key: &str,
        gives_back: &str,
    ) -> Result<(), Status> {
        let mut client = self.client.clone();
        client
            .update_capacity(who.request(pb::UpdateCapacityRequest {
                provider_id: provider_id.to_owned(),
                change: Some(pb::update_capacity_request::Change::Delta(delta)),
                hold_key: hold_key.to_owned(),
                gives_back_hold_key: gives_back.to_owned(),
                ..Default::default()
            }))
            .await
            .map(|_| ())
    }

    /// The organization of `provider_id` as matching's directory lists it; `None` when there is no such
    /// provider.
    pub async fn provider_organization(
        &self,
        who: &OnBehalfOf,
        provider_id: &str,
    ) -> Result<Option<String>, PeerError> {
        match self
            .client
            .clone()
            .get_provider(
                who.request(pb::GetProviderRequest { provider_id: provider_id.to_owned() }),
            )
            .await
        {
            Ok(r) => Ok(r.into_inner().provider.map(|p| p.organization_id)),
            Err(s) => match PeerError::from(&s) {
                e if e.is_not_found() => Ok(None),
                e => Err(e),
            },
        }
    }

    /// Takes one slot of `provider_id` under `slot_key`, for `who` (the provider's organization).
    pub async fn take(&self, who: &OnBehalfOf, provider_id: &str, slot_key: &str) -> Take {
        match self.change(who, provider_id, -1, slot_key, "").await {
            Ok(()) => Take::Taken,
            Err(s) => match PeerError::from(&s) {
                e if e.already_applied() => Take::Taken,
                e if e.is_retryable() => Take::Unavailable(e),
                // No slot to take (or no such provider any more): no offer for this slot.
                _ => Take::NoCapacity,
            },
        }
    }

    /// Gives the slot taken under `slot_key` back (to the same cohort for a program), for `who`.
    pub async fn give_back(
        &self,
        who: &OnBehalfOf,
        provider_id: &str,
        slot_key: &str,
    ) -> Result<(), PeerError> {
        match self.change(who, provider_id, 1, &release_key(slot_key), slot_key).await {
            Ok(()) => Ok(()),
            Err(s) => match PeerError::from(&s) {
                e if e.already_applied() => Ok(()),
                e => Err(e),
            },
        }
    }
}

impl MatchingPeer {
    /// The bridge-type options matching ranks for a client of `age_group` with `needs`, over every bridge
    /// level of care ([`bridge::BRIDGE_LEVELS`]) in one `BatchRecommendForClient` call, asked for
    /// `organization_id` (the entry's) with at most `wait`.
    pub async fn bridge_options(
        &self,
        organization_id: &str,
        age_group: AgeGroup,
        needs: &BridgeNeeds,
        wait: Duration,
    ) -> BridgeOptions {
        let ask = BridgeAsk {
            organization_id: organization_id.to_owned(),
            age_group,
            needs: needs.clone(),
        };
        if let Some(options) = self.bridge_answers.get(&ask, Instant::now()) {
            return BridgeOptions::Options(options);
        }
        let requests = bridge::BRIDGE_LEVELS
            .iter()
            .map(|level| pb::RecommendForClientRequest {
                client: Some(pb::ClientProfile {
                    level_of_care: level.to_proto(),
                    age_group: age_group.to_proto(),
                    jurisdiction: needs.jurisdiction.clone(),
                    language: needs.language.clone(),
                    payment_option: needs.payment_option.to_proto(),
                    formats: needs.formats.iter().map(|f| f.to_proto()).collect(),
                    ..Default::default()
                }),
                fit: None,
                top_k: bridge::OPTIONS_PER_LEVEL,
            })
            .collect();
        let mut client = self.client.clone();
        let call = client.batch_recommend_for_client(continuum_auth::on_behalf_of(
            pb::BatchRecommendForClientRequest { requests },
            organization_id,
            None,
        ));
        let responses = match tokio::time::timeout(wait, call).await {
            Ok(Ok(r)) => r.into_inner().responses,
            Ok(Err(s)) => {
                // Only a failure worth retrying is retried; any other answer is definite.
                let e = PeerError::from(&s);
                return if e.is_retryable() {
                    BridgeOptions::Unavailable(e.code)
                } else {
                    BridgeOptions::Refused(e.code)
                };
            }
            Err(_) => return BridgeOptions::Unavailable(tonic::Code::DeadlineExceeded),
        };
        let options = responses.into_iter().flat_map(|r| r.ranking.unwrap_or_default().options);
        let out: Vec<Candidate> = options
            .filter_map(|o| {
                let p = o.provider?;
                Some(Candidate {
                    kind: program_kind(p.kind)?,
                    provider_id: p.id,
                    display_name: p.display_name,
                    family_involvement: p.family_involvement,
                    has_capacity: o.has_capacity,
                })
            })
            .collect();
        self.bridge_answers.keep(ask, &out, Instant::now());
        BridgeOptions::Options(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        assert_eq!(slot_key("e1", 0), "waitlist-slot:e1:0");
        assert_eq!(release_key("waitlist-slot:e1:0"), "waitlist-slot-release:waitlist-slot:e1:0");
    }

    fn ask(org: &str, language: &str) -> BridgeAsk {
        BridgeAsk {
            organization_id: org.into(),
            age_group: AgeGroup::Adult,
            needs: BridgeNeeds {
                jurisdiction: "US-CA".into(),
                language: language.into(),
                payment_option: continuum_vocab::PaymentOption::SelfPay,
                formats: Vec::new(),
            },
        }
    }

    fn option(id: &str) -> Candidate {
        Candidate {
            kind: ProgramKind::PeerSupport,
            provider_id: id.into(),
            display_name: id.into(),
            family_involvement: false,
            has_capacity: true,
        }
    }

    #[test]
    fn an_answer_serves_the_same_ask_only_and_only_while_fresh() {
        let answers = BridgeAnswers { ttl: Duration::from_secs(1), ..BridgeAnswers::default() };
        let t0 = Instant::now();
        answers.keep(ask("org-a", "en"), &[option("p1")], t0);
        let later = |ms| t0 + Duration::from_millis(ms);
        assert_eq!(answers.get(&ask("org-a", "en"), later(999)), Some(vec![option("p1")]));
        // Another organization, another profile: asked anew.
        assert_eq!(answers.get(&ask("org-b", "en"), later(1)), None);
        assert_eq!(answers.get(&ask("org-a", "es"), later(1)), None);
        assert_eq!(answers.get(&ask("org-a", "en"), later(1000)), None, "expired");
        // Nothing kept without a time to keep it.
        let none = BridgeAnswers::default();
        none.keep(ask("org-a", "en"), &[option("p1")], t0);
        assert_eq!(none.get(&ask("org-a", "en"), t0), None);
    }

    #[test]
    fn the_kept_answers_stay_bounded() {
        let answers = BridgeAnswers { ttl: Duration::from_secs(60), ..BridgeAnswers::default() };
        let t0 = Instant::now();
        for i in 0..(MAX_KEPT_PROFILES * 3) {
            let at = t0 + Duration::from_millis(u64::try_from(i).unwrap_or(0));
            answers.keep(ask(&format!("org-{i}"), "en"), &[option("p1")], at);
        }
        let kept = answers.kept.lock().map(|k| k.len()).unwrap_or(usize::MAX);
        assert!(kept <= MAX_KEPT_PROFILES, "{kept}");
        // The newest answer is among those kept.
        let newest =
            t0 + Duration::from_millis(u64::try_from(MAX_KEPT_PROFILES * 3 - 1).unwrap_or(0));
        assert!(
            answers
                .get(&ask(&format!("org-{}", MAX_KEPT_PROFILES * 3 - 1), "en"), newest)
                .is_some()
        );
    }
}
