//! Finding where messages start again in a byte stream whose boundaries were lost (joined
//! mid-stream, after a gap, after bytes that did not frame), for every protocol: the client
//! protocol's framer, ZAB and leader election. The protocol says what a start looks like (a
//! judge); this module keeps the bookkeeping.
//!
//! Linear whatever the segmentation: each offset is judged when first seen, and again only once
//! the bytes its judge asked for have arrived (a few times at most), never rescanned. A stream
//! of noise dense with plausible headers holds at most [`MAX_WAITING`] candidates and a window
//! of bytes; the oldest candidates are shed first.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap};

/// Candidate starts in question at once, per direction, before the oldest are shed.
pub const MAX_WAITING: usize = 4096;

/// A judgement of one offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// A message (confirmed as the protocol requires) starts here.
    Found,
    /// Judge again once this many bytes from the offset are here (more than are now).
    Wait(usize),
    /// Nothing starts here, whatever comes next.
    No,
}

/// What one [`Search::push`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pushed {
    /// Where the start found is in the buffer (the bytes before it are given up).
    pub found: Option<usize>,
    /// Bytes given up for good by this call: they can start nothing.
    pub skipped: u64,
    /// Candidates dropped unjudged to stay within [`MAX_WAITING`].
    pub shed: u64,
}

/// The bytes a stream holds (an incomplete message, or what a search looks through) and, while
/// it searches, the search's bookkeeping (boxed: most streams never search).
#[derive(Debug, Default)]
pub struct Held {
    /// The bytes; while searching, the first [`Search::dead`] of them are no longer held.
    pub buf: Vec<u8>,
    search: Option<Box<Search>>,
}

impl Held {
    /// Bytes held.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.search.as_ref().map_or(0, |s| s.dead())
    }

    /// Memory held: [`Self::buffered`] and the search's bookkeeping (what budgets count).
    pub fn memory(&self) -> usize {
        self.buffered() + self.search.as_ref().map_or(0, |s| s.cost())
    }

    /// Gives everything back.
    pub fn release(&mut self) {
        self.buf = Vec::new();
        self.search = None;
    }

    /// Forgets the search (its bytes are dropped by the caller).
    pub fn end_search(&mut self) {
        self.search = None;
    }

    /// [`Search::push`] into the search kept here between deliveries. When a start is found,
    /// `buf` is left holding the bytes from it on and the search is over.
    pub fn search(
        &mut self,
        data: &[u8],
        window: usize,
        min: usize,
        judge: impl FnMut(&[u8]) -> Verdict,
    ) -> Pushed {
        let mut search = self.search.take().unwrap_or_default();
        let pushed = search.push(&mut self.buf, data, window, min, judge);
        match pushed.found {
            Some(at) => {
                self.buf.drain(..at);
            }
            None => self.search = Some(search),
        }
        pushed
    }

    /// Judgements made by the search in progress.
    #[cfg(test)]
    pub fn judged(&self) -> u64 {
        self.search.as_ref().map_or(0, |s| s.judged)
    }
}

/// The search's bookkeeping, positions counted from where the search began.
#[derive(Debug, Default)]
pub struct Search {
    /// The position of `buf[0]`.
    base: u64,
    /// Bytes at the front of `buf` no longer held (moved out only in bulk).
    dead: usize,
    /// The first offset not judged yet.
    next: u64,
    /// Offsets that need more bytes, by the end position they wait for.
    due: BinaryHeap<Reverse<(u64, u64)>>,
    /// The same offsets, in order (entries in `due` not here are stale).
    waiting: BTreeSet<u64>,
    /// Judgements made (tests check that the work stays linear).
    #[cfg(test)]
    pub judged: u64,
}

impl Search {
    /// Bytes at the front of the buffer that are no longer held.
    pub fn dead(&self) -> usize {
        self.dead
    }

    /// Bytes of bookkeeping, roughly: an entry in `due` and one in `waiting` per candidate.
    pub fn cost(&self) -> usize {
        (self.due.len() + self.waiting.len()) * 16
    }

    /// Appends `data` to `buf` (the bytes being searched: `buf[self.dead()..]` is held) and
    /// judges what can be judged now. At most `window` bytes are held (a message is never
    /// longer), and offsets are judged once at least `min` bytes from them are here. When a
    /// start is found, the caller takes the bytes from it on and drops this search.
    pub fn push(
        &mut self,
        buf: &mut Vec<u8>,
        data: &[u8],
        window: usize,
        min: usize,
        mut judge: impl FnMut(&[u8]) -> Verdict,
    ) -> Pushed {
        let mut out = Pushed::default();
        let live = buf.len() - self.dead;
        let excess = (live + data.len()).saturating_sub(window);
        let data = if excess > 0 {
            let from_buf = excess.min(live);
            self.dead += from_buf;
            out.skipped += excess as u64;
            &data[excess - from_buf..]
        } else {
            data
        };
        if self.dead == buf.len() {
            // Nothing live is held: start over rather than copy behind dead bytes.
            self.base += self.dead as u64;
            self.dead = 0;
            buf.clear();
        }
        buf.extend_from_slice(data);
        let start = self.base + self.dead as u64;
        self.next = self.next.max(start);
        while self.waiting.first().is_some_and(|&off| off < start) {
            self.waiting.pop_first();
        }
        let end = self.base + buf.len() as u64;
        let mut judge_at = |search: &mut Search, off: u64| {
            #[cfg(test)]
            {
                search.judged += 1;
            }
            judge(&buf[(off - search.base) as usize..])
        };

        // Offsets whose awaited bytes are here: the earliest that is now a start wins (they
        // all precede the offsets not judged yet). A wait is always for bytes beyond `end`, so
        // an offset queued again is not popped again in this call.
        let mut winner: Option<u64> = None;
        while let Some(&Reverse((due, off))) = self.due.peek() {
            if due > end {
                break;
            }
            self.due.pop();
            if off < start || !self.waiting.remove(&off) {
                continue;
            }
            match judge_at(self, off) {
                Verdict::Found => winner = Some(winner.map_or(off, |w| w.min(off))),
                Verdict::Wait(need) => self.wait(off, need),
                Verdict::No => {}
            }
        }
        if winner.is_none() {
            while self.next + min as u64 <= end {
                let off = self.next;
                self.next += 1;
                match judge_at(self, off) {
                    Verdict::Found => {
                        winner = Some(off);
                        break;
                    }
                    Verdict::Wait(need) => self.wait(off, need),
                    Verdict::No => {}
                }
            }
        }
        if let Some(off) = winner {
            out.skipped += off - start;
            out.found = Some((off - self.base) as usize);
            return out;
        }
        while self.waiting.len() > MAX_WAITING {
            // Noise dense with plausible headers: the oldest candidates go first.
            self.waiting.pop_first();
            out.shed += 1;
        }
        if self.due.len() > 2 * MAX_WAITING {
            // Shed candidates leave their entries in `due` until their bytes come: drop them
            // once they outnumber the live ones (amortised O(1) per candidate).
            let waiting = &self.waiting;
            self.due.retain(|Reverse((_, off))| waiting.contains(off));
        }
        // Bytes before the oldest offset still in question can never be part of a message.
        let keep_from = self.waiting.first().copied().unwrap_or(self.next).min(self.next);
        out.skipped += keep_from - start;
        self.dead = (keep_from - self.base) as usize;
        if self.dead * 2 >= buf.len() {
            // Compact only when at least half is dead: moving the rest stays linear overall.
            buf.drain(..self.dead);
            self.base = keep_from;
            self.dead = 0;
        }
        out
    }

    /// `off` is judged again once `need` bytes from it are here.
    fn wait(&mut self, off: u64, need: usize) {
        self.waiting.insert(off);
        self.due.push(Reverse((off + need as u64, off)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A toy protocol: a start is `0xAA` followed by a length byte and that many bytes, then
    /// another `0xAA` (or the end of what is there).
    fn judge(b: &[u8]) -> Verdict {
        match b {
            [] | [0xAA] => Verdict::Wait(2),
            [0xAA, n, rest @ ..] => {
                let n = usize::from(*n);
                match rest.get(n) {
                    None if rest.len() == n => Verdict::Found,
                    None => Verdict::Wait(2 + n + 1),
                    Some(0xAA) => Verdict::Found,
                    Some(_) => Verdict::No,
                }
            }
            _ => Verdict::No,
        }
    }

    #[test]
    fn finds_the_first_confirmed_start_in_any_split() {
        let stream = [1, 2, 0xAA, 9, 0xAA, 1, 7, 0xAA, 0, 0xAA, 0];
        for size in 1..stream.len() {
            let (mut s, mut buf) = (Search::default(), Vec::new());
            let mut skipped = 0;
            let found = stream.chunks(size).find_map(|c| {
                let p = s.push(&mut buf, c, 64, 1, judge);
                skipped += p.skipped;
                p.found.map(|at| buf[at..].to_vec())
            });
            // 0xAA 9 … never completes before the 0xAA 1 7 0xAA that follows: the first
            // confirmed start is at 4.
            assert_eq!(found.as_deref().map(|f| f[..3].to_vec()), Some(vec![0xAA, 1, 7]));
            assert!(skipped <= 4, "{size}: {skipped}");
        }
    }

    #[test]
    fn plausible_noise_is_judged_in_linear_time_and_bounded() {
        // Every other byte claims a 255-byte message that never confirms: each offset waits
        // once, and is judged again only when its bytes are all here.
        let noise: Vec<u8> = (0..200_000).map(|i| if i % 2 == 0 { 0xAA } else { 0xFF }).collect();
        let (mut s, mut buf) = (Search::default(), Vec::new());
        let mut shed = 0;
        for c in noise.chunks(7) {
            let p = s.push(&mut buf, c, 4096, 1, judge);
            assert_eq!(p.found, None);
            shed += p.shed;
            assert!(buf.len() - s.dead() <= 4096 && s.waiting.len() <= MAX_WAITING);
        }
        // Odd offsets once, even ones twice (waiting, then their bytes are here).
        assert!(s.judged <= 2 * noise.len() as u64, "{} judgements", s.judged);
        assert_eq!(shed, 0);
    }
}
