//! Path keys: aggregation depth (the original's `parent_path`) and sequential-suffix folding.

use std::borrow::Cow;

/// `'/'.join(path.split('/')[0:depth+1])`, the original's `parent_path`: the first `depth`
/// components of an absolute path (`/a/b/c` at depth 2 is `/a/b`). Depth 0 keeps the path.
pub fn parent_path(path: &str, depth: usize) -> &str {
    if depth == 0 {
        return path;
    }
    // Element k of the split ends just before the k-th '/' (0-based): keep elements 0..=depth.
    match path.match_indices('/').nth(depth) {
        Some((cut, _)) => &path[..cut],
        None => path,
    }
}

/// Digits ZooKeeper appends to a sequential node's name (`%010d`).
const SEQUENTIAL_DIGITS: usize = 10;

/// True when a path component ends in `-` and ten digits (a sequential znode's suffix).
fn has_sequential_suffix(component: &[u8]) -> bool {
    let n = component.len();
    n > SEQUENTIAL_DIGITS
        && component[n - SEQUENTIAL_DIGITS - 1] == b'-'
        && component[n - SEQUENTIAL_DIGITS..].iter().all(u8::is_ascii_digit)
}

/// Does some component end in `-` and exactly ten digits? The common answer is no, and this
/// runs on every new path of a window: only the dashes (found with SIMD) are looked at.
fn any_sequential_suffix(path: &[u8]) -> bool {
    memchr::memchr_iter(b'-', path).any(|dash| {
        let end = dash + 1 + SEQUENTIAL_DIGITS;
        end <= path.len()
            && path.get(end).is_none_or(|&b| b == b'/')
            && path[dash + 1..end].iter().all(u8::is_ascii_digit)
    })
}

/// Replaces every component's `-\d{10}` suffix with `-#`, so that lock and queue recipes
/// (`/locks/lock-0000000042`) count under one key. Borrows when nothing changes (the usual case).
pub fn fold_sequential(path: &str) -> Cow<'_, str> {
    if !any_sequential_suffix(path.as_bytes()) {
        return Cow::Borrowed(path);
    }
    let mut out = String::with_capacity(path.len());
    for (i, component) in path.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        if has_sequential_suffix(component.as_bytes()) {
            out.push_str(&component[..component.len() - SEQUENTIAL_DIGITS]);
            out.push('#');
        } else {
            out.push_str(component);
        }
    }
    Cow::Owned(out)
}

/// How raw paths become keys.
#[derive(Clone, Copy, Debug)]
pub struct PathRules {
    /// `--aggregation-depth` (0: the full path).
    pub depth: usize,
    /// Fold `-\d{10}` suffixes to `-#` (unless `--keep-sequential-suffix`).
    pub fold_sequential: bool,
}

impl PathRules {
    /// The key of `path`.
    pub fn key<'a>(&self, path: &'a str) -> Cow<'a, str> {
        let p = parent_path(path, self.depth);
        if self.fold_sequential { fold_sequential(p) } else { Cow::Borrowed(p) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parent_path_matches_the_original() {
        assert_eq!(parent_path("/a/b/c/d", 2), "/a/b");
        assert_eq!(parent_path("/", 1), "/");
        assert_eq!(parent_path("/load-testing/3", 1), "/load-testing");
        assert_eq!(parent_path("/tacos:tacos", 1), "/tacos:tacos");
        assert_eq!(parent_path("/a", 3), "/a");
        assert_eq!(parent_path("/a/", 1), "/a");
        assert_eq!(parent_path("", 1), "");
        assert_eq!(parent_path("/a/b/c", 0), "/a/b/c");
    }

    #[test]
    fn sequential_suffixes_fold() {
        assert_eq!(fold_sequential("/locks/lock-0000000042"), "/locks/lock-#");
        assert_eq!(fold_sequential("/q/item-0000000001/x-0000000002"), "/q/item-#/x-#");
        assert!(matches!(fold_sequential("/a/b-123"), Cow::Borrowed(_)));
        assert_eq!(fold_sequential("/a/b-00000000001"), "/a/b-00000000001");
        assert_eq!(fold_sequential("/a/-0000000001"), "/a/-#");
        let rules = PathRules { depth: 0, fold_sequential: false };
        assert_eq!(rules.key("/l/lock-0000000042"), "/l/lock-0000000042");
    }
}
