//! The metrics matching exports beside the common ones (deploy/prometheus/metrics.txt): described
//! (`# HELP`, unit) and registered at start-up by [`register`], so a quiet process already exports its
//! counters at 0 (an alert on `increase()` sees the first dead event); the capacity-event worker sets the
//! pending gauge on its first round.

use metrics::Unit;

/// Describes every matching metric and registers the counters.
pub fn register() {
    metrics::describe_gauge!(
        "continuum_capacity_events_pending",
        Unit::Count,
        "Capacity events waiting to be delivered to the waitlist"
    );
    metrics::describe_counter!(
        "continuum_capacity_events_delivered_total",
        Unit::Count,
        "Capacity events delivered to the waitlist"
    );
    metrics::describe_counter!(
        "continuum_capacity_events_dead_total",
        Unit::Count,
        "Capacity events given up on after every retry: freed slots the waitlist never heard of"
    );
    metrics::counter!("continuum_capacity_events_delivered_total").increment(0);
    metrics::counter!("continuum_capacity_events_dead_total").increment(0);
}
