//! What the care timeline shows of the waitlist: one client's entries (enqueued, bridge support, removed),
//! offers (made, accepted, declined, expired) and check-ins (answered or missed, re-banding, outreach,
//! the crisis interlock), as coded [`CareEvent`]s. Pure: the store reads, this decides what is shown.
//! Codes, ids and scores only.

use chrono::{DateTime, Utc};
use continuum_proto::common::v1::CareEvent;
use continuum_vocab::time;

use crate::domain::{EntryStatus, OfferStatus};
use crate::store::EntryHistory;

/// The source name the waitlist's steps carry.
pub const SOURCE: &str = "waitlist";

fn event(at: DateTime<Utc>, kind: &str, organization_id: &str, record_id: &str) -> CareEvent {
    CareEvent {
        occurred_at: Some(time::to_proto(at)),
        source: SOURCE.to_owned(),
        kind: kind.to_owned(),
        organization_id: organization_id.to_owned(),
        record_id: record_id.to_owned(),
        ..Default::default()
    }
}

/// A client's steps over all their entries, in time order.
pub fn of_client(history: &[EntryHistory]) -> Vec<CareEvent> {
    let mut out: Vec<CareEvent> = history.iter().flat_map(of_entry).collect();
    out.sort_by_key(|ev| ev.occurred_at.map(|t| (t.seconds, t.nanos)));
    out
}

/// The steps of one entry.
fn of_entry(h: &EntryHistory) -> Vec<CareEvent> {
    let e = &h.entry;
    let org = e.organization_id.as_str();
    let mut enqueued = event(e.enqueued_at, "waitlist.enqueued", org, e.id.as_str());
    enqueued.details.insert("intake_id".to_owned(), e.intake_id.to_string());
    enqueued.details.insert("band".to_owned(), e.band.code().to_owned());
    match &h.bridge {
        Some(b) => {
            enqueued.details.insert("bridge_support".to_owned(), b.support.code().to_owned());
            enqueued.details.insert("bridge_status".to_owned(), b.status.code().to_owned());
            if let Some(p) = &b.provider_id {
                enqueued.details.insert("bridge_provider_id".to_owned(), p.clone());
            }
        }
        None => {
            if let Some(b) = e.bridge_support {
                enqueued.details.insert("bridge_support".to_owned(), b.code().to_owned());
            }
        }
    }
    let mut out = vec![enqueued];
    for o in &h.offers {
        let mut made = event(o.offered_at, "waitlist.offer_made", org, o.id.as_str());
        made.provider_id = o.provider_id.to_string();
        made.details.insert("entry_id".to_owned(), e.id.to_string());
        made.details.insert("expires_at".to_owned(), o.expires_at.to_rfc3339());
        out.push(made);
        let answer = match o.status {
            OfferStatus::Pending => None,
            OfferStatus::Accepted => Some("waitlist.offer_accepted"),
            OfferStatus::Declined => Some("waitlist.offer_declined"),
            OfferStatus::Expired => Some("waitlist.offer_expired"),
        };
        if let (Some(kind), Some(at)) = (answer, o.responded_at) {
            let mut a = event(at, kind, org, o.id.as_str());
            a.provider_id = o.provider_id.to_string();
            a.referral_id = o.referral_id.as_ref().map(ToString::to_string).unwrap_or_default();
            a.details.insert("entry_id".to_owned(), e.id.to_string());
            out.push(a);
        }
    }
    for c in &h.check_ins {
        let mut ev = event(
            c.recorded_at,
            if c.answered { "waitlist.check_in" } else { "waitlist.check_in_missed" },
            org,
            &c.id,
        );
        ev.details.insert("entry_id".to_owned(), e.id.to_string());
        ev.details.insert("band_before".to_owned(), c.band_before.clone());
        ev.details.insert("band_after".to_owned(), c.band_after.clone());
        if let Some(t) = c.phq9_total {
            ev.details.insert("phq9_total".to_owned(), t.to_string());
        }
        if let Some(t) = c.gad7_total {
            ev.details.insert("gad7_total".to_owned(), t.to_string());
        }
        if c.outreach_opened {
            ev.details.insert("outreach_opened".to_owned(), "true".to_owned());
        }
        if c.interlock {
            ev.details.insert("crisis_interlock".to_owned(), "true".to_owned());
        }
        out.push(ev);
    }
    if e.status == EntryStatus::Removed {
        let mut removed = event(e.updated_at, "waitlist.removed", org, e.id.as_str());
        if e.interlock_required {
            removed.details.insert("crisis_interlock".to_owned(), "true".to_owned());
        }
        out.push(removed);
    }
    out
}
