//! Static names (`GetDataRequest`, `NodeDataChanged`…) as cheap map keys.

/// A decoder name compared and hashed by address: names are literals, so a lookup hashes one
/// word instead of a string. Two equal literals at different addresses only make two entries,
/// which reports merge by text.
#[derive(Clone, Copy, Debug)]
pub struct Name(pub &'static str);

impl PartialEq for Name {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self.0, other.0)
    }
}

impl Eq for Name {}

impl std::hash::Hash for Name {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        (self.0.as_ptr() as usize).hash(state)
    }
}
