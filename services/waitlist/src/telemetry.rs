//! The metrics the waitlist exports beside the common ones (deploy/prometheus/metrics.txt): described
//! (`# HELP`, unit) and registered at start-up by [`register`], so a quiet process already exports its
//! counters at 0 and its histogram empty; the gauges are set by the offer sweeper's first round, which runs
//! at start-up. Labels are bands, organization ids and status codes only.

use metrics::Unit;

use crate::domain::BridgeStatus;

/// Days after which an entry counts as waiting beyond 18 weeks.
pub const OVER_18_WEEKS_DAYS: i64 = 126;

/// Describes every waitlist metric and registers the counters and the histogram.
pub fn register() {
    metrics::describe_gauge!(
        "continuum_waitlist_length",
        Unit::Count,
        "Entries on the waitlist, by band and organization"
    );
    metrics::describe_gauge!(
        "continuum_waitlist_over_18_weeks",
        Unit::Count,
        "Entries on the waitlist for more than 126 days (18 weeks), by band and organization"
    );
    metrics::describe_gauge!("continuum_offers_pending", Unit::Count, "Offers awaiting an answer");
    metrics::describe_counter!(
        "continuum_offers_expired_total",
        Unit::Count,
        "Offers that expired unanswered"
    );
    metrics::describe_gauge!(
        "continuum_slot_releases_pending",
        Unit::Count,
        "Unoffered slots waiting to be given back to matching"
    );
    metrics::describe_counter!(
        "continuum_bridge_choices_total",
        Unit::Count,
        "Bridge-program choices made, by status"
    );
    metrics::describe_histogram!(
        continuum_telemetry::names::TIME_TO_FIRST_OFFER,
        Unit::Seconds,
        "Time from joining the waitlist to the entry's first offer"
    );
    metrics::describe_gauge!(
        "continuum_time_to_appointment_days",
        "Median days from joining the waitlist to the first or second appointment attended, by appointment and organization"
    );
    metrics::counter!("continuum_offers_expired_total").increment(0);
    for status in BridgeStatus::ALL {
        metrics::counter!("continuum_bridge_choices_total", "status" => status.code()).increment(0);
    }
    let _ = metrics::histogram!(continuum_telemetry::names::TIME_TO_FIRST_OFFER);
}

/// Records an entry's first offer, `waited_ms` after it joined the waitlist.
pub fn first_offer(waited_ms: i64) {
    #[allow(clippy::cast_precision_loss)]
    metrics::histogram!(continuum_telemetry::names::TIME_TO_FIRST_OFFER)
        .record(waited_ms.max(0) as f64 / 1000.0);
}
