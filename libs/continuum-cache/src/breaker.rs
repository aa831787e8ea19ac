//! A circuit breaker for the Redis cache, so that a Redis that blinks never stalls callers (issue 12).
//!
//! Every Redis operation runs under a short deadline ([`OP_TIMEOUT`]). After [`TRIP_AFTER`] failures in a
//! row the circuit opens: operations fail at once with [`Unavailable`] for [`COOL_DOWN`], and the callers'
//! fallbacks take over (the rate limit allows, idempotency falls back to the database, locks give way to
//! the database's conditional updates). After the cool-down one operation is let through as a probe: its
//! success closes the circuit, its failure opens it again. Each change of state is logged once.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Longest a single Redis operation may take before it counts as failed.
pub const OP_TIMEOUT: Duration = Duration::from_millis(250);
/// Failures in a row that open the circuit.
pub const TRIP_AFTER: u32 = 3;
/// How long an open circuit refuses before letting a probe through.
pub const COOL_DOWN: Duration = Duration::from_secs(2);

/// The error of an operation refused because the circuit is open (or timed out): Redis is unavailable
/// just now. Callers treat it like any cache error; it only tells them no time was spent.
#[derive(Debug, thiserror::Error)]
#[error("redis is unavailable (circuit open); the caller's fallback applies")]
pub struct Unavailable;

#[derive(Debug, Default)]
struct State {
    failures: u32,
    open_until: Option<Instant>,
    probing: bool,
}

/// The breaker's state, shared by every clone of one cache.
#[derive(Debug, Default)]
pub struct Breaker {
    state: Mutex<State>,
}

impl Breaker {
    fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        let mut s = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut s)
    }

    /// Whether an operation may go to Redis at `now`: always while closed; after the cool-down, one probe
    /// at a time.
    pub fn admit(&self, now: Instant) -> bool {
        self.with(|s| match s.open_until {
            None => true,
            Some(until) if now >= until && !s.probing => {
                s.probing = true;
                true
            }
            Some(_) => false,
        })
    }

    /// Records a successful operation (closing an open circuit).
    pub fn success(&self) {
        let was_open = self.with(|s| {
            let was_open = s.open_until.is_some();
            *s = State::default();
            was_open
        });
        if was_open {
            tracing::info!(dependency = "redis", "redis answers again; cache back in use");
        }
    }

    /// Records a failed operation at `now` (opening the circuit after [`TRIP_AFTER`] in a row, or at once
    /// when a probe fails).
    pub fn failure(&self, now: Instant, error: &dyn std::fmt::Display) {
        let opened = self.with(|s| {
            s.failures = s.failures.saturating_add(1);
            let was_open = s.open_until.is_some();
            if s.probing || s.failures >= TRIP_AFTER {
                s.open_until = Some(now + COOL_DOWN);
                s.probing = false;
                !was_open
            } else {
                false
            }
        });
        if opened {
            tracing::warn!(dependency = "redis", error = %error, cool_down_ms = COOL_DOWN.as_millis() as u64, "redis unavailable; cache calls fail fast and callers fall back until it answers");
        }
    }

    /// Whether the circuit is open now.
    pub fn is_open(&self) -> bool {
        self.with(|s| s.open_until.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_failures_in_a_row_and_closes_after_a_good_probe() {
        let b = Breaker::default();
        let t0 = Instant::now();
        for _ in 0..TRIP_AFTER - 1 {
            assert!(b.admit(t0));
            b.failure(t0, &"boom");
        }
        assert!(!b.is_open(), "not yet");
        b.success();
        for _ in 0..TRIP_AFTER {
            b.failure(t0, &"boom");
        }
        assert!(b.is_open());
        assert!(!b.admit(t0), "open: refused at once");
        let later = t0 + COOL_DOWN;
        assert!(b.admit(later), "one probe after the cool-down");
        assert!(!b.admit(later), "only one probe at a time");
        b.failure(later, &"still down");
        assert!(!b.admit(later + COOL_DOWN / 2), "a failed probe opens it again");
        assert!(b.admit(later + COOL_DOWN));
        b.success();
        assert!(!b.is_open());
        assert!(b.admit(later + COOL_DOWN));
    }
}
