//! Proto <-> domain conversions of the waitlist service. Decoding validates every field and names each
//! bad one by its proto path; enums map by position (`continuum_vocab::coded_enum!`, checked against the
//! generated names below); domain, app and store code never see prost types.

use continuum_errors::page::{Page, Paging};
use continuum_errors::{Error, Result, Violations};
use continuum_proto::waitlist::v1 as pb;
use continuum_vocab::ids::{ClientId, EntryId, IntakeId, OfferId, OrganizationId, ProviderId};
use continuum_vocab::{AgeGroup, CareFormat, LevelOfCare, PaymentOption, RiskLevel, time};

use crate::app::{
    Answered, CheckIn, CheckedIn, EntryView, OfferAnswer, OpenSlots, OpenedSlots, Removal,
    WaitlistQuery,
};
use crate::domain::{self, Band, BridgeNeeds, BridgeRecord, Estimate, NewEntry, Offer, OrgMetrics};

/// Longest idempotency key of an enqueue.
pub const MAX_IDEMPOTENCY_KEY: usize = 128;
/// Longest removal reason.
pub const MAX_REASON: usize = 200;
/// Page sizes of `ListWaitlist`.
pub const PAGING: Paging = Paging::new(50, 200);

/// A required entry id named `entry_id`.
pub fn entry_id(value: &str) -> Result<EntryId> {
    let mut v = Violations::default();
    EntryId::require(&mut v, "entry_id", value).ok_or(Error::InvalidArgument(v))
}

/// A required client id named `client_id`.
pub fn client_id(value: &str) -> Result<ClientId> {
    let mut v = Violations::default();
    ClientId::require(&mut v, "client_id", value).ok_or(Error::InvalidArgument(v))
}

/// Validates the optional bridge needs of an enqueue, naming each bad field under `bridge_needs.`.
pub fn bridge_needs_from_proto(
    v: &mut Violations,
    needs: Option<pb::BridgeNeeds>,
) -> Option<BridgeNeeds> {
    let n = needs?;
    continuum_vocab::check_jurisdiction(v, "bridge_needs.jurisdiction", &n.jurisdiction);
    continuum_vocab::check_language(v, "bridge_needs.language", &n.language);
    let payment_option = PaymentOption::require(v, "bridge_needs.payment_option", n.payment_option);
    let formats = CareFormat::list(v, "bridge_needs.formats", &n.formats);
    Some(BridgeNeeds {
        jurisdiction: n.jurisdiction,
        language: n.language,
        payment_option: payment_option?,
        formats,
    })
}

/// Validates an enqueue request with its bridge needs, naming every bad field of both in one error.
pub fn enqueue_from_proto(mut req: pb::EnqueueRequest) -> Result<(NewEntry, Option<BridgeNeeds>)> {
    let mut bv = Violations::default();
    let needs = bridge_needs_from_proto(&mut bv, req.bridge_needs.take());
    continuum_errors::both(new_entry_from_proto(req), bv.finish(needs))
}

/// Validates an enqueue request, naming every bad field.
pub fn new_entry_from_proto(req: pb::EnqueueRequest) -> Result<NewEntry> {
    let mut v = Violations::default();
    v.require_str("idempotency_key", &req.idempotency_key, MAX_IDEMPOTENCY_KEY);
    let client_id = ClientId::require(&mut v, "client_id", &req.client_id);
    let intake_id = IntakeId::require(&mut v, "intake_id", &req.intake_id);
    let organization_id = OrganizationId::require(&mut v, "organization_id", &req.organization_id);
    let band = Band::require(&mut v, "band", req.band);
    let risk_level = RiskLevel::optional(&mut v, "risk_level", req.risk_level);
    let level_of_care = LevelOfCare::optional(&mut v, "level_of_care", req.level_of_care);
    let age_group = AgeGroup::optional(&mut v, "age_group", req.age_group);
    if req.candidate_provider_ids.is_empty() {
        v.add("candidate_provider_ids", "must list at least one provider");
    } else if req.candidate_provider_ids.len() > domain::MAX_CANDIDATES {
        v.add(
            "candidate_provider_ids",
            format!("must list at most {} providers", domain::MAX_CANDIDATES),
        );
    }
    // Over the limit: the one violation above, the ids unread.
    let candidate_ids = if req.candidate_provider_ids.len() > domain::MAX_CANDIDATES {
        &[][..]
    } else {
        &req.candidate_provider_ids[..]
    };
    let candidates =
        ProviderId::require_each_once(&mut v, "candidate_provider_ids", candidate_ids, None);
    match (client_id, intake_id, organization_id, band) {
        (Some(client_id), Some(intake_id), Some(organization_id), Some(band)) => {
            v.finish(NewEntry {
                idempotency_key: req.idempotency_key,
                client_id,
                intake_id,
                organization_id,
                band,
                risk_level,
                candidate_provider_ids: candidates,
                level_of_care,
                age_group,
            })
        }
        _ => Err(Error::InvalidArgument(v)),
    }
}

/// Whether a page position is one `ListWaitlist` issues: an offset into the priority order.
fn is_offset(position: &str) -> bool {
    position.parse::<u32>().is_ok()
}

/// A list request: whose entries (empty: the caller's organization), which, and which page.
pub fn list_from_proto(req: &pb::ListWaitlistRequest) -> Result<(WaitlistQuery, Page)> {
    let mut v = Violations::default();
    let organization_id = OrganizationId::optional(&mut v, "organization_id", &req.organization_id);
    let provider_id = ProviderId::optional(&mut v, "provider_id", &req.provider_id);
    let band = Band::optional(&mut v, "band", req.band);
    let page = PAGING.read_with(&mut v, req.page_size, &req.page_token, is_offset);
    v.finish((WaitlistQuery { organization_id, provider_id, band }, page))
}

/// Validates an open-slots request, naming every bad field.
pub fn open_slots_from_proto(req: &pb::OpenSlotsRequest) -> Result<OpenSlots> {
    let mut v = Violations::default();
    let provider_id = ProviderId::require(&mut v, "provider_id", &req.provider_id);
    if !(1..=domain::MAX_SLOTS).contains(&req.slots) {
        v.add("slots", format!("must be between 1 and {}", domain::MAX_SLOTS));
    }
    // A matching capacity event id: validated as a UUID, kept as matching's string.
    let event_id = match req.event_id.as_str() {
        "" => None,
        e if continuum_vocab::ids::is_uuid(e) => Some(e.to_ascii_lowercase()),
        _ => {
            v.add("event_id", "must be a UUID");
            None
        }
    };
    let slots = usize::try_from(req.slots).unwrap_or(0);
    match provider_id {
        Some(provider_id) => v.finish(OpenSlots { provider_id, slots, event_id }),
        None => Err(Error::InvalidArgument(v)),
    }
}

/// Validates an answer to an offer (exactly one of `accept` and `decline`).
pub fn answer_from_proto(req: &pb::RespondToOfferRequest) -> Result<OfferAnswer> {
    use pb::respond_to_offer_request::Answer;
    let mut v = Violations::default();
    let offer_id = OfferId::require(&mut v, "offer_id", &req.offer_id);
    let (accept, appointment_at) = match &req.answer {
        None => {
            v.add("answer", "is required: set accept or decline");
            (false, None)
        }
        Some(Answer::Decline(_)) => (false, None),
        Some(Answer::Accept(a)) => {
            let parsed = a.appointment_at.as_ref().and_then(|t| {
                let parsed = time::from_proto(t);
                if parsed.is_none() {
                    v.add("accept.appointment_at", "is not a valid timestamp");
                }
                parsed
            });
            (true, parsed)
        }
    };
    match offer_id {
        Some(offer_id) => v.finish(OfferAnswer { offer_id, accept, appointment_at }),
        None => Err(Error::InvalidArgument(v)),
    }
}

/// Validates one optional screener of a check-in: `expected` items, each 0..=3, only when answered.
fn screener(
    v: &mut Violations,
    field: &str,
    items: &[i32],
    expected: usize,
    answered: bool,
) -> Option<Vec<i32>> {
    if items.is_empty() {
        return None;
    }
    if !answered {
        v.add(field, "must be empty when the check-in was not answered");
        return None;
    }
    if items.len() != expected {
        v.add(field, format!("must have exactly {expected} items"));
    }
    // More than expected: the one violation above, the items unread.
    for (i, x) in items.iter().take(expected).enumerate() {
        if !(0..=3).contains(x) {
            v.add(format!("{field}[{i}]"), "must be between 0 and 3");
        }
    }
    Some(items.to_vec())
}

/// Validates a check-in, naming every bad field.
pub fn check_in_from_proto(req: &pb::RecordCheckInRequest) -> Result<CheckIn> {
    let mut v = Violations::default();
    let entry_id = EntryId::require(&mut v, "entry_id", &req.entry_id);
    let phq9 = screener(&mut v, "phq9_items", &req.phq9_items, 9, req.answered);
    let gad7 = screener(&mut v, "gad7_items", &req.gad7_items, 7, req.answered);
    let risk = RiskLevel::optional(&mut v, "risk_level", req.risk_level);
    if risk.is_some() && !req.answered {
        v.add("risk_level", "must be unset when the check-in was not answered");
    }
    let imminent = req.clinician_reports_imminent_risk;
    if imminent && !req.answered {
        v.add(
            "clinician_reports_imminent_risk",
            "must be false when the check-in was not answered",
        );
    }
    let expected_version = expected_version(&mut v, req.expected_version);
    let Some(entry_id) = entry_id else {
        return Err(Error::InvalidArgument(v));
    };
    v.finish(CheckIn {
        entry_id,
        answered: req.answered,
        phq9,
        gad7,
        risk,
        imminent,
        expected_version,
    })
}

/// Validates a removal, naming every bad field; the reason is kept trimmed.
pub fn removal_from_proto(req: &pb::RemoveEntryRequest) -> Result<Removal> {
    let mut v = Violations::default();
    let entry_id = EntryId::require(&mut v, "entry_id", &req.entry_id);
    v.require_str("reason", &req.reason, MAX_REASON);
    let expected_version = expected_version(&mut v, req.expected_version);
    match entry_id {
        Some(entry_id) => {
            v.finish(Removal { entry_id, reason: req.reason.trim().to_owned(), expected_version })
        }
        None => Err(Error::InvalidArgument(v)),
    }
}

/// An optional entry-version precondition: when given, 1 or more.
fn expected_version(v: &mut Violations, value: Option<i64>) -> Option<i64> {
    if value.is_some_and(|n| n < 1) {
        v.add("expected_version", "must be 1 or more when set");
    }
    value
}

/// A metrics request: whose metrics (empty: the caller's organization) and how many weeks of the length
/// series (0 to [`crate::domain::MAX_LENGTH_WEEKS`]).
pub fn metrics_from_proto(
    req: &pb::GetWaitlistMetricsRequest,
) -> Result<(Option<OrganizationId>, u32)> {
    let mut v = Violations::default();
    let organization_id = OrganizationId::optional(&mut v, "organization_id", &req.organization_id);
    let max = crate::domain::MAX_LENGTH_WEEKS;
    let weeks = u32::try_from(req.length_weeks).ok().filter(|w| *w <= max);
    if weeks.is_none() {
        v.add("length_weeks", format!("must be 0 to {max}"));
    }
    v.finish((organization_id, weeks.unwrap_or(0)))
}

// ----- domain -> protos -----

/// The proto form of an offer.
pub fn offer_to_proto(o: &Offer) -> pb::Offer {
    pb::Offer {
        id: o.id.to_string(),
        entry_id: o.entry_id.to_string(),
        provider_id: o.provider_id.to_string(),
        status: o.status.to_proto(),
        offered_at: Some(time::to_proto(o.offered_at)),
        expires_at: Some(time::to_proto(o.expires_at)),
        referral_id: o.referral_id.as_ref().map(ToString::to_string).unwrap_or_default(),
    }
}

/// The proto form of an entry with its offers, its bridge record applied when it has one.
pub fn entry_to_proto(view: &EntryView) -> pb::WaitlistEntry {
    let e = &view.entry;
    let mut p = pb::WaitlistEntry {
        id: e.id.to_string(),
        client_id: e.client_id.to_string(),
        intake_id: e.intake_id.to_string(),
        organization_id: e.organization_id.to_string(),
        band: e.band.to_proto(),
        candidate_provider_ids: e.candidate_provider_ids.iter().map(ToString::to_string).collect(),
        status: e.status.to_proto(),
        enqueued_at: Some(time::to_proto(e.enqueued_at)),
        wait_fraction: view.wait_fraction,
        level_of_care: e.level_of_care.map_or(0, LevelOfCare::to_proto),
        age_group: e.age_group.map_or(0, AgeGroup::to_proto),
        removal_reason: e.removal_reason.clone().unwrap_or_default(),
        offers: view.offers.iter().map(offer_to_proto).collect(),
        missed_check_ins: e.missed_check_ins,
        next_check_in_at: Some(time::to_proto(e.next_check_in_at)),
        version: e.version,
        bridge_support: e.bridge_support.map(|b| b.code().to_owned()).unwrap_or_default(),
        interlock_required: e.interlock_required,
        // Filled from the entry's bridge record by `apply_bridge` when it has one.
        bridge_provider_id: String::new(),
        bridge_provider_kind: String::new(),
        bridge_reason: String::new(),
        bridge_status: 0,
    };
    if let Some(r) = &view.bridge {
        apply_bridge(&mut p, r);
    }
    p
}

/// Sets the bridge fields of an entry's proto from its bridge record: the kind of support given (the
/// chosen program's, else the rule's), the chosen provider and kind, the reason and the status.
fn apply_bridge(p: &mut pb::WaitlistEntry, r: &BridgeRecord) {
    p.bridge_support = r.support.code().to_owned();
    p.bridge_provider_id = r.provider_id.clone().unwrap_or_default();
    p.bridge_provider_kind = r.provider_kind.map(|k| k.code().to_owned()).unwrap_or_default();
    p.bridge_reason = r.reason.clone();
    p.bridge_status = r.status.to_proto();
}

/// The answer to `OpenSlots`.
pub fn opened_to_proto(o: &OpenedSlots) -> pb::OpenSlotsResponse {
    pb::OpenSlotsResponse {
        offers: o.shown.iter().map(offer_to_proto).collect(),
        offers_to_other_organizations: i32::try_from(o.elsewhere).unwrap_or(i32::MAX),
    }
}

/// The answer to `RespondToOffer`.
pub fn answered_to_proto(a: &Answered) -> pb::RespondToOfferResponse {
    pb::RespondToOfferResponse {
        offer: Some(offer_to_proto(&a.offer)),
        entry: Some(entry_to_proto(&a.entry)),
        next_offer: a.next_offer.as_ref().map(offer_to_proto),
    }
}

/// The answer to `RecordCheckIn`.
pub fn checked_in_to_proto(c: &CheckedIn) -> pb::RecordCheckInResponse {
    let done = c.rescreen.as_ref();
    pb::RecordCheckInResponse {
        entry: Some(entry_to_proto(&c.entry)),
        outreach_opened: c.outreach_opened,
        interlock_required: c.interlock_required,
        rescreen_pending: c.rescreen_pending,
        assessment_id: done.map(|r| r.assessment_id.clone()).unwrap_or_default(),
        rescreen_risk_level: done.map_or(0, |r| r.risk.to_proto()),
        rescreen_urgency: done.map_or(0, |r| r.urgency.to_proto()),
        rerouted: done.is_some_and(|r| r.rerouted),
    }
}

/// The answer to `EstimateWait`.
pub fn estimate_to_proto(e: Estimate) -> pb::EstimateWaitResponse {
    pb::EstimateWaitResponse {
        position: e.position,
        low_days: e.low_days,
        high_days: e.high_days,
        basis: e.basis,
    }
}

/// The proto form of one organization's waiting-time metrics.
pub fn metrics_to_proto(m: OrgMetrics) -> pb::OrganizationWaitMetrics {
    pb::OrganizationWaitMetrics {
        organization_id: m.organization_id,
        placed: m.placed,
        waiting: m.waiting,
        share_seen_within_6_weeks: m.within_6_weeks,
        share_seen_within_18_weeks: m.within_18_weeks,
        median_days_to_first_appointment: m.median_days_to_first,
        median_days_to_second_appointment: m.median_days_to_second,
        second_appointments_recorded: m.second_recorded,
        deterioration_events: m.deterioration_events,
        crisis_events: m.crisis_events,
        length_by_band: m
            .length_by_band
            .into_iter()
            .map(|p| pb::WaitlistLengthPoint {
                at: Some(time::to_proto(p.at)),
                urgent: p.urgent,
                soon: p.soon,
                routine: p.routine,
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use continuum_errors::page;

    use super::*;
    use crate::domain::{BridgeStatus, EntryStatus, OfferStatus};

    const ID: &str = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b";

    #[test]
    fn enums_mirror_their_protos() {
        use continuum_vocab::assert_mirrors_proto;
        let codes = |all: Vec<&'static str>| all;
        assert_mirrors_proto(&codes(Band::ALL.iter().map(|s| s.code()).collect()), |n| {
            pb::Band::try_from(n).ok().map(|e| e.as_str_name())
        });
        assert_mirrors_proto(&codes(EntryStatus::ALL.iter().map(|s| s.code()).collect()), |n| {
            pb::EntryStatus::try_from(n).ok().map(|e| e.as_str_name())
        });
        assert_mirrors_proto(&codes(OfferStatus::ALL.iter().map(|s| s.code()).collect()), |n| {
            pb::OfferStatus::try_from(n).ok().map(|e| e.as_str_name())
        });
        assert_mirrors_proto(&codes(BridgeStatus::ALL.iter().map(|s| s.code()).collect()), |n| {
            pb::BridgeStatus::try_from(n).ok().map(|e| e.as_str_name())
        });
    }

    #[test]
    fn list_tokens_are_opaque_offsets() {
        let req = |page_token: String| pb::ListWaitlistRequest { page_token, ..Default::default() };
        let (_, p) = list_from_proto(&req(page::token("40"))).unwrap();
        assert_eq!((p.size, p.after.as_deref()), (50, Some("40")));
        // A raw offset, garbage or a position that is not an offset: refused by name.
        for t in ["40".to_owned(), "abc".to_owned(), page::token(ID)] {
            assert_eq!(
                list_from_proto(&req(t.clone())).unwrap_err().bad_fields(),
                vec!["page_token"],
                "{t}"
            );
        }
    }

    #[test]
    fn check_ins_name_every_bad_field() {
        let req = pb::RecordCheckInRequest {
            entry_id: "x".into(),
            answered: false,
            phq9_items: vec![1; 9],
            gad7_items: vec![],
            risk_level: 99,
            clinician_reports_imminent_risk: true,
            expected_version: Some(0),
        };
        assert_eq!(
            check_in_from_proto(&req).unwrap_err().bad_fields(),
            vec![
                "entry_id",
                "phq9_items",
                "risk_level",
                "clinician_reports_imminent_risk",
                "expected_version"
            ]
        );
        let answered = pb::RecordCheckInRequest {
            entry_id: ID.into(),
            answered: true,
            phq9_items: vec![0, 0, 0, 0, 0, 0, 0, 0, 4],
            gad7_items: vec![0; 6],
            ..Default::default()
        };
        assert_eq!(
            check_in_from_proto(&answered).unwrap_err().bad_fields(),
            vec!["phq9_items[8]", "gad7_items"]
        );
    }
}

#[cfg(test)]
#[path = "convert_proptests.rs"]
mod proptests;
