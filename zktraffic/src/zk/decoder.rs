//! The decoding stage as the flow table sees it: a [`StreamHandler`] whose per-connection state
//! is a [`Session`], and which hands every decoded [`Message`](super::Message) to a
//! [`ClientSink`].

use crate::partial_budget::{Budgeted, PartialBudget};
use crate::tcp::{ConnKey, StreamEvent, StreamHandler};

use super::session::Session;
use super::sink::{ClientSink, DecodeStats, DecoderConfig};

/// The decoding stage: configuration, counters and the sink.
#[derive(Debug)]
pub struct Decoder<K> {
    pub config: DecoderConfig,
    pub stats: DecodeStats,
    pub sink: K,
    /// Partial-frame bytes held per connection, under `max_partial_bytes`.
    partial: PartialBudget,
}

impl<K: ClientSink> Decoder<K> {
    /// A decoder handing messages to `sink`.
    pub fn new(config: DecoderConfig, sink: K) -> Self {
        Decoder { config, stats: DecodeStats::default(), sink, partial: PartialBudget::default() }
    }

    /// Keeps the budget and its total in the counters in step with one connection.
    fn account_partial(&mut self, conn: &ConnKey, before: usize, after: usize) {
        self.partial.account(conn, before, after);
        self.stats.framing.partial_bytes = self.partial.total();
    }
}

impl<K: ClientSink> Budgeted<Session> for Decoder<K> {
    fn victim(&self) -> Option<ConnKey> {
        self.partial.victim(self.config.max_partial_bytes)
    }

    /// Drops `conn`'s partial frames (see [`Session::shed_partial`]).
    fn shed(&mut self, conn: &ConnKey, state: &mut Session) -> bool {
        let stats = &mut self.stats;
        let shed =
            self.partial.shed(conn, state, Session::partial_bytes, |s| s.shed_partial(stats));
        self.stats.framing.partial_bytes = self.partial.total();
        shed
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
