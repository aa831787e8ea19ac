//! Property tests of referral's request validators: any request — a valid one with arbitrary strings,
//! out-of-range numbers and timestamps, unknown enum values, another `oneof` action and long lists written
//! over any of its fields — converts, or is refused with `INVALID_ARGUMENT` naming only field paths that
//! exist in the proto, in a bounded answer (`continuum_testkit::wire`).

use continuum_proto::referral::v1 as pb;
use continuum_testkit::requests;
use continuum_testkit::wire::{check_rpc, mutated};
use proptest::prelude::*;

const CREATE: &str = "continuum.referral.v1.CreateReferralRequest";
const TRANSITION: &str = "continuum.referral.v1.TransitionReferralRequest";
const LIST: &str = "continuum.referral.v1.ListReferralsRequest";
const WATCH: &str = "continuum.referral.v1.WatchReferralsRequest";

fn transition(action: pb::ReferralAction) -> pb::TransitionReferralRequest {
    requests::transition(requests::REFERRAL, 3, action)
}

#[test]
fn the_valid_requests_convert() {
    assert!(super::create_from_proto(requests::create_referral("k")).is_ok());
    for action in [pb::ReferralAction::Reject, pb::ReferralAction::Schedule] {
        assert!(super::command_from_proto(transition(action)).is_ok());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn create_referral(bytes in mutated(CREATE, &requests::create_referral("k"))) {
        check_rpc(CREATE, &bytes, super::create_from_proto)?;
    }

    #[test]
    fn transition_referral(bytes in prop_oneof![
        // A valid transition of each shape of action (none, reason, required time, optional time), mutated.
        mutated(TRANSITION, &transition(pb::ReferralAction::Accept)),
        mutated(TRANSITION, &transition(pb::ReferralAction::Reject)),
        mutated(TRANSITION, &transition(pb::ReferralAction::Schedule)),
        mutated(TRANSITION, &transition(pb::ReferralAction::RecordNoShow)),
    ]) {
        check_rpc(TRANSITION, &bytes, super::command_from_proto)?;
    }

    #[test]
    fn the_read_requests(
        list in mutated(LIST, &pb::ListReferralsRequest { page_size: 20, ..Default::default() }),
        watch in mutated(WATCH, &pb::WatchReferralsRequest::default()),
        get in "\\PC{0,40}",
    ) {
        check_rpc(LIST, &list, |r: pb::ListReferralsRequest| super::query_from_proto(&r))?;
        check_rpc(WATCH, &watch, |r: pb::WatchReferralsRequest| super::watch_from_proto(&r))?;
        let outcome = super::referral_id(&get);
        prop_assert_eq!(
            continuum_testkit::wire::check_outcome("continuum.referral.v1.GetReferralRequest", &outcome),
            Ok(())
        );
    }
}
