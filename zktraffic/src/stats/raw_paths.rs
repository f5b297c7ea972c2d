//! Raw path → path id of the current tally, by 128-bit digest: the common case (a path seen
//! before in this window) costs one hash of the path and one small-key lookup, instead of the
//! path rules (depth, sequential-suffix scan) and a comparison with the interned text, which
//! sits in memory nobody touched lately.

use std::hash::{BuildHasher, RandomState};

use rustc_hash::FxHashMap;
use xxhash_rust::xxh3::xxh3_128_with_seed;

use super::tally::PathId;

/// Raw paths remembered per window (about 2 MiB); past it, new ones take the slow path.
const CAPACITY: usize = 1 << 16;

/// Path ids of raw paths, valid for one tally generation.
///
/// A hit is trusted without comparing the text: two distinct paths share a 128-bit digest with
/// odds far below those of a memory error, and the seed is random per process, so the paths
/// of one client cannot be crafted to collide with another's.
#[derive(Debug)]
pub struct RawPathIds {
    seed: u64,
    generation: u64,
    ids: FxHashMap<u128, PathId>,
}

impl Default for RawPathIds {
    fn default() -> Self {
        RawPathIds {
            seed: RandomState::new().hash_one(0u8),
            generation: 0,
            ids: FxHashMap::default(),
        }
    }
}

impl RawPathIds {
    /// The id of `raw` in the tally of `generation`, from `resolve` (rules, then interning)
    /// the first time.
    pub fn id(
        &mut self,
        raw: &str,
        generation: u64,
        resolve: impl FnOnce(&str) -> PathId,
    ) -> PathId {
        if generation != self.generation {
            // A new tally: its ids start afresh.
            self.ids.clear();
            self.generation = generation;
        }
        let digest = xxh3_128_with_seed(raw.as_bytes(), self.seed);
        if let Some(&id) = self.ids.get(&digest) {
            return id;
        }
        let id = resolve(raw);
        if self.ids.len() < CAPACITY {
            self.ids.insert(digest, id);
        }
        id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_once_per_generation() {
        let mut c = RawPathIds::default();
        let mut calls = 0;
        let mut id = |c: &mut RawPathIds, raw: &str, generation| {
            c.id(raw, generation, |_| {
                calls += 1;
                raw.len() as PathId
            })
        };
        assert_eq!(id(&mut c, "/a/b", 1), 4);
        assert_eq!(id(&mut c, "/a/b", 1), 4);
        assert_eq!(id(&mut c, "/a", 1), 2);
        assert_eq!(id(&mut c, "/a/b", 2), 4);
        assert_eq!(calls, 3);
    }
}
