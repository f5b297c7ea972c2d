//! The decoding stage as the flow table sees it: a [`StreamHandler`] whose per-connection state
//! is a [`Session`], and which hands every decoded [`Message`](super::Message) to a
//! [`ClientSink`].

use std::collections::BTreeSet;

use crate::tcp::{ConnKey, StreamEvent, StreamHandler};

use super::session::Session;
use super::sink::{ClientSink, DecodeStats, DecoderConfig};

/// The decoding stage: configuration, counters and the sink.
#[derive(Debug)]
pub struct Decoder<K> {
    pub config: DecoderConfig,
    pub stats: DecodeStats,
    pub sink: K,
    /// Connections holding partial-frame bytes, by how many: the budget sheds the largest.
    partial: BTreeSet<(usize, ConnKey)>,
}

impl<K: ClientSink> Decoder<K> {
    /// A decoder handing messages to `sink`.
    pub fn new(config: DecoderConfig, sink: K) -> Self {
        Decoder { config, stats: DecodeStats::default(), sink, partial: BTreeSet::new() }
    }

    /// The connection whose partial frames should be dropped now, the largest holder, while
    /// all of them together are over `max_partial_bytes`.
    pub fn partial_budget_victim(&self) -> Option<ConnKey> {
        if self.stats.framing.partial_bytes as usize <= self.config.max_partial_bytes {
            return None;
        }
        self.partial.last().map(|&(_, conn)| conn)
    }

    /// Drops `conn`'s partial frames (see [`Session::shed_partial`]); false when that gave
    /// nothing back.
    pub fn shed_partial(&mut self, conn: &ConnKey, state: &mut Session) -> bool {
        let before = state.partial_bytes();
        state.shed_partial(&mut self.stats);
        let after = state.partial_bytes();
        self.account_partial(conn, before, after);
        after < before
    }

    /// Keeps the index of partial-frame holders and the total in step with one connection.
    fn account_partial(&mut self, conn: &ConnKey, before: usize, after: usize) {
        if before == after {
            return;
        }
        if before > 0 {
            self.partial.remove(&(before, *conn));
        }
        if after > 0 {
            self.partial.insert((after, *conn));
        }
        let total = &mut self.stats.framing.partial_bytes;
        *total = (*total + after as u64).saturating_sub(before as u64);
    }
}

impl<K: ClientSink> StreamHandler for Decoder<K> {
    type State = Session;

    fn on_event(&mut self, conn: &ConnKey, state: &mut Session, event: StreamEvent<'_>) {
        let closed = match event {
            StreamEvent::Closed { ts, reason } => Some((ts, reason)),
            _ => None,
        };
        let before = state.partial_bytes();
        state.on_event(conn, event, &self.config, &mut self.stats, &mut self.sink);
        self.account_partial(conn, before, state.partial_bytes());
        if let Some((ts, reason)) = closed {
            self.sink.closed(conn, ts, reason);
        }
    }
}
