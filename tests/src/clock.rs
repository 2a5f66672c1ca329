//! A clock the tests move, and dates.

use super::*;

/// A clock the test moves by hand (starts at the real time).
#[derive(Clone)]
pub struct TestClock(Arc<Mutex<chrono::DateTime<chrono::Utc>>>);

impl TestClock {
    pub fn new() -> Self {
        Self(Arc::new(Mutex::new(system_clock()())))
    }

    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.0
            .lock()
            .map(|t| *t)
            .unwrap_or_else(|_| chrono::Utc::now())
    }

    pub fn set(&self, to: chrono::DateTime<chrono::Utc>) {
        if let Ok(mut t) = self.0.lock() {
            *t = to;
        }
    }

    pub fn advance(&self, by: chrono::Duration) {
        if let Ok(mut t) = self.0.lock() {
            *t += by;
        }
    }

    pub fn as_clock(&self) -> Clock {
        let me = self.clone();
        Arc::new(move || me.now())
    }
}

impl Default for TestClock {
    fn default() -> Self {
        Self::new()
    }
}

/// An RFC 3339 instant, for the clock a test sets.
pub fn at(s: &str) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(s)
        .expect("ts")
        .with_timezone(&chrono::Utc)
}
