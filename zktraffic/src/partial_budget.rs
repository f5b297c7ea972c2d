//! The bytes a protocol's connections hold for incomplete messages and searches, under one cap
//! (`--max-partial-bytes`) for all of them together: while the total is over it, the largest
//! holder gives its bytes back (its decoder counts what was lost). Each protocol (client, ZAB,
//! election) keeps one budget; the pipeline enforces them after every segment.

use std::collections::BTreeSet;

use crate::tcp::{ConnKey, FlowTable};

/// Who holds how much, and the total.
#[derive(Debug, Default)]
pub struct PartialBudget {
    /// Connections holding bytes, by how many: the largest is shed first.
    holders: BTreeSet<(usize, ConnKey)>,
    total: u64,
}

impl PartialBudget {
    /// Bytes held by every connection together.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// `conn` held `before` bytes and now holds `after`.
    pub fn account(&mut self, conn: &ConnKey, before: usize, after: usize) {
        if before == after {
            return;
        }
        if before > 0 {
            self.holders.remove(&(before, *conn));
        }
        if after > 0 {
            self.holders.insert((after, *conn));
        }
        self.total = (self.total + after as u64).saturating_sub(before as u64);
    }

    /// Lets `state` (of `conn`) give back what it holds with `shed`, accounted; true when that
    /// gave bytes back.
    pub fn shed<S>(
        &mut self,
        conn: &ConnKey,
        state: &mut S,
        held: fn(&S) -> usize,
        shed: impl FnOnce(&mut S),
    ) -> bool {
        let before = held(state);
        shed(state);
        let after = held(state);
        self.account(conn, before, after);
        after < before
    }

    /// The connection to shed now, the largest holder, while the total is over `max`.
    pub fn victim(&self, max: usize) -> Option<ConnKey> {
        if self.total <= max as u64 {
            return None;
        }
        self.holders.last().map(|&(_, conn)| conn)
    }
}

/// A decoding stage whose connections' partial bytes are under a [`PartialBudget`].
pub trait Budgeted<S> {
    /// The connection to shed now, if the budget is exceeded.
    fn victim(&self) -> Option<ConnKey>;
    /// Drops what `conn` holds (counted by the stage, and accounted); false when that gave
    /// nothing back.
    fn shed(&mut self, conn: &ConnKey, state: &mut S) -> bool;
}

/// Sheds the largest holders of `stage` until its budget fits.
pub fn enforce<S: Default, D: Budgeted<S>>(flows: &mut FlowTable<S>, stage: &mut D) {
    while let Some(victim) = stage.victim() {
        let shed = match flows.state_mut(&victim) {
            Some(state) => stage.shed(&victim, state),
            None => false,
        };
        if !shed {
            // Nothing more to give back (a few bytes of frame prefixes): over by those.
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn(port: u16) -> ConnKey {
        let server = "10.0.0.1:2181".parse().expect("address");
        ConnKey { client: std::net::SocketAddr::from(([10, 0, 0, 2], port)), server }
    }

    #[test]
    fn the_largest_holder_goes_first_while_over() {
        let mut b = PartialBudget::default();
        b.account(&conn(1), 0, 100);
        b.account(&conn(2), 0, 300);
        b.account(&conn(3), 0, 200);
        assert_eq!((b.total(), b.victim(600)), (600, None));
        assert_eq!(b.victim(599), Some(conn(2)));
        b.account(&conn(2), 300, 0);
        assert_eq!((b.total(), b.victim(250)), (300, Some(conn(3))));
        b.account(&conn(3), 200, 50);
        assert_eq!((b.total(), b.victim(250)), (150, None));
    }
}
