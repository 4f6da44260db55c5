//! At most one line a second for a warning that can repeat (an accept failure, the connection
//! cap reached again and again), with a count of the lines held back.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The shortest time between two lines of one throttle.
pub const EVERY: Duration = Duration::from_secs(1);

/// A shared gate for one kind of line: a `static`, so every thread's lines of that kind count
/// together. Lock-free: a line that loses a race is held back and counted.
#[derive(Debug)]
pub struct Throttle {
    /// Milliseconds since [`origin`] of the last line let through, plus one (0: none yet).
    last: AtomicU64,
    held: AtomicU64,
}

impl Throttle {
    pub const fn new() -> Throttle {
        Throttle {
            last: AtomicU64::new(0),
            held: AtomicU64::new(0),
        }
    }

    /// Whether a line may be written at `now`: `Some(held)`, with how many were held back
    /// since the last one, or `None` (this one is held back and counted).
    pub fn admit(&self, now: Instant) -> Option<u64> {
        let at = u64::try_from(now.saturating_duration_since(origin()).as_millis())
            .unwrap_or(u64::MAX - 1)
            + 1;
        let last = self.last.load(Ordering::Relaxed);
        let due = last == 0 || at >= last.saturating_add(EVERY.as_millis() as u64);
        if due
            && self
                .last
                .compare_exchange(last, at, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            return Some(self.held.swap(0, Ordering::Relaxed));
        }
        self.held.fetch_add(1, Ordering::Relaxed);
        None
    }
}

impl Default for Throttle {
    fn default() -> Self {
        Throttle::new()
    }
}

/// What a throttled line says after its text: how many like it were held back.
pub struct Held(pub u64);

impl std::fmt::Display for Held {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            0 => Ok(()),
            n => write!(f, " ({n} more like this in the last second(s), not logged)"),
        }
    }
}

/// The instant throttles count from: the first time one is asked.
fn origin() -> Instant {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    *ORIGIN.get_or_init(Instant::now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_a_second_with_a_count_of_the_rest() {
        let throttle = Throttle::new();
        origin(); // before t0, so no step is clamped to the origin
        let t0 = Instant::now();
        let steps: &[(u64, Option<u64>)] = &[
            (0, Some(0)),
            (1, None),
            (500, None),
            (999, None),
            (1000, Some(3)),
            (1001, None),
            (5000, Some(1)),
            (5001, None),
            (6001, Some(1)),
        ];
        for &(ms, want) in steps {
            let got = throttle.admit(t0 + Duration::from_millis(ms));
            assert_eq!(got, want, "at {ms} ms");
        }
        assert_eq!(Held(0).to_string(), "");
        assert!(Held(3).to_string().contains("3 more"));
    }
}
