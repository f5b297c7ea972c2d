//! Every integer of a JSON value, by its path: the counters of `dump --summary`'s text form and
//! of `/metrics` are read from the same serialised structs this way, so a new counter shows in
//! both without being listed twice.

use serde::Serialize;
use serde_json::Value;

/// Appends `(path, value)` for every unsigned integer of `v` serialised, objects walked in key
/// order, path segments joined by `sep` after `prefix` (empty: no prefix).
pub fn flatten_numbers(prefix: &str, v: &impl Serialize, sep: char, out: &mut Vec<(String, u64)>) {
    walk(prefix, &serde_json::to_value(v).unwrap_or_default(), sep, out);
}

fn walk(prefix: &str, v: &Value, sep: char, out: &mut Vec<(String, u64)>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}{sep}{k}") };
                walk(&key, v, sep, out);
            }
        }
        Value::Number(n) => {
            if let Some(n) = n.as_u64() {
                out.push((prefix.to_owned(), n));
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_integers_get_their_path() {
        let v = serde_json::json!({"tcp": {"gaps": 2, "ok": true}, "rate": 0.5, "n": 1});
        let mut out = Vec::new();
        flatten_numbers("", &v, '.', &mut out);
        assert_eq!(out, [("n".to_owned(), 1), ("tcp.gaps".to_owned(), 2)]);
    }
}
