//! The tokens the client may use on the application's `Poll`, and which
//! connection holds each of them.

use std::collections::VecDeque;

use kafka_state::ConnId;
use mio::Token;

/// The set of [`Token`]s a [`Client`](crate::Client) may register its
/// sockets under: `first`, `first + stride`, `first + 2·stride`, ... for
/// `count` tokens. The application keeps every other token for itself;
/// several clients on one `Poll` each need a set of their own.
///
/// One token serves one socket at a time, so `count` caps the client's
/// open connections (one per broker in practice, plus one while a
/// connection is replaced). Tokens are reused after a socket closes,
/// least recently freed first.
///
/// ```
/// use kafka_mio::Tokens;
/// use mio::Token;
///
/// let tokens = Tokens::range(1000..1064);
/// assert!(tokens.contains(Token(1000)) && !tokens.contains(Token(1064)));
///
/// // Odd tokens for the client, even ones for the application.
/// let odd = Tokens::strided(Token(1), 2, 32);
/// assert!(odd.contains(Token(63)) && !odd.contains(Token(62)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Tokens {
    first: usize,
    stride: usize,
    count: usize,
}

impl Tokens {
    /// Every token in `range`.
    pub fn range(range: std::ops::Range<usize>) -> Self {
        Self {
            first: range.start,
            stride: 1,
            count: range.end.saturating_sub(range.start),
        }
    }

    /// `count` tokens from `first`, `stride` apart (a stride of 0 counts
    /// as 1). Tokens that would pass `usize::MAX` are left out.
    pub fn strided(first: Token, stride: usize, count: usize) -> Self {
        let stride = stride.max(1);
        let room = ((usize::MAX - first.0) / stride).saturating_add(1);
        Self {
            first: first.0,
            stride,
            count: count.min(room),
        }
    }

    /// Whether `token` belongs to this set.
    pub fn contains(&self, token: Token) -> bool {
        self.slot(token).is_some()
    }

    /// How many tokens the set holds.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether the set holds no token.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    fn token(&self, slot: usize) -> Token {
        Token(self.first + slot * self.stride)
    }

    fn slot(&self, token: Token) -> Option<usize> {
        let offset = token.0.checked_sub(self.first)?;
        if offset % self.stride != 0 {
            return None;
        }
        let slot = offset / self.stride;
        (slot < self.count).then_some(slot)
    }
}

impl From<std::ops::Range<usize>> for Tokens {
    fn from(range: std::ops::Range<usize>) -> Self {
        Self::range(range)
    }
}

/// Which connection holds which token.
#[derive(Debug)]
pub(crate) struct Slots {
    tokens: Tokens,
    /// Grows on demand up to `tokens.len()`.
    holders: Vec<Option<ConnId>>,
    free: VecDeque<usize>,
}

impl Slots {
    pub(crate) fn new(tokens: Tokens) -> Self {
        Self {
            tokens,
            holders: Vec::new(),
            free: VecDeque::new(),
        }
    }

    pub(crate) fn tokens(&self) -> Tokens {
        self.tokens
    }

    /// A token for `conn`, or `None` when every token is taken. Fresh
    /// tokens go first, then the least recently freed, so a late event
    /// for a closed socket rarely lands on its successor.
    pub(crate) fn take(&mut self, conn: ConnId) -> Option<Token> {
        let slot = if self.holders.len() < self.tokens.len() {
            self.holders.push(None);
            self.holders.len() - 1
        } else {
            self.free.pop_front()?
        };
        self.holders[slot] = Some(conn);
        Some(self.tokens.token(slot))
    }

    pub(crate) fn release(&mut self, token: Token) {
        if let Some(slot) = self.tokens.slot(token) {
            if let Some(holder @ Some(_)) = self.holders.get_mut(slot) {
                *holder = None;
                self.free.push_back(slot);
            }
        }
    }

    /// The connection holding `token`, if any.
    pub(crate) fn holder(&self, token: Token) -> Option<ConnId> {
        let slot = self.tokens.slot(token)?;
        self.holders.get(slot).copied().flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_reused_least_recently_freed_first() {
        let mut slots = Slots::new(Tokens::strided(Token(10), 5, 3));
        let a = slots.take(ConnId(1)).unwrap();
        let b = slots.take(ConnId(2)).unwrap();
        let c = slots.take(ConnId(3)).unwrap();
        assert_eq!([a, b, c], [Token(10), Token(15), Token(20)]);
        assert_eq!(slots.take(ConnId(4)), None);
        slots.release(b);
        slots.release(a);
        slots.release(a); // twice is harmless
        assert_eq!(slots.holder(b), None);
        assert_eq!(slots.take(ConnId(5)), Some(b));
        assert_eq!(slots.take(ConnId(6)), Some(a));
        assert_eq!(slots.holder(a), Some(ConnId(6)));
        assert_eq!(slots.take(ConnId(7)), None);
    }

    #[test]
    fn membership_and_overflow() {
        let t = Tokens::strided(Token(usize::MAX - 4), 2, 100);
        assert_eq!(t.len(), 3);
        assert!(t.contains(Token(usize::MAX)));
        assert!(!t.contains(Token(usize::MAX - 1)));
        assert!(!t.contains(Token(0)));
        assert!(Tokens::range(5..5).is_empty());
        assert!(Tokens::range(std::ops::Range { start: 7, end: 3 }).is_empty());
        assert_eq!(Tokens::strided(Token(0), 0, 4), Tokens::range(0..4));
    }
}
