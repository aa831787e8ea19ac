//! The metrics referral exports beside the common ones (deploy/prometheus/metrics.txt), described
//! (`# HELP`, unit) at start-up by [`register`]; the deadline sweeper sets its gauge at start-up and then
//! every round.

use metrics::Unit;

/// Describes every referral metric.
pub fn register() {
    metrics::describe_gauge!(
        "continuum_referrals_overdue",
        Unit::Count,
        "Open referrals past their response or first-appointment deadline"
    );
}
