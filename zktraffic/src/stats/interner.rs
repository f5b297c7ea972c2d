//! A capped interner: values get dense ids until the cap, then share the overflow id.

use std::borrow::Borrow;
use std::hash::Hash;

use rustc_hash::FxHashMap;

/// Dense ids for up to `cap` distinct values; past the cap every new value maps to
/// [`Interner::OVERFLOW`] (rendered as `other`) and is counted.
#[derive(Clone, Debug)]
pub struct Interner<T: Eq + Hash> {
    ids: FxHashMap<T, u32>,
    values: Vec<T>,
    cap: usize,
    /// Lookups of values that did not fit (each folded into the overflow id).
    pub overflowed: u64,
}

impl<T: Eq + Hash + Clone> Interner<T> {
    /// The id shared by every value past the cap.
    pub const OVERFLOW: u32 = u32::MAX;

    /// An empty interner holding at most `cap` values.
    pub fn new(cap: usize) -> Self {
        Interner { ids: FxHashMap::default(), values: Vec::new(), cap, overflowed: 0 }
    }

    /// The id of `value`, interning it (via `to_owned`) if it is new and there is room.
    pub fn intern<Q>(&mut self, value: &Q, to_owned: impl FnOnce(&Q) -> T) -> u32
    where
        T: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        if let Some(&id) = self.ids.get(value) {
            return id;
        }
        if self.values.len() >= self.cap {
            self.overflowed += 1;
            return Self::OVERFLOW;
        }
        let id = self.values.len() as u32;
        let owned = to_owned(value);
        self.values.push(owned.clone());
        self.ids.insert(owned, id);
        id
    }

    /// The id of `value`, if it was interned.
    pub fn id_of<Q>(&self, value: &Q) -> Option<u32>
    where
        T: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.ids.get(value).copied()
    }

    /// The value of `id`, or `None` for the overflow id.
    pub fn get(&self, id: u32) -> Option<&T> {
        self.values.get(id as usize)
    }

    /// Distinct values interned.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// True when nothing was interned.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_and_counts() {
        let mut i: Interner<Box<str>> = Interner::new(2);
        assert_eq!(i.intern("/a", |s: &str| Box::from(s)), 0);
        assert_eq!(i.intern("/b", |s: &str| Box::from(s)), 1);
        assert_eq!(i.intern("/a", |s: &str| Box::from(s)), 0);
        assert_eq!(i.intern("/c", |s: &str| Box::from(s)), Interner::<Box<str>>::OVERFLOW);
        assert_eq!(i.overflowed, 1);
        assert_eq!(i.get(1).map(|s| &**s), Some("/b"));
        assert_eq!(i.len(), 2);
    }
}
