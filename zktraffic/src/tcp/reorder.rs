//! The out-of-order buffer of one direction: copies of segments that arrived ahead of the next
//! expected stream offset, kept non-overlapping and sorted by offset.

use std::collections::BTreeMap;

/// Memory charged per buffered chunk on top of its bytes (map node, allocation header), so that
/// many tiny chunks cannot escape the global budget.
pub(super) const CHUNK_OVERHEAD: usize = 64;

/// Bytes buffered by all connections together, charged against a global limit.
#[derive(Debug, Default)]
pub(super) struct BufferBudget {
    /// Bytes (data plus [`CHUNK_OVERHEAD`] per chunk) currently charged.
    pub used: usize,
    /// The most that may be charged.
    pub limit: usize,
}

impl BufferBudget {
    /// True when `chunks` more chunks holding `bytes` bytes can be charged.
    pub fn has_room(&self, bytes: usize, chunks: usize) -> bool {
        let cost = bytes.saturating_add(chunks.saturating_mul(CHUNK_OVERHEAD));
        self.used.saturating_add(cost) <= self.limit
    }
}

/// A stretch of the stream held out of order. It covers `seq_len` stream bytes from its start;
/// only the first `data.len()` were captured, the rest (a truncated capture) are known lost.
#[derive(Debug)]
pub(super) struct Chunk {
    pub data: Box<[u8]>,
    pub seq_len: u64,
}

impl Chunk {
    fn cost(&self) -> usize {
        self.data.len().saturating_add(CHUNK_OVERHEAD)
    }
}

/// A half-open range of stream offsets `[start, end)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Span {
    pub start: u64,
    pub end: u64,
}

impl Span {
    pub fn len(self) -> u64 {
        self.end.saturating_sub(self.start)
    }
}

/// Non-overlapping chunks keyed by their start offset.
#[derive(Debug, Default)]
pub(super) struct ReorderBuffer {
    chunks: BTreeMap<u64, Chunk>,
    /// Captured bytes held (what the per-direction byte cap limits).
    bytes: usize,
}

impl ReorderBuffer {
    pub fn is_empty(&self) -> bool {
        self.chunks.is_empty()
    }

    /// Number of chunks held (what the per-direction segment cap limits).
    pub fn chunk_count(&self) -> usize {
        self.chunks.len()
    }

    /// Captured bytes held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Offset of the earliest chunk.
    pub fn first_start(&self) -> Option<u64> {
        self.chunks.keys().next().copied()
    }

    /// One past the last offset covered by any chunk.
    pub fn end(&self) -> Option<u64> {
        let (&start, chunk) = self.chunks.last_key_value()?;
        Some(start.saturating_add(chunk.seq_len))
    }

    /// The parts of `span` no chunk covers yet, in order: only these are worth keeping, since
    /// on overlap the first copy wins.
    pub fn uncovered(&self, span: Span) -> Vec<Span> {
        let mut pieces = Vec::new();
        let mut cursor = span.start;
        // A chunk starting at or before the span may reach into it.
        if let Some((&start, chunk)) = self.chunks.range(..=span.start).next_back() {
            cursor = cursor.max(start.saturating_add(chunk.seq_len));
        }
        if span.start < span.end {
            let later = self.chunks.range(span.start.saturating_add(1)..span.end);
            for (&start, chunk) in later {
                if cursor >= span.end {
                    break;
                }
                if start > cursor {
                    pieces.push(Span { start: cursor, end: start });
                }
                cursor = cursor.max(start.saturating_add(chunk.seq_len));
            }
        }
        if cursor < span.end {
            pieces.push(Span { start: cursor, end: span.end });
        }
        pieces
    }

    /// Stores a chunk that overlaps no other (the caller took it from [`Self::uncovered`]).
    pub fn insert(&mut self, start: u64, chunk: Chunk, budget: &mut BufferBudget) {
        self.bytes = self.bytes.saturating_add(chunk.data.len());
        budget.used = budget.used.saturating_add(chunk.cost());
        if let Some(replaced) = self.chunks.insert(start, chunk) {
            // Unreachable when the caller respects `uncovered`; keep the books right anyway.
            self.release(&replaced, budget);
        }
    }

    /// Removes and returns the earliest chunk.
    pub fn pop_first(&mut self, budget: &mut BufferBudget) -> Option<(u64, Chunk)> {
        let (start, chunk) = self.chunks.pop_first()?;
        self.release(&chunk, budget);
        Some((start, chunk))
    }

    /// Drops every chunk; returns the captured bytes dropped.
    pub fn clear(&mut self, budget: &mut BufferBudget) -> u64 {
        let mut dropped = 0u64;
        while let Some((_, chunk)) = self.pop_first(budget) {
            dropped = dropped.saturating_add(chunk.data.len() as u64);
        }
        dropped
    }

    fn release(&mut self, chunk: &Chunk, budget: &mut BufferBudget) {
        self.bytes = self.bytes.saturating_sub(chunk.data.len());
        budget.used = budget.used.saturating_sub(chunk.cost());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(start: u64, end: u64) -> Span {
        Span { start, end }
    }

    fn buffer_with(spans: &[(u64, u64)], budget: &mut BufferBudget) -> ReorderBuffer {
        let mut buf = ReorderBuffer::default();
        for &(start, end) in spans {
            let len = (end - start) as usize;
            let chunk = Chunk { data: vec![0; len].into(), seq_len: end - start };
            buf.insert(start, chunk, budget);
        }
        buf
    }

    #[test]
    fn uncovered_returns_the_holes_between_chunks() {
        let mut budget = BufferBudget { used: 0, limit: usize::MAX };
        let buf = buffer_with(&[(10, 20), (30, 40)], &mut budget);
        assert_eq!(buf.uncovered(span(0, 50)), vec![span(0, 10), span(20, 30), span(40, 50)]);
        assert_eq!(buf.uncovered(span(15, 35)), vec![span(20, 30)]);
        assert_eq!(buf.uncovered(span(10, 20)), vec![]);
        assert_eq!(buf.uncovered(span(12, 18)), vec![]);
        assert_eq!(buf.uncovered(span(20, 30)), vec![span(20, 30)]);
        assert_eq!(buf.uncovered(span(5, 5)), vec![]);
    }

    #[test]
    fn books_follow_inserts_and_removals() {
        let mut budget = BufferBudget { used: 0, limit: usize::MAX };
        let mut buf = buffer_with(&[(10, 20), (30, 45)], &mut budget);
        assert_eq!((buf.bytes(), buf.chunk_count()), (25, 2));
        assert_eq!(budget.used, 25 + 2 * CHUNK_OVERHEAD);
        assert_eq!((buf.first_start(), buf.end()), (Some(10), Some(45)));
        let (start, chunk) = buf.pop_first(&mut budget).unwrap();
        assert_eq!((start, chunk.seq_len), (10, 10));
        assert_eq!(budget.used, 15 + CHUNK_OVERHEAD);
        assert_eq!(buf.clear(&mut budget), 15);
        assert_eq!((buf.bytes(), budget.used, buf.is_empty()), (0, 0, true));
    }

    #[test]
    fn budget_counts_chunk_overhead() {
        let budget = BufferBudget { used: 0, limit: 100 };
        assert!(budget.has_room(100 - CHUNK_OVERHEAD, 1));
        assert!(!budget.has_room(101 - CHUNK_OVERHEAD, 1));
        assert!(!budget.has_room(0, 2));
    }
}
