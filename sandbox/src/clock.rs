//! The sandbox's clock: real time plus an offset tests can advance, so expiry rules (tickets,
//! tokens, codes, grace periods) are exercised without sleeping. It can also be frozen, so a
//! test that checks a boundary ("valid 1 s before expiry") does not depend on when a second
//! of real time happens to tick.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Not frozen.
const RUNNING: i64 = i64::MIN;

#[derive(Debug)]
pub struct Clock {
    offset_secs: AtomicU64,
    /// The real time it was frozen at, or [`RUNNING`].
    frozen_at: AtomicI64,
}

impl Default for Clock {
    fn default() -> Self {
        Self {
            offset_secs: AtomicU64::new(0),
            frozen_at: AtomicI64::new(RUNNING),
        }
    }
}

fn real_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

impl Clock {
    /// Unix seconds, as WeChat's servers would see them.
    pub fn now(&self) -> i64 {
        let base = match self.frozen_at.load(Ordering::SeqCst) {
            RUNNING => real_now(),
            frozen => frozen,
        };
        base + self.offset_secs.load(Ordering::SeqCst) as i64
    }

    /// Moves the clock forward (it never goes back: expired things stay expired).
    pub fn advance(&self, by: Duration) {
        self.offset_secs.fetch_add(by.as_secs(), Ordering::SeqCst);
    }

    /// Stops the clock where it is (then only [`advance`](Self::advance) moves it), or lets it
    /// run again: from real time plus the offset, never earlier than the frozen reading.
    pub fn set_frozen(&self, frozen: bool) {
        if frozen {
            let _ = self.frozen_at.compare_exchange(
                RUNNING,
                real_now(),
                Ordering::SeqCst,
                Ordering::SeqCst,
            );
        } else {
            self.frozen_at.store(RUNNING, Ordering::SeqCst);
        }
    }

    pub fn is_frozen(&self) -> bool {
        self.frozen_at.load(Ordering::SeqCst) != RUNNING
    }

    pub fn offset(&self) -> Duration {
        Duration::from_secs(self.offset_secs.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frozen_clock_moves_only_when_advanced() {
        let clock = Clock::default();
        clock.set_frozen(true);
        let at = clock.now();
        std::thread::sleep(Duration::from_millis(1100));
        assert_eq!(clock.now(), at);
        clock.advance(Duration::from_secs(5));
        assert_eq!(clock.now(), at + 5);
        clock.set_frozen(false);
        assert!(clock.now() >= at + 5);
        assert!(!clock.is_frozen());
    }
}
