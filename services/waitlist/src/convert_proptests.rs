//! Property tests of the waitlist's request validators: any request — a valid one with arbitrary strings,
//! out-of-range numbers, unknown enum values, another `oneof` answer and long lists written over any of
//! its fields — converts, or is refused with `INVALID_ARGUMENT` naming only field paths that exist in the
//! proto, in a bounded answer (`continuum_testkit::wire`).

use continuum_proto::waitlist::v1 as pb;
use continuum_testkit::requests;
use continuum_testkit::wire::{check_rpc, mutated};
use proptest::prelude::*;

const ENQUEUE: &str = "continuum.waitlist.v1.EnqueueRequest";
const CHECK_IN: &str = "continuum.waitlist.v1.RecordCheckInRequest";
const OPEN_SLOTS: &str = "continuum.waitlist.v1.OpenSlotsRequest";
const RESPOND: &str = "continuum.waitlist.v1.RespondToOfferRequest";
const REMOVE: &str = "continuum.waitlist.v1.RemoveEntryRequest";
const LIST: &str = "continuum.waitlist.v1.ListWaitlistRequest";
const METRICS: &str = "continuum.waitlist.v1.GetWaitlistMetricsRequest";

fn respond() -> pb::RespondToOfferRequest {
    pb::RespondToOfferRequest {
        offer_id: requests::OFFER.into(),
        answer: Some(pb::respond_to_offer_request::Answer::Accept(
            pb::respond_to_offer_request::Accept {
                appointment_at: Some(prost_types::Timestamp { seconds: 1_900_000_000, nanos: 0 }),
            },
        )),
    }
}

fn remove() -> pb::RemoveEntryRequest {
    pb::RemoveEntryRequest {
        entry_id: requests::ENTRY.into(),
        reason: "found care elsewhere".into(),
        expected_version: Some(2),
    }
}

#[test]
fn the_valid_requests_convert() {
    assert!(super::enqueue_from_proto(requests::enqueue("k")).is_ok());
    assert!(super::check_in_from_proto(&requests::record_check_in()).is_ok());
    assert!(super::open_slots_from_proto(&requests::open_slots()).is_ok());
    assert!(super::answer_from_proto(&respond()).is_ok());
    assert!(super::removal_from_proto(&remove()).is_ok());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn enqueue(bytes in mutated(ENQUEUE, &requests::enqueue("k"))) {
        check_rpc(ENQUEUE, &bytes, super::enqueue_from_proto)?;
    }

    #[test]
    fn record_check_in(bytes in mutated(CHECK_IN, &requests::record_check_in())) {
        check_rpc(CHECK_IN, &bytes, |r: pb::RecordCheckInRequest| super::check_in_from_proto(&r))?;
    }

    #[test]
    fn open_slots(bytes in mutated(OPEN_SLOTS, &requests::open_slots())) {
        check_rpc(OPEN_SLOTS, &bytes, |r: pb::OpenSlotsRequest| super::open_slots_from_proto(&r))?;
    }

    #[test]
    fn respond_to_offer_and_remove_entry(
        answer in mutated(RESPOND, &respond()),
        removal in mutated(REMOVE, &remove()),
    ) {
        check_rpc(RESPOND, &answer, |r: pb::RespondToOfferRequest| super::answer_from_proto(&r))?;
        check_rpc(REMOVE, &removal, |r: pb::RemoveEntryRequest| super::removal_from_proto(&r))?;
    }

    #[test]
    fn the_read_requests(
        list in mutated(LIST, &pb::ListWaitlistRequest { page_size: 20, ..Default::default() }),
        metrics in mutated(METRICS, &pb::GetWaitlistMetricsRequest::default()),
    ) {
        check_rpc(LIST, &list, |r: pb::ListWaitlistRequest| super::list_from_proto(&r))?;
        check_rpc(METRICS, &metrics, |r: pb::GetWaitlistMetricsRequest| {
            super::metrics_from_proto(&r)
        })?;
    }
}
