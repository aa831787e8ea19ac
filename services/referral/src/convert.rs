//! Proto <-> domain conversions of the referral service. Decoding validates every field and names each
//! bad one by its proto path; enums map by position (`continuum_vocab::coded_enum!`, checked against the
//! generated names below); domain, app and store code never see prost types.

use chrono::Utc;
use continuum_errors::page::{Page, Paging};
use continuum_errors::{Error, Result, Violations};
use continuum_proto::referral::v1 as pb;
use continuum_vocab::ids::{ClientId, IntakeId, OrganizationId, ProviderId, ReferralId};
use continuum_vocab::{Urgency, time};

use crate::app::{ReferralQuery, WatchFrom};
use crate::domain::Command;
use crate::domain::{self, Action, Event, NewReferral, Referral, RejectionReason, Status};

/// Longest idempotency key.
pub const MAX_IDEMPOTENCY_KEY: usize = 128;
/// Longest capacity hold key (a waitlist offer's).
pub const MAX_HOLD_KEY: usize = 160;
/// Longest note on an event.
pub const MAX_NOTE: usize = 500;
/// Page sizes of `ListReferrals`.
pub const PAGING: Paging = Paging::new(50, 200);

/// Reads an optional timestamp, naming `field` when it is not a valid time.
fn optional_time(
    v: &mut Violations,
    field: &str,
    value: Option<&prost_types::Timestamp>,
) -> Option<chrono::DateTime<Utc>> {
    let t = value?;
    let r = time::from_proto(t);
    if r.is_none() {
        v.add(field, "is not a valid timestamp");
    }
    r
}

fn optional_text(value: &str) -> Option<String> {
    let t = value.trim();
    (!t.is_empty()).then(|| t.to_owned())
}

/// A required referral id named `referral_id`.
pub fn referral_id(value: &str) -> Result<ReferralId> {
    let mut v = Violations::default();
    match ReferralId::require(&mut v, "referral_id", value) {
        Some(id) => Ok(id),
        None => Err(Error::InvalidArgument(v)),
    }
}

/// A required client id named `client_id`.
pub fn client_id(value: &str) -> Result<ClientId> {
    let mut v = Violations::default();
    match ClientId::require(&mut v, "client_id", value) {
        Some(id) => Ok(id),
        None => Err(Error::InvalidArgument(v)),
    }
}

/// A create request: the new referral and the capacity hold it names (a waitlist offer's), if any.
pub fn create_from_proto(
    mut req: pb::CreateReferralRequest,
) -> Result<(NewReferral, Option<String>)> {
    let held = std::mem::take(&mut req.capacity_hold_key);
    let mut bad = Violations::default();
    if held.chars().count() > MAX_HOLD_KEY {
        bad.add("capacity_hold_key", format!("must be at most {MAX_HOLD_KEY} characters"));
    }
    if req.first_open_alternative && (req.allow_overbook || !held.is_empty()) {
        // Both already decide the provider's slot: nothing to fall back from.
        bad.add("first_open_alternative", "not with allow_overbook or capacity_hold_key");
    }
    match new_referral_from_proto(req) {
        Ok(new) if bad.is_empty() => Ok((new, (!held.is_empty()).then_some(held))),
        Ok(_) => Err(Error::InvalidArgument(bad)),
        Err(Error::InvalidArgument(mut v)) => {
            for f in bad.iter() {
                v.add(f.field.clone(), f.description.clone());
            }
            Err(Error::InvalidArgument(v))
        }
        Err(e) => Err(e),
    }
}

/// Validates a create request, naming every bad field.
pub fn new_referral_from_proto(req: pb::CreateReferralRequest) -> Result<NewReferral> {
    let mut v = Violations::default();
    v.require_str("idempotency_key", &req.idempotency_key, MAX_IDEMPOTENCY_KEY);
    let client_id = ClientId::require(&mut v, "client_id", &req.client_id);
    let intake_id = IntakeId::require(&mut v, "intake_id", &req.intake_id);
    let referrer =
        OrganizationId::require(&mut v, "referrer_organization_id", &req.referrer_organization_id);
    let provider_id = ProviderId::require(&mut v, "provider_id", &req.provider_id);
    let urgency = Urgency::require(&mut v, "urgency", req.urgency);
    let scheduled_at = optional_time(&mut v, "scheduled_at", req.scheduled_at.as_ref());
    if req.alternative_provider_ids.len() > domain::MAX_ALTERNATIVES {
        v.add(
            "alternative_provider_ids",
            format!("must list at most {} providers", domain::MAX_ALTERNATIVES),
        );
    }
    // Over the limit: the one violation above, the ids unread.
    let alternative_ids = if req.alternative_provider_ids.len() > domain::MAX_ALTERNATIVES {
        &[][..]
    } else {
        &req.alternative_provider_ids[..]
    };
    let alternatives =
        ProviderId::require_each_once(&mut v, "alternative_provider_ids", alternative_ids, None);
    match (client_id, intake_id, referrer, provider_id, urgency) {
        (
            Some(client_id),
            Some(intake_id),
            Some(referrer_organization_id),
            Some(provider_id),
            Some(urgency),
        ) => v.finish(NewReferral {
            idempotency_key: req.idempotency_key,
            client_id,
            intake_id,
            referrer_organization_id,
            provider_id,
            urgency,
            allow_overbook: req.allow_overbook,
            scheduled_at,
            alternative_provider_ids: alternatives,
            first_open_alternative: req.first_open_alternative,
        }),
        _ => Err(Error::InvalidArgument(v)),
    }
}

/// Validates a transition request, naming every bad field (inside the action by its oneof member:
/// `reject.reason`, `schedule.appointment_at`).
pub fn command_from_proto(req: pb::TransitionReferralRequest) -> Result<Command> {
    use pb::transition_referral_request::Action as A;
    let mut v = Violations::default();
    let referral_id = ReferralId::require(&mut v, "referral_id", &req.referral_id);
    if req.expected_version < 1 {
        v.add("expected_version", "must be 1 or more");
    }
    v.optional_str("note", &req.note, MAX_NOTE);
    let mut rejection_reason = None;
    let mut appointment_at = None;
    let mut appointment =
        |v: &mut Violations, field: &str, a: &pb::transition_referral_request::Appointment| {
            appointment_at = optional_time(v, field, a.appointment_at.as_ref());
        };
    let action = match &req.action {
        None => {
            v.add("action", "is required: set exactly one action");
            None
        }
        Some(A::MarkReceived(_)) => Some(Action::MarkReceived),
        Some(A::Accept(_)) => Some(Action::Accept),
        Some(A::Reject(r)) => {
            rejection_reason = RejectionReason::require(&mut v, "reject.reason", r.reason);
            Some(Action::Reject)
        }
        Some(A::Cancel(_)) => Some(Action::Cancel),
        Some(A::Schedule(s)) => {
            match &s.appointment_at {
                None => v.add("schedule.appointment_at", "is required"),
                Some(t) => {
                    appointment_at = optional_time(&mut v, "schedule.appointment_at", Some(t))
                }
            }
            Some(Action::Schedule)
        }
        Some(A::RecordNoShow(a)) => {
            appointment(&mut v, "record_no_show.appointment_at", a);
            Some(Action::RecordNoShow)
        }
        Some(A::CancelAppointment(a)) => {
            appointment(&mut v, "cancel_appointment.appointment_at", a);
            Some(Action::CancelAppointment)
        }
        Some(A::RecordFirstAppointmentAttended(a)) => {
            appointment(&mut v, "record_first_appointment_attended.appointment_at", a);
            Some(Action::RecordFirstAppointmentAttended)
        }
        Some(A::RecordSecondAppointmentAttended(a)) => {
            appointment(&mut v, "record_second_appointment_attended.appointment_at", a);
            Some(Action::RecordSecondAppointmentAttended)
        }
        Some(A::Complete(_)) => Some(Action::Complete),
        Some(A::Fail(_)) => Some(Action::Fail),
        Some(A::Hold(_)) => Some(Action::Hold),
        Some(A::Resume(_)) => Some(Action::Resume),
        Some(A::Send(_)) => Some(Action::Send),
        Some(A::EnterInError(_)) => Some(Action::EnterInError),
    };
    match (referral_id, action) {
        (Some(referral_id), Some(action)) => v.finish(Command {
            referral_id,
            expected_version: req.expected_version,
            action,
            rejection_reason,
            note: optional_text(&req.note),
            appointment_at,
        }),
        _ => Err(Error::InvalidArgument(v)),
    }
}

/// Most providers a list request may filter by (`ListReferralsRequest.provider_ids`).
pub const MAX_PROVIDER_FILTER: usize = 500;

/// A list request: whose referrals (empty: the caller's organization), which, and which page.
pub fn query_from_proto(req: &pb::ListReferralsRequest) -> Result<(ReferralQuery, Page)> {
    let mut v = Violations::default();
    let organization_id = OrganizationId::optional(&mut v, "organization_id", &req.organization_id);
    let status = Status::optional(&mut v, "status", req.status);
    let urgency = Urgency::optional(&mut v, "urgency", req.urgency);
    let page = PAGING.read(&mut v, req.page_size, &req.page_token);
    let client_id = ClientId::optional(&mut v, "client_id", &req.client_id);
    let mut provider_ids: Vec<ProviderId> = Vec::new();
    for (i, p) in
        v.capped("provider_ids", &req.provider_ids, MAX_PROVIDER_FILTER).iter().enumerate()
    {
        if let Some(id) = ProviderId::require(&mut v, &format!("provider_ids[{i}]"), p)
            && !provider_ids.contains(&id)
        {
            provider_ids.push(id);
        }
    }
    v.finish((
        ReferralQuery {
            organization_id,
            status,
            urgency,
            overdue_only: req.overdue_only,
            client_id,
            provider_ids,
        },
        page,
    ))
}

/// A watch request: whose events (empty: the caller's organization) and where to start: after a cursor,
/// from a time, or from the beginning.
pub fn watch_from_proto(req: &pb::WatchReferralsRequest) -> Result<WatchFrom> {
    let mut v = Violations::default();
    let organization_id = OrganizationId::optional(&mut v, "organization_id", &req.organization_id);
    let cursor = match req.cursor.as_str() {
        "" => None,
        t if continuum_errors::is_uuid(t) => Some(t.to_ascii_lowercase()),
        _ => {
            v.add("cursor", "is not a cursor from an earlier response");
            None
        }
    };
    let since = optional_time(&mut v, "since", req.since.as_ref());
    if since.is_some() && !req.cursor.is_empty() {
        v.add("since", "give a cursor or a start time, not both");
    }
    v.finish(WatchFrom { organization_id, cursor, since })
}

// ----- domain -> protos -----

/// The proto form of an event.
pub fn event_to_proto(e: &Event) -> pb::ReferralEvent {
    pb::ReferralEvent {
        id: e.id.clone(),
        action: e.action.map_or(0, Action::to_proto),
        from_status: e.from_status.map_or(0, Status::to_proto),
        to_status: e.to_status.to_proto(),
        actor_role: e.actor_role.to_proto(),
        actor_organization_id: e.actor_organization_id.clone(),
        actor_user_id: e.actor_user_id.clone().unwrap_or_default(),
        rejection_reason: e.rejection_reason.map_or(0, RejectionReason::to_proto),
        note: e.note.clone().unwrap_or_default(),
        occurred_at: Some(time::to_proto(e.occurred_at)),
        appointment_at: e.appointment_at.map(time::to_proto),
    }
}

/// The proto form of a referral (with its events when they were loaded).
pub fn referral_to_proto(r: &Referral) -> pb::Referral {
    pb::Referral {
        id: r.id.to_string(),
        client_id: r.client_id.to_string(),
        intake_id: r.intake_id.to_string(),
        referrer_organization_id: r.referrer_organization_id.to_string(),
        recipient_organization_id: r.recipient_organization_id.to_string(),
        provider_id: r.provider_id.to_string(),
        status: r.status.to_proto(),
        urgency: r.urgency.to_proto(),
        response_due_at: Some(time::to_proto(r.response_due_at)),
        created_at: Some(time::to_proto(r.created_at)),
        updated_at: Some(time::to_proto(r.updated_at)),
        version: r.version,
        events: r.events.iter().map(event_to_proto).collect(),
        overbooked: r.overbooked,
        escalated_at: r.escalated_at.map(time::to_proto),
        rerouted_to_referral_id: r
            .rerouted_to_referral_id
            .as_ref()
            .map(ReferralId::to_string)
            .unwrap_or_default(),
        rerouted_from_referral_id: r
            .rerouted_from_referral_id
            .as_ref()
            .map(ReferralId::to_string)
            .unwrap_or_default(),
        alternative_provider_ids: r
            .alternative_provider_ids
            .iter()
            .map(ProviderId::to_string)
            .collect(),
    }
}

/// The proto form of a watched event.
pub fn watched_to_proto(e: &Event) -> pb::WatchReferralsResponse {
    pb::WatchReferralsResponse {
        referral_id: e.referral_id.to_string(),
        cursor: e.id.clone(),
        event: Some(event_to_proto(e)),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::domain::ActorRole;

    const ID: &str = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b";

    #[test]
    fn enums_mirror_their_protos() {
        use continuum_vocab::assert_mirrors_proto;
        let codes = |all: Vec<&'static str>| all;
        assert_mirrors_proto(&codes(Status::ALL.iter().map(|s| s.code()).collect()), |n| {
            pb::ReferralStatus::try_from(n).ok().map(|e| e.as_str_name())
        });
        assert_mirrors_proto(&codes(Action::ALL.iter().map(|s| s.code()).collect()), |n| {
            pb::ReferralAction::try_from(n).ok().map(|e| e.as_str_name())
        });
        assert_mirrors_proto(&codes(ActorRole::ALL.iter().map(|s| s.code()).collect()), |n| {
            pb::ActorRole::try_from(n).ok().map(|e| e.as_str_name())
        });
        assert_mirrors_proto(
            &codes(RejectionReason::ALL.iter().map(|s| s.code()).collect()),
            |n| pb::RejectionReason::try_from(n).ok().map(|e| e.as_str_name()),
        );
    }

    #[test]
    fn create_names_every_bad_field() {
        let req = pb::CreateReferralRequest {
            idempotency_key: "k".repeat(129),
            client_id: "x".into(),
            intake_id: String::new(),
            referrer_organization_id: "nope".into(),
            provider_id: "also nope".into(),
            urgency: 0,
            allow_overbook: false,
            scheduled_at: Some(prost_types::Timestamp { seconds: 0, nanos: -1 }),
            alternative_provider_ids: vec!["x".into(), ID.into(), ID.into()],
            first_open_alternative: false,
            capacity_hold_key: String::new(),
        };
        let got = new_referral_from_proto(req).unwrap_err().bad_fields();
        assert_eq!(
            got,
            vec![
                "idempotency_key",
                "client_id",
                "intake_id",
                "referrer_organization_id",
                "provider_id",
                "urgency",
                "scheduled_at",
                "alternative_provider_ids[0]",
                "alternative_provider_ids[2]"
            ]
        );
    }

    #[test]
    fn first_open_is_refused_where_the_slot_is_decided_already() {
        let good = pb::CreateReferralRequest {
            idempotency_key: "k".into(),
            client_id: ID.into(),
            intake_id: ID.into(),
            referrer_organization_id: ID.into(),
            provider_id: ID.into(),
            urgency: continuum_proto::common::v1::Urgency::Routine as i32,
            first_open_alternative: true,
            ..Default::default()
        };
        let (new, held) = create_from_proto(good.clone()).unwrap();
        assert!(new.first_open_alternative && held.is_none());
        for bad in [
            pb::CreateReferralRequest { allow_overbook: true, ..good.clone() },
            pb::CreateReferralRequest { capacity_hold_key: "offer:1".into(), ..good.clone() },
        ] {
            assert_eq!(
                create_from_proto(bad).unwrap_err().bad_fields(),
                vec!["first_open_alternative"]
            );
        }
        // Named with the request's other bad fields.
        let worse = pb::CreateReferralRequest {
            client_id: "x".into(),
            allow_overbook: true,
            capacity_hold_key: "h".repeat(200),
            ..good
        };
        assert_eq!(
            create_from_proto(worse).unwrap_err().bad_fields(),
            vec!["client_id", "capacity_hold_key", "first_open_alternative"]
        );
    }

    #[test]
    fn transition_names_bad_fields_inside_the_action() {
        use pb::transition_referral_request::{Action as A, Reject, Schedule};
        let base = pb::TransitionReferralRequest {
            referral_id: ID.into(),
            expected_version: 1,
            action: Some(A::Reject(Reject { reason: 0 })),
            ..Default::default()
        };
        assert_eq!(
            command_from_proto(base.clone()).unwrap_err().bad_fields(),
            vec!["reject.reason"]
        );
        let schedule = pb::TransitionReferralRequest {
            action: Some(A::Schedule(Schedule { appointment_at: None })),
            ..base.clone()
        };
        assert_eq!(
            command_from_proto(schedule).unwrap_err().bad_fields(),
            vec!["schedule.appointment_at"]
        );
        let bad = pb::TransitionReferralRequest {
            referral_id: String::new(),
            expected_version: 0,
            action: None,
            note: "n".repeat(501),
        };
        assert_eq!(
            command_from_proto(bad).unwrap_err().bad_fields(),
            vec!["referral_id", "expected_version", "note", "action"]
        );
        let ok = pb::TransitionReferralRequest {
            action: Some(A::Reject(Reject { reason: pb::RejectionReason::Payment as i32 })),
            note: "  ".into(),
            ..base
        };
        let cmd = command_from_proto(ok).unwrap();
        assert_eq!(cmd.action, Action::Reject);
        assert_eq!(cmd.rejection_reason, Some(RejectionReason::Payment));
        assert_eq!(cmd.note, None);
    }
}

#[cfg(test)]
#[path = "convert_proptests.rs"]
mod proptests;
