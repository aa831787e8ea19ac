//! `waitlist_requests`: every RPC of the waitlist service, from bytes through prost and
//! `waitlist::convert`.

use continuum_proto::waitlist::v1 as pb;
use waitlist::convert;

use crate::harness::{Rpc, dispatch, rpc};

/// The RPCs, by selector byte (modulo their number). Append only: the seed corpus names them by index.
pub const RPCS: &[Rpc] = &[
    Rpc { name: "Enqueue", message: "continuum.waitlist.v1.EnqueueRequest", run: enqueue },
    Rpc { name: "GetEntry", message: "continuum.waitlist.v1.GetEntryRequest", run: get },
    Rpc { name: "ListWaitlist", message: "continuum.waitlist.v1.ListWaitlistRequest", run: list },
    Rpc { name: "OpenSlots", message: "continuum.waitlist.v1.OpenSlotsRequest", run: open_slots },
    Rpc {
        name: "RespondToOffer",
        message: "continuum.waitlist.v1.RespondToOfferRequest",
        run: respond,
    },
    Rpc {
        name: "RecordCheckIn",
        message: "continuum.waitlist.v1.RecordCheckInRequest",
        run: check_in,
    },
    Rpc {
        name: "EstimateWait",
        message: "continuum.waitlist.v1.EstimateWaitRequest",
        run: estimate,
    },
    Rpc { name: "RemoveEntry", message: "continuum.waitlist.v1.RemoveEntryRequest", run: remove },
    Rpc {
        name: "ListCareEvents",
        message: "continuum.waitlist.v1.ListCareEventsRequest",
        run: care,
    },
    Rpc {
        name: "GetWaitlistMetrics",
        message: "continuum.waitlist.v1.GetWaitlistMetricsRequest",
        run: metrics,
    },
];

/// Runs one input.
pub fn run(data: &[u8]) {
    dispatch(RPCS, data);
}

fn enqueue(m: &'static str, b: &[u8]) {
    rpc(m, b, convert::enqueue_from_proto, |(new, _)| {
        assert!(!new.candidate_provider_ids.is_empty());
        assert!(new.candidate_provider_ids.len() <= waitlist::domain::MAX_CANDIDATES);
    });
}

fn get(m: &'static str, b: &[u8]) {
    rpc(m, b, |r: pb::GetEntryRequest| convert::entry_id(&r.entry_id), |_| {});
}

fn list(m: &'static str, b: &[u8]) {
    rpc(m, b, |r: pb::ListWaitlistRequest| convert::list_from_proto(&r), |_| {});
}

fn open_slots(m: &'static str, b: &[u8]) {
    rpc(
        m,
        b,
        |r: pb::OpenSlotsRequest| convert::open_slots_from_proto(&r),
        |o| {
            assert!(o.slots >= 1);
        },
    );
}

fn respond(m: &'static str, b: &[u8]) {
    rpc(m, b, |r: pb::RespondToOfferRequest| convert::answer_from_proto(&r), |_| {});
}

fn check_in(m: &'static str, b: &[u8]) {
    rpc(
        m,
        b,
        |r: pb::RecordCheckInRequest| convert::check_in_from_proto(&r),
        |c| {
            // Screeners only on an answered check-in, each of its instrument's length.
            assert!(c.answered || (c.phq9.is_none() && c.gad7.is_none() && c.risk.is_none()));
            assert!(c.phq9.as_ref().is_none_or(|x| x.len() == 9));
            assert!(c.gad7.as_ref().is_none_or(|x| x.len() == 7));
        },
    );
}

fn estimate(m: &'static str, b: &[u8]) {
    rpc(m, b, |r: pb::EstimateWaitRequest| convert::entry_id(&r.entry_id), |_| {});
}

fn remove(m: &'static str, b: &[u8]) {
    rpc(
        m,
        b,
        |r: pb::RemoveEntryRequest| convert::removal_from_proto(&r),
        |r| {
            assert!(!r.reason.is_empty());
        },
    );
}

fn care(m: &'static str, b: &[u8]) {
    rpc(m, b, |r: pb::ListCareEventsRequest| convert::client_id(&r.client_id), |_| {});
}

fn metrics(m: &'static str, b: &[u8]) {
    rpc(m, b, |r: pb::GetWaitlistMetricsRequest| convert::metrics_from_proto(&r), |_| {});
}
