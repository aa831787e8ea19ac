//! Request builders the tests of several crates share, so a change of an API's shape is made once.

use continuum_proto::referral::v1 as rpb;

/// The appointment time tests schedule at (2030-03-17).
pub const APPOINTMENT_SECONDS: i64 = 1_900_000_000;

/// A `TransitionReferralRequest` applying `action` at `version`: a rejection for lack of capacity, a
/// scheduling at [`APPOINTMENT_SECONDS`], every other action without parameters. The system actions
/// (escalate, expire, re-route, notify) cannot be requested: they give a request without an action.
pub fn transition(
    referral_id: &str,
    version: i64,
    action: rpb::ReferralAction,
) -> rpb::TransitionReferralRequest {
    use rpb::ReferralAction as A;
    use rpb::transition_referral_request::{Action, Appointment, Plain, Reject, Schedule};
    let appointment = || Appointment { appointment_at: None };
    let action = match action {
        A::MarkReceived => Some(Action::MarkReceived(Plain {})),
        A::Accept => Some(Action::Accept(Plain {})),
        A::Reject => {
            Some(Action::Reject(Reject { reason: rpb::RejectionReason::NoCapacity as i32 }))
        }
        A::Cancel => Some(Action::Cancel(Plain {})),
        A::Schedule => Some(Action::Schedule(Schedule {
            appointment_at: Some(prost_types::Timestamp { seconds: APPOINTMENT_SECONDS, nanos: 0 }),
        })),
        A::RecordNoShow => Some(Action::RecordNoShow(appointment())),
        A::CancelAppointment => Some(Action::CancelAppointment(appointment())),
        A::RecordFirstAppointmentAttended => {
            Some(Action::RecordFirstAppointmentAttended(appointment()))
        }
        A::RecordSecondAppointmentAttended => {
            Some(Action::RecordSecondAppointmentAttended(appointment()))
        }
        A::Complete => Some(Action::Complete(Plain {})),
        A::Fail => Some(Action::Fail(Plain {})),
        A::Hold => Some(Action::Hold(Plain {})),
        A::Resume => Some(Action::Resume(Plain {})),
        A::Send => Some(Action::Send(Plain {})),
        A::EnterInError => Some(Action::EnterInError(Plain {})),
        A::Unspecified | A::Escalate | A::Expire | A::Reroute | A::NotifyReferrer => None,
    };
    rpb::TransitionReferralRequest {
        referral_id: referral_id.to_owned(),
        expected_version: version,
        action,
        note: String::new(),
    }
}
