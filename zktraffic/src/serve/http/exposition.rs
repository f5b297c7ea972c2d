//! The two exposition formats of `/metrics`, chosen by the scraper's `Accept` header:
//! OpenMetrics 1.0 (what prometheus-client writes) or the Prometheus text format 0.0.4 (what
//! older scrapers and `promtool check metrics` expect), converted from it.

/// Content type of OpenMetrics text.
pub const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// Content type of the Prometheus text format.
pub const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// True when the `Accept` header asks for OpenMetrics (as Prometheus does when it can read it).
pub fn wants_openmetrics(accept: Option<&str>) -> bool {
    accept.is_some_and(|a| {
        a.split(',').any(|part| {
            let mut fields = part.split(';').map(str::trim);
            let media = fields.next().unwrap_or("");
            // `q=0` means "not this one".
            media.eq_ignore_ascii_case("application/openmetrics-text")
                && !fields.any(|f| f.replace(' ', "") == "q=0")
        })
    })
}

/// Rewrites OpenMetrics text as Prometheus text 0.0.4: a counter family `x` becomes `x_total`
/// (the name its sample has), an info family `x` a gauge `x_info`, `# UNIT` and `# EOF` go
/// (0.0.4 has neither). Samples and their escaped label values pass unchanged.
pub fn to_prometheus_text(openmetrics: &str) -> String {
    let mut out = String::with_capacity(openmetrics.len());
    // Families are announced HELP, TYPE (, UNIT); the TYPE decides the name both lines use.
    let mut help: Option<(&str, &str)> = None;
    for line in openmetrics.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            flush_help(&mut out, help.take(), None);
            help = rest.split_once(' ').or(Some((rest, "")));
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or((rest, "untyped"));
            let (name, kind) = match kind {
                "counter" => (format!("{name}_total"), "counter"),
                "info" => (format!("{name}_info"), "gauge"),
                other => (name.to_owned(), other),
            };
            flush_help(&mut out, help.take(), Some(&name));
            out.push_str("# TYPE ");
            out.push_str(&name);
            out.push(' ');
            out.push_str(kind);
            out.push('\n');
            continue;
        }
        flush_help(&mut out, help.take(), None);
        if line.starts_with("# UNIT ") || line == "# EOF" {
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    flush_help(&mut out, help, None);
    out
}

/// Writes a pending HELP line, under the family's 0.0.4 name when its TYPE gave one.
fn flush_help(out: &mut String, help: Option<(&str, &str)>, renamed: Option<&str>) {
    if let Some((name, text)) = help {
        out.push_str("# HELP ");
        out.push_str(renamed.unwrap_or(name));
        out.push(' ');
        out.push_str(text);
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiates_on_accept() {
        assert!(wants_openmetrics(Some(
            "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"
        )));
        assert!(!wants_openmetrics(Some("text/plain;version=0.0.4")));
        assert!(!wants_openmetrics(Some("application/openmetrics-text; q=0, */*")));
        assert!(!wants_openmetrics(None));
    }

    #[test]
    fn converts_families() {
        let om = "# HELP a_requests Requests.\n# TYPE a_requests counter\n\
                  a_requests_total{op=\"x\\\"y\"} 3\n\
                  # HELP a_uptime Seconds.\n# TYPE a_uptime gauge\n# UNIT a_uptime seconds\n\
                  a_uptime_seconds 1.5\n\
                  # HELP a_build Version.\n# TYPE a_build info\na_build_info{version=\"1\"} 1\n\
                  # EOF\n";
        assert_eq!(
            to_prometheus_text(om),
            "# HELP a_requests_total Requests.\n# TYPE a_requests_total counter\n\
             a_requests_total{op=\"x\\\"y\"} 3\n\
             # HELP a_uptime Seconds.\n# TYPE a_uptime gauge\na_uptime_seconds 1.5\n\
             # HELP a_build_info Version.\n# TYPE a_build_info gauge\na_build_info{version=\"1\"} 1\n"
        );
    }
}
