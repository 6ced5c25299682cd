//! The sandbox's clock: real time plus an offset tests can advance, so expiry rules (tickets,
//! tokens, codes, grace periods) are exercised without sleeping.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[derive(Debug, Default)]
pub struct Clock {
    offset_secs: AtomicU64,
}

impl Clock {
    /// Unix seconds, as WeChat's servers would see them.
    pub fn now(&self) -> i64 {
        let real = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        (real + self.offset_secs.load(Ordering::SeqCst)) as i64
    }

    /// Moves the clock forward (it never goes back: expired things stay expired).
    pub fn advance(&self, by: Duration) {
        self.offset_secs.fetch_add(by.as_secs(), Ordering::SeqCst);
    }

    pub fn offset(&self) -> Duration {
        Duration::from_secs(self.offset_secs.load(Ordering::SeqCst))
    }
}
