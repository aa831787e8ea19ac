//! Following placements until care has really started: for every accepted offer, the follow-up worker
//! reads its referral from the referral service (as a service acting for the entry's organization) and
//! records when the first and the second appointment were attended, so the waitlist metrics report the
//! time to the second appointment — the hidden wait a first appointment alone can hide. It stops following
//! a placement once the second appointment is attended, the referral ends, or [`FOLLOW_FOR`] has passed.
//!
//! Each read runs in a `placement.follow_up` span that continues the trace of the request that made the
//! offer. Every replica may run it: each due placement is claimed with a conditional update (see
//! `store::placements`), and reading a referral twice is harmless. What a referral shows is read by
//! `crate::peers::referral`; what to conclude from it is the pure [`conclude`].

use std::time::Duration;

use chrono::{DateTime, Utc};
use continuum_runtime::Shutdown;
use tracing::Instrument;

use crate::clock::SharedClock;
use crate::error::Result;
use crate::peers::referral::{Attended, ReferralPeer};
use crate::store::Store;
use crate::store::placements::Placement;

/// How long a placement is followed at most.
pub const FOLLOW_FOR: chrono::Duration = chrono::Duration::days(182);
/// How long a claimed placement is left to its claimer before another replica may take it.
pub const CLAIM: chrono::Duration = chrono::Duration::minutes(5);
/// Placements followed per round.
pub const BATCH: u64 = 100;

/// What one read of a placement's referral concluded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conclusion {
    /// First appointment attended, when recorded.
    pub first_attended_at: Option<DateTime<Utc>>,
    /// Second appointment attended, when recorded.
    pub second_attended_at: Option<DateTime<Utc>>,
    /// Nothing more to learn: the second appointment is known, the referral ended, or following expired.
    pub closed: bool,
}

/// What a placement made at `placed_at` concludes at `now` from what its referral shows (`attended`):
/// following closes once the second appointment is known, the referral ended, or [`FOLLOW_FOR`] passed.
pub fn conclude(attended: &Attended, placed_at: DateTime<Utc>, now: DateTime<Utc>) -> Conclusion {
    Conclusion {
        first_attended_at: attended.first_attended_at,
        second_attended_at: attended.second_attended_at,
        closed: attended.second_attended_at.is_some()
            || attended.ended
            || now - placed_at >= FOLLOW_FOR,
    }
}

/// The follow-up worker.
#[derive(Clone, Debug)]
pub struct FollowUp {
    store: Store,
    referral: ReferralPeer,
    clock: SharedClock,
    every: Duration,
    /// This replica's lease owner id.
    owner: String,
}

impl FollowUp {
    /// A worker reading referrals through `referral`, looking at each open placement every `every`.
    pub fn new(store: Store, referral: ReferralPeer, clock: SharedClock, every: Duration) -> Self {
        Self { store, referral, clock, every, owner: uuid::Uuid::new_v4().to_string() }
    }

    /// Reads placement `p`'s referral at `now` and records what it shows, or when it could not be read.
    async fn check(&self, p: &Placement, now: DateTime<Utc>) -> Result<()> {
        let next =
            now + chrono::Duration::from_std(self.every).unwrap_or(chrono::Duration::minutes(5));
        match self.referral.attended(&p.referral_id, &p.organization_id).await {
            Ok(Some(attended)) => {
                let c = conclude(&attended, p.created_at, now);
                self.store
                    .record_placement_check(
                        p,
                        &self.owner,
                        c.first_attended_at,
                        c.second_attended_at,
                        c.closed,
                        next,
                    )
                    .await?;
                if c.second_attended_at.is_some() && p.second_attended_at.is_none() {
                    tracing::info!(offer_id = %p.offer_id, referral_id = %p.referral_id, "second appointment attended");
                }
            }
            Ok(None) => {}
            Err(e) => {
                // Referral down or the referral gone: look again next round (a gone one closes at FOLLOW_FOR).
                tracing::warn!(offer_id = %p.offer_id, referral_id = %p.referral_id, code = ?e.code, "placement follow-up read failed");
                let closed = e.is_not_found() && now - p.created_at >= FOLLOW_FOR;
                self.store
                    .record_placement_check(
                        p,
                        &self.owner,
                        p.first_attended_at,
                        p.second_attended_at,
                        closed,
                        next,
                    )
                    .await?;
            }
        }
        Ok(())
    }

    /// One round at `now`: starts following newly accepted offers, then reads every due placement's
    /// referral. Returns how many placements were checked.
    pub async fn follow_up(&self, now: DateTime<Utc>) -> Result<usize> {
        self.store.discover_placements(now).await?;
        let lease = CLAIM.num_milliseconds();
        let due = self.store.claim_due_placements(&self.owner, now, lease, BATCH).await?;
        for p in &due {
            // Each read joins the trace of the request that made the offer, so a placement's whole story
            // (OpenSlots, the acceptance, every follow-up) is one trace.
            let parent = self.store.offer_trace_parent(&p.offer_id).await.unwrap_or_default();
            let span = continuum_outbox::continue_trace(
                tracing::info_span!("placement.follow_up", offer_id = %p.offer_id, referral_id = %p.referral_id),
                &parent,
            );
            self.check(p, now).instrument(span).await?;
        }
        Ok(due.len())
    }

    /// Runs rounds every `every` until `shutdown` is cancelled; a failed round is logged and retried.
    pub async fn run(self, shutdown: Shutdown) {
        continuum_outbox::run_every("placement follow-up", self.every, shutdown, || async {
            if let Err(e) = self.follow_up(self.clock.now()).await {
                tracing::warn!(error = %e, "placement follow-up failed; retrying next round");
            }
        })
        .await;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use chrono::TimeZone;
    use continuum_proto::referral::v1 as referral_pb;
    use continuum_vocab::time;
    use referral_pb::{ReferralAction as A, ReferralStatus as S};

    use super::*;
    use crate::peers::referral::attended;

    fn at(day: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, day, 10, 0, 0).unwrap()
    }

    fn event(
        action: A,
        occurred: DateTime<Utc>,
        appointment: Option<DateTime<Utc>>,
    ) -> referral_pb::ReferralEvent {
        referral_pb::ReferralEvent {
            action: action as i32,
            occurred_at: Some(time::to_proto(occurred)),
            appointment_at: appointment.map(time::to_proto),
            ..Default::default()
        }
    }

    /// What a referral with `status` and `events` shows, as the follow-up reads it.
    fn referral(status: S, events: Vec<referral_pb::ReferralEvent>) -> Attended {
        attended(&referral_pb::Referral { status: status as i32, events, ..Default::default() })
    }

    #[test]
    fn nothing_attended_yet_keeps_following() {
        let c = conclude(
            &referral(S::Accepted, vec![event(A::Schedule, at(2), Some(at(9)))]),
            at(1),
            at(3),
        );
        assert_eq!(
            c,
            Conclusion { first_attended_at: None, second_attended_at: None, closed: false }
        );
    }

    #[test]
    fn the_first_appointment_alone_keeps_following_and_the_second_closes() {
        let first = event(A::RecordFirstAppointmentAttended, at(10), Some(at(9)));
        let c = conclude(&referral(S::InProgress, vec![first.clone()]), at(1), at(11));
        assert_eq!(
            (c.first_attended_at, c.second_attended_at, c.closed),
            (Some(at(9)), None, false)
        );
        let c = conclude(
            &referral(
                S::InProgress,
                vec![first, event(A::RecordSecondAppointmentAttended, at(20), None)],
            ),
            at(1),
            at(21),
        );
        assert_eq!(
            (c.first_attended_at, c.second_attended_at, c.closed),
            (Some(at(9)), Some(at(20)), true)
        );
    }

    #[test]
    fn an_ended_referral_or_a_long_silence_closes() {
        assert!(conclude(&referral(S::Cancelled, vec![]), at(1), at(2)).closed);
        let long_after = at(1) + FOLLOW_FOR;
        assert!(conclude(&referral(S::Accepted, vec![]), at(1), long_after).closed);
    }
}
