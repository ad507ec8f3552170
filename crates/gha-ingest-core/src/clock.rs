//! Where "now" comes from: the wall clock in production, a simulator's clock in tests.
//!
//! Everything that stamps, ages or prunes by time (the event encoder, the store, the log agent,
//! the poll scheduler) takes a `Clock` instead of calling `Utc::now()`, so a test can run months
//! of simulated time in seconds without sleeping.

use std::sync::Arc;

use chrono::{DateTime, Utc};

#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>);

impl Clock {
    pub fn wall() -> Self {
        Clock(Arc::new(Utc::now))
    }

    pub fn from_fn(now: impl Fn() -> DateTime<Utc> + Send + Sync + 'static) -> Self {
        Clock(Arc::new(now))
    }

    pub fn now(&self) -> DateTime<Utc> {
        (self.0)()
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::wall()
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Clock").field(&self.now()).finish()
    }
}
