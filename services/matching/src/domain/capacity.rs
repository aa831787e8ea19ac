//! Program capacity as cohort seats: which cohort a take uses, which one a give-back refills, and what
//! a provider's open capacity is right now. Pure rules; the store applies them with conditional UPDATEs.
//!
//! A program with cohorts has no caseload of its own: its capacity is the open seats of the cohorts a
//! client can still join (starting in the future, or started at most [`JOIN_WINDOW_MS`] ago). A take uses
//! the earliest joinable cohort with enough open seats; a give-back goes to the cohort its take used
//! (recorded with the hold), else to the earliest joinable cohort with a seat taken.

use super::Cohort;

const DAY_MS: i64 = 86_400_000;

/// A cohort that started at most this long ago can still be joined.
pub const JOIN_WINDOW_MS: i64 = 7 * DAY_MS;

/// Whether a cohort starting at `start_ms` can still be joined at `now_ms`.
pub fn joinable(start_ms: i64, now_ms: i64) -> bool {
    start_ms >= now_ms.saturating_sub(JOIN_WINDOW_MS)
}

/// Open seats a client can take now: the sum over joinable cohorts.
pub fn open_seats_now(cohorts: &[Cohort], now_ms: i64) -> i32 {
    cohorts
        .iter()
        .filter(|c| joinable(c.start_ms, now_ms))
        .map(|c| c.open_seats.max(0))
        .fold(0, i32::saturating_add)
}

/// Ordered by start, then code (the order takes and give-backs walk).
fn by_start(cohorts: &[Cohort]) -> Vec<&Cohort> {
    let mut v: Vec<&Cohort> = cohorts.iter().collect();
    v.sort_by(|a, b| a.start_ms.cmp(&b.start_ms).then_with(|| a.code.cmp(&b.code)));
    v
}

/// The cohort a take of `seats` uses: the earliest joinable one with that many open seats. With
/// `overbook` and none open, the earliest joinable cohort (its count stops at 0); `None` when nothing fits.
pub fn pick_take(cohorts: &[Cohort], now_ms: i64, seats: i32, overbook: bool) -> Option<&Cohort> {
    let joinable: Vec<&Cohort> =
        by_start(cohorts).into_iter().filter(|c| joinable(c.start_ms, now_ms)).collect();
    joinable
        .iter()
        .find(|c| c.open_seats >= seats)
        .copied()
        .or_else(|| if overbook { joinable.first().copied() } else { None })
}

/// The cohort a give-back without a recorded cohort refills: the earliest joinable cohort with a taken
/// seat, else any cohort with a taken seat (earliest first).
pub fn pick_give(cohorts: &[Cohort], now_ms: i64) -> Option<&Cohort> {
    let ordered = by_start(cohorts);
    ordered
        .iter()
        .find(|c| joinable(c.start_ms, now_ms) && c.open_seats < c.seats)
        .or_else(|| ordered.iter().find(|c| c.open_seats < c.seats))
        .copied()
}

/// Open seats of an existing cohort after its owner changes its seats from `old_seats` to `new_seats`:
/// the seats taken stay taken, so the open count moves by the difference (never below 0 nor above the
/// new seats). This is the rule that keeps an upsert from clobbering seats taken concurrently; the
/// store applies it in SQL against the row's current values.
pub fn reseat(open_seats: i32, old_seats: i32, new_seats: i32) -> i32 {
    open_seats.saturating_add(new_seats.saturating_sub(old_seats)).clamp(0, new_seats.max(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(code: &str, start_days: i64, seats: i32, open: i32) -> Cohort {
        Cohort { code: code.into(), start_ms: start_days * DAY_MS, seats, open_seats: open }
    }

    const NOW: i64 = 100 * DAY_MS;

    #[test]
    fn joinable_window() {
        assert!(joinable(NOW + DAY_MS, NOW));
        assert!(joinable(NOW - 7 * DAY_MS, NOW));
        assert!(!joinable(NOW - 7 * DAY_MS - 1, NOW));
    }

    #[test]
    fn take_uses_earliest_joinable_with_seats() {
        let cs = vec![
            c("late", 130, 5, 5),
            c("past", 80, 5, 5),
            c("soon", 105, 5, 0),
            c("now", 98, 5, 1),
        ];
        assert_eq!(pick_take(&cs, NOW, 1, false).map(|c| c.code.as_str()), Some("now"));
        assert_eq!(pick_take(&cs, NOW, 2, false).map(|c| c.code.as_str()), Some("late"));
        let full = vec![c("a", 101, 5, 0), c("b", 102, 5, 0)];
        assert!(pick_take(&full, NOW, 1, false).is_none());
        assert_eq!(pick_take(&full, NOW, 1, true).map(|c| c.code.as_str()), Some("a"));
        assert!(pick_take(&[c("past", 80, 5, 5)], NOW, 1, true).is_none());
        assert_eq!(open_seats_now(&cs, NOW), 6);
    }

    #[test]
    fn give_back_prefers_joinable_taken_seats() {
        let cs = vec![c("past", 80, 5, 4), c("b", 110, 5, 5), c("a", 105, 5, 3)];
        assert_eq!(pick_give(&cs, NOW).map(|c| c.code.as_str()), Some("a"));
        let only_past = vec![c("past", 80, 5, 4), c("b", 110, 5, 5)];
        assert_eq!(pick_give(&only_past, NOW).map(|c| c.code.as_str()), Some("past"));
        assert!(pick_give(&[c("b", 110, 5, 5)], NOW).is_none());
    }

    #[test]
    fn reseat_keeps_taken_seats() {
        assert_eq!(reseat(3, 10, 12), 5);
        assert_eq!(reseat(3, 10, 8), 1);
        assert_eq!(reseat(3, 10, 5), 0);
        assert_eq!(reseat(3, 3, 2), 2);
    }
}
