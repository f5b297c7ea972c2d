//! Saying an error and its causes on one line.

/// `error: cause: cause…`, each said once: errors often print their source in their own
/// message too (`cannot open x: No such file or directory (os error 2)`), and repeating it
/// after the message says nothing new.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cause = c.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("cannot open x: {0}")]
    struct Open(#[source] std::io::Error);

    #[derive(Debug, thiserror::Error)]
    #[error("dump failed")]
    struct Dump(#[source] Open);

    #[test]
    fn each_cause_once() {
        let io = std::io::Error::from_raw_os_error(2);
        let text = error_chain(&Dump(Open(io)));
        assert_eq!(text.matches("os error 2").count(), 1, "{text}");
        assert!(text.starts_with("dump failed: cannot open x: "), "{text}");
    }
}
