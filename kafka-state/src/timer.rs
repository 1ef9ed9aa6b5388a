//! Small timer tables indexed by an enum, as in quinn-proto: each state
//! machine keeps one deadline per kind of timer and reports the earliest.

use std::marker::PhantomData;
use std::time::Instant;

/// Most timers one table holds.
const MAX_TIMERS: usize = 4;

/// A kind of timer: a small enum that indexes a [`TimerTable`].
pub(crate) trait TimerKind: Copy + 'static {
    /// Every kind, in index order.
    const ALL: &'static [Self];
    /// This kind's slot.
    fn index(self) -> usize;
}

/// One optional deadline per timer kind.
#[derive(Debug, Clone)]
pub(crate) struct TimerTable<T> {
    slots: [Option<Instant>; MAX_TIMERS],
    kind: PhantomData<T>,
}

impl<T: TimerKind> Default for TimerTable<T> {
    fn default() -> Self {
        debug_assert!(T::ALL.len() <= MAX_TIMERS);
        Self {
            slots: [None; MAX_TIMERS],
            kind: PhantomData,
        }
    }
}

impl<T: TimerKind> TimerTable<T> {
    pub(crate) fn set(&mut self, timer: T, at: Instant) {
        if let Some(slot) = self.slots.get_mut(timer.index()) {
            *slot = Some(at);
        }
    }

    /// Sets or clears `timer`.
    pub(crate) fn set_opt(&mut self, timer: T, at: Option<Instant>) {
        if let Some(slot) = self.slots.get_mut(timer.index()) {
            *slot = at;
        }
    }

    pub(crate) fn stop(&mut self, timer: T) {
        self.set_opt(timer, None);
    }

    pub(crate) fn get(&self, timer: T) -> Option<Instant> {
        self.slots.get(timer.index()).copied().flatten()
    }

    /// Whether `timer` is set and due at `now`.
    pub(crate) fn is_due(&self, timer: T, now: Instant) -> bool {
        self.get(timer).is_some_and(|at| at <= now)
    }

    /// The earliest deadline of any timer.
    pub(crate) fn next(&self) -> Option<Instant> {
        self.slots.iter().flatten().min().copied()
    }
}

/// Timers of the whole client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClientTimer {
    /// Metadata is due for a refresh or a retry.
    Metadata,
    /// A broker's reconnect backoff ends and a request waits for it.
    Reconnect,
    /// A queued request reaches its `api_timeout`.
    QueueExpiry,
}

impl TimerKind for ClientTimer {
    const ALL: &'static [Self] = &[Self::Metadata, Self::Reconnect, Self::QueueExpiry];
    fn index(self) -> usize {
        self as usize
    }
}

/// Timers of one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ConnTimer {
    /// The connection must be ready (ApiVersions done) by then.
    Setup,
    /// The earliest deadline of an in-flight request.
    Request,
}

impl TimerKind for ConnTimer {
    const ALL: &'static [Self] = &[Self::Setup, Self::Request];
    fn index(self) -> usize {
        self as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    #[allow(clippy::disallowed_methods)] // a test needs some Instant to start from
    fn reports_earliest() {
        let t0 = Instant::now();
        let mut t = TimerTable::<ConnTimer>::default();
        assert_eq!(t.next(), None);
        t.set(ConnTimer::Request, t0 + Duration::from_secs(2));
        t.set(ConnTimer::Setup, t0 + Duration::from_secs(1));
        assert_eq!(t.next(), Some(t0 + Duration::from_secs(1)));
        assert!(!t.is_due(ConnTimer::Setup, t0));
        t.stop(ConnTimer::Setup);
        assert_eq!(t.next(), Some(t0 + Duration::from_secs(2)));
    }
}
