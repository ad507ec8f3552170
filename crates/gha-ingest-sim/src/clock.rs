//! The simulated clock: every state in the world is computed from it, so runs move through
//! queued → in_progress → completed by themselves as it advances.
//!
//! Times inside the simulator are whole milliseconds since the Unix epoch (`i64`), which keeps
//! the lifecycle arithmetic exact and cheap.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};

use crate::config::ClockMode;

/// Milliseconds since the Unix epoch, the simulator's unit of time.
pub(crate) type Millis = i64;

/// Where a manual clock starts: a fixed instant so payloads are identical from run to run.
pub(crate) const MANUAL_CLOCK_START_MS: Millis = 1_780_272_000_000; // 2026-06-01T00:00:00Z

#[derive(Debug)]
pub(crate) struct SimClock {
    mode: ClockMode,
    start_ms: Millis,
    started_real: Instant,
    jumped_ahead_ms: Mutex<Millis>,
}

impl SimClock {
    pub(crate) fn new(mode: ClockMode) -> Self {
        let start_ms = match mode {
            ClockMode::Manual => MANUAL_CLOCK_START_MS,
            // Whole seconds, so the first payloads do not carry a fraction nobody asked for.
            ClockMode::RealTime { .. } => Utc::now().timestamp() * 1000,
        };
        Self {
            mode,
            start_ms,
            started_real: Instant::now(),
            jumped_ahead_ms: Mutex::new(0),
        }
    }

    pub(crate) fn now_ms(&self) -> Millis {
        let jumped_ahead_ms = *lock(&self.jumped_ahead_ms);
        let flowed_ms = match self.mode {
            ClockMode::Manual => 0,
            ClockMode::RealTime { speed } => {
                let real_elapsed_secs = self.started_real.elapsed().as_secs_f64();
                (real_elapsed_secs * speed.max(0.0) * 1000.0) as Millis
            }
        };
        self.start_ms + flowed_ms + jumped_ahead_ms
    }

    pub(crate) fn advance(&self, by: Duration) {
        let by_ms = Millis::try_from(by.as_millis()).unwrap_or(Millis::MAX / 4);
        let mut jumped_ahead_ms = lock(&self.jumped_ahead_ms);
        *jumped_ahead_ms = jumped_ahead_ms.saturating_add(by_ms);
    }
}

/// Converts simulator time to chrono.
pub(crate) fn to_datetime(ms: Millis) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms)
        .single()
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
}

/// `2026-06-01T00:00:05Z`: GitHub's form for run- and job-level times (whole seconds).
pub(crate) fn format_seconds_z(ms: Millis) -> String {
    to_datetime(ms).format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Locks a std mutex, recovering the data if a panicking thread poisoned it: the simulator's
/// state stays usable for the remaining tests.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_starts_at_the_fixed_instant_and_moves_only_when_advanced() {
        let clock = SimClock::new(ClockMode::Manual);
        assert_eq!(format_seconds_z(clock.now_ms()), "2026-06-01T00:00:00Z");
        clock.advance(Duration::from_secs(90));
        assert_eq!(format_seconds_z(clock.now_ms()), "2026-06-01T00:01:30Z");
    }

    #[test]
    fn real_time_clock_flows_at_its_speed() {
        let clock = SimClock::new(ClockMode::RealTime { speed: 1000.0 });
        let before = clock.now_ms();
        std::thread::sleep(Duration::from_millis(20));
        assert!(clock.now_ms() - before >= 15_000);
    }
}
