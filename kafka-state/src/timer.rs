//! Small timer tables indexed by an enum, as in quinn-proto: each state
//! machine keeps one deadline per kind of timer and reports the earliest.
//!
//! A kind is declared with [`timer_kinds!`], which sizes the table from
//! the enum itself: the table has exactly one slot per variant, so a kind
//! can never index past its end, however many kinds there are.

use std::fmt;
use std::time::Instant;

/// A kind of timer: a fieldless enum, declared with [`timer_kinds!`],
/// that indexes a [`TimerTable`].
pub(crate) trait TimerKind: Copy {
    /// One slot per variant: `[Option<Instant>; VARIANTS]`.
    type Slots: Default + Clone + fmt::Debug + AsRef<[Option<Instant>]> + AsMut<[Option<Instant>]>;
    /// This kind's slot, below the number of variants.
    fn index(self) -> usize;
}

/// Declares a fieldless enum of timer kinds and its [`TimerKind`] impl,
/// with a table of exactly one slot per variant.
macro_rules! timer_kinds {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        $vis enum $name {
            $( $(#[$vmeta])* $variant, )+
        }

        impl $crate::timer::TimerKind for $name {
            type Slots = [Option<std::time::Instant>; [$($name::$variant),+].len()];
            fn index(self) -> usize {
                // Variants carry no explicit discriminants, so they are
                // 0..len in declaration order: always a valid slot.
                self as usize
            }
        }
    };
}

pub(crate) use timer_kinds;

/// One optional deadline per timer kind.
#[derive(Debug, Clone)]
pub(crate) struct TimerTable<T: TimerKind> {
    slots: T::Slots,
}

impl<T: TimerKind> Default for TimerTable<T> {
    fn default() -> Self {
        Self {
            slots: T::Slots::default(),
        }
    }
}

impl<T: TimerKind> TimerTable<T> {
    pub(crate) fn set(&mut self, timer: T, at: Instant) {
        self.set_opt(timer, Some(at));
    }

    /// Sets or clears `timer`.
    pub(crate) fn set_opt(&mut self, timer: T, at: Option<Instant>) {
        self.slots.as_mut()[timer.index()] = at;
    }

    pub(crate) fn stop(&mut self, timer: T) {
        self.set_opt(timer, None);
    }

    pub(crate) fn get(&self, timer: T) -> Option<Instant> {
        self.slots.as_ref()[timer.index()]
    }

    /// Whether `timer` is set and due at `now`.
    pub(crate) fn is_due(&self, timer: T, now: Instant) -> bool {
        self.get(timer).is_some_and(|at| at <= now)
    }

    /// The earliest deadline of any timer, passed or not: a deadline
    /// already passed is still work to do.
    pub(crate) fn next(&self) -> Option<Instant> {
        self.slots.as_ref().iter().flatten().min().copied()
    }
}

timer_kinds! {
    /// Timers of the whole client.
    pub(crate) enum ClientTimer {
        /// A broker's reconnect backoff ends and a request or a
        /// sub-machine waits for it.
        Reconnect,
        /// A queued request reaches its `api_timeout`.
        QueueExpiry,
        /// The next periodic statistics snapshot (`Config::stats_interval`).
        Stats,
    }
}

timer_kinds! {
    /// Timers of one connection.
    pub(crate) enum ConnTimer {
        /// The connection must be ready (ApiVersions done) by then.
        Setup,
        /// The earliest deadline of an in-flight request.
        Request,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    timer_kinds! {
        /// More kinds than any table had before: the old fixed table of
        /// four slots silently dropped the fifth and later.
        enum Many {
            A,
            B,
            C,
            D,
            E,
            F,
        }
    }

    #[allow(clippy::disallowed_methods)] // a test needs some Instant to start from
    fn t0() -> Instant {
        Instant::now()
    }

    #[test]
    fn reports_earliest() {
        let t0 = t0();
        let mut t = TimerTable::<ConnTimer>::default();
        assert_eq!(t.next(), None);
        t.set(ConnTimer::Request, t0 + Duration::from_secs(2));
        t.set(ConnTimer::Setup, t0 + Duration::from_secs(1));
        assert_eq!(t.next(), Some(t0 + Duration::from_secs(1)));
        assert!(!t.is_due(ConnTimer::Setup, t0));
        t.stop(ConnTimer::Setup);
        assert_eq!(t.next(), Some(t0 + Duration::from_secs(2)));
    }

    #[test]
    fn the_fifth_and_later_kinds_fire() {
        let t0 = t0();
        let mut t = TimerTable::<Many>::default();
        assert_eq!(
            std::mem::size_of::<<Many as TimerKind>::Slots>(),
            6 * std::mem::size_of::<Option<Instant>>()
        );
        t.set(Many::A, t0 + Duration::from_secs(9));
        t.set(Many::E, t0 + Duration::from_secs(5));
        assert_eq!(t.get(Many::E), Some(t0 + Duration::from_secs(5)));
        assert_eq!(t.next(), Some(t0 + Duration::from_secs(5)));
        t.set(Many::F, t0 + Duration::from_secs(3));
        assert_eq!(t.next(), Some(t0 + Duration::from_secs(3)));
        assert!(t.is_due(Many::F, t0 + Duration::from_secs(3)));
        t.stop(Many::F);
        t.stop(Many::E);
        assert_eq!(t.next(), Some(t0 + Duration::from_secs(9)));
        // Untouched kinds stay clear.
        for k in [Many::B, Many::C, Many::D] {
            assert_eq!(t.get(k), None);
        }
    }

    #[test]
    fn a_passed_deadline_is_reported() {
        let t0 = t0();
        let mut t = TimerTable::<ClientTimer>::default();
        t.set(ClientTimer::QueueExpiry, t0);
        t.set(ClientTimer::Reconnect, t0 + Duration::from_secs(1));
        // Asked later than both deadlines: the earliest is still reported,
        // so a driver calls handle_timeout at once instead of sleeping.
        let later = t0 + Duration::from_secs(10);
        assert_eq!(t.next(), Some(t0));
        assert!(t.next().is_some_and(|at| at <= later));
        assert!(t.is_due(ClientTimer::QueueExpiry, later));
    }
}
