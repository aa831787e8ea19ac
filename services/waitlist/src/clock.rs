//! Injectable time. Every rule that depends on "now" (priority by waiting time, offer expiry, check-in due
//! dates) reads it from a [`Clock`], so tests move time forward with a [`ManualClock`] instead of sleeping.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, TimeDelta, Utc};
use continuum_vocab::time;

/// A source of the current time.
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current time.
    fn now(&self) -> DateTime<Utc>;
}

/// A shareable clock handle.
pub type SharedClock = Arc<dyn Clock>;

/// The wall clock (production).
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that only moves when told to (tests). Millisecond resolution, like the stored times.
#[derive(Debug)]
pub struct ManualClock {
    ms: AtomicI64,
}

impl ManualClock {
    /// A clock standing at `start`.
    pub fn new(start: DateTime<Utc>) -> Arc<Self> {
        Arc::new(Self { ms: AtomicI64::new(time::to_ms(start)) })
    }

    /// Sets the time.
    pub fn set(&self, t: DateTime<Utc>) {
        self.ms.store(time::to_ms(t), Ordering::SeqCst);
    }

    /// Moves the time forward (or back, for a negative `by`).
    pub fn advance(&self, by: TimeDelta) {
        self.ms.fetch_add(by.num_milliseconds(), Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        time::from_ms(self.ms.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let start = time::from_ms(1_700_000_000_000);
        let c = ManualClock::new(start);
        assert_eq!(c.now(), start);
        c.advance(TimeDelta::days(2));
        assert_eq!(c.now(), start + TimeDelta::days(2));
        c.set(start);
        assert_eq!(c.now(), start);
    }
}
