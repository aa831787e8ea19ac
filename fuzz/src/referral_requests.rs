//! `referral_requests`: every RPC of the referral service, from bytes through prost and
//! `referral::convert`.

use continuum_proto::referral::v1 as pb;
use referral::convert;

use crate::harness::{Rpc, dispatch, rpc};

/// The RPCs, by selector byte (modulo their number). Append only: the seed corpus names them by index.
pub const RPCS: &[Rpc] = &[
    Rpc {
        name: "CreateReferral",
        message: "continuum.referral.v1.CreateReferralRequest",
        run: create,
    },
    Rpc { name: "GetReferral", message: "continuum.referral.v1.GetReferralRequest", run: get },
    Rpc { name: "ListReferrals", message: "continuum.referral.v1.ListReferralsRequest", run: list },
    Rpc {
        name: "TransitionReferral",
        message: "continuum.referral.v1.TransitionReferralRequest",
        run: transition,
    },
    Rpc {
        name: "GetCareTimeline",
        message: "continuum.referral.v1.GetCareTimelineRequest",
        run: timeline,
    },
    Rpc {
        name: "WatchReferrals",
        message: "continuum.referral.v1.WatchReferralsRequest",
        run: watch,
    },
    Rpc {
        name: "GetHandoffPacket",
        message: "continuum.referral.v1.GetHandoffPacketRequest",
        run: handoff,
    },
];

/// Runs one input.
pub fn run(data: &[u8]) {
    dispatch(RPCS, data);
}

fn create(m: &'static str, b: &[u8]) {
    rpc(m, b, convert::create_from_proto, |(new, held)| {
        assert!(new.alternative_provider_ids.len() <= referral::domain::MAX_ALTERNATIVES);
        assert!(held.as_ref().is_none_or(|h| !h.is_empty()));
    });
}

fn get(m: &'static str, b: &[u8]) {
    rpc(m, b, |r: pb::GetReferralRequest| convert::referral_id(&r.referral_id), |_| {});
}

fn list(m: &'static str, b: &[u8]) {
    rpc(m, b, |r: pb::ListReferralsRequest| convert::query_from_proto(&r), |_| {});
}

fn transition(m: &'static str, b: &[u8]) {
    rpc(m, b, convert::command_from_proto, |c| assert!(c.expected_version >= 1));
}

fn timeline(m: &'static str, b: &[u8]) {
    rpc(m, b, |r: pb::GetCareTimelineRequest| convert::client_id(&r.client_id), |_| {});
}

fn watch(m: &'static str, b: &[u8]) {
    rpc(m, b, |r: pb::WatchReferralsRequest| convert::watch_from_proto(&r), |_| {});
}

fn handoff(m: &'static str, b: &[u8]) {
    rpc(m, b, |r: pb::GetHandoffPacketRequest| convert::referral_id(&r.referral_id), |_| {});
}
