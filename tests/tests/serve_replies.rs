//! What the original never had: `/json/latency`, `/json/errors`, `/json/clients` and
//! `/metrics`, through real HTTP against `serve --pcap`.

mod serve_support;

use std::collections::HashMap;

use serve_support::{capture, json, serve};

#[test]
fn errors_by_type_error_and_path() {
    let Some(pcap) = capture("dump.pcap") else { return };
    let s = serve(&pcap, &[]);
    let e = json(s.addr, "/json/errors");
    // Exists xids 6, 8 and 12 fail with NoNode, one on each probed path.
    assert_eq!(e["errors"], 3, "{e}");
    assert_eq!(e["replies"], 10, "pings excluded: {e}");
    let no_node = &e["by_type"]["ExistsRequest"]["NoNode"];
    assert_eq!(no_node["/dknightly"], 1, "{e}");
    assert_eq!(no_node["/dkni"], 1, "{e}");
    assert_eq!(no_node["/dknigh"], 1, "{e}");
    assert_eq!(e["by_type"].as_object().map(|m| m.len()), Some(1), "{e}");

    let Some(pcap) = capture("reconfig.pcap") else { return };
    let e = json(serve(&pcap, &[]).addr, "/json/errors");
    assert_eq!(e["by_type"]["ReconfigRequest"]["Unimplemented"]["/"], 1, "{e}");
}

#[test]
fn latency_per_type_and_path() {
    let Some(pcap) = capture("dump.pcap") else { return };
    let s = serve(&pcap, &[]);
    let l = json(s.addr, "/json/latency");
    let t = &l["by_type"];
    // Reply time − request time from the capture (the original's LatencyPrinter figures).
    assert_eq!(t["SetDataRequest"]["count"], 1);
    assert_eq!(t["SetDataRequest"]["max_us"], 7237.0, "{l}");
    assert_eq!(t["GetDataRequest"]["avg_us"], 956.0, "{l}");
    assert_eq!(t["CreateRequest"]["avg_us"], 783.0, "{l}");
    assert_eq!(t["ExistsRequest"]["count"], 5);
    assert_eq!(t["ExistsRequest"]["avg_us"], 616.4, "{l}");
    assert_eq!(t["GetChildrenRequest"]["avg_us"], 354.5, "{l}");
    // Percentiles from an hdrhistogram with 2 significant digits.
    let p99 = t["ExistsRequest"]["p99_us"].as_f64().expect("p99");
    assert!((p99 - 918.0).abs() <= 918.0 * 0.01, "{l}");
    let p = &l["by_path"];
    assert_eq!(p["/dknightly"]["count"], 6, "{l}");
    assert_eq!(p["/"]["count"], 2, "{l}");
    assert!(p["/dknightly"].get("p99_us").is_none(), "no per-path histogram by default");

    let l = json(serve(&pcap, &["--path-latency"]).addr, "/json/latency");
    assert!(l["by_path"]["/dknightly"]["p99_us"].is_f64(), "{l}");
}

#[test]
fn clients_with_session_identity_and_latency() {
    let Some(pcap) = capture("connect_replies.pcap") else { return };
    let c = json(serve(&pcap, &[]).addr, "/json/clients");
    let rows = c["clients"].as_array().expect("rows");
    assert_eq!(rows.len(), 3, "{c}");
    let mut sessions: Vec<&str> = rows.iter().filter_map(|r| r["session"].as_str()).collect();
    sessions.sort();
    assert_eq!(sessions, ["0x1001113200f0001", "0x1001113200f0002", "0x1001113200f0003"]);
    assert!(rows.iter().all(|r| r["timeout_ms"] == 10000 && r["identity"] == "noauth"), "{c}");
    assert!(rows.iter().all(|r| r["requests"] == 1 && r["replies"] == 1), "{c}");

    let Some(pcap) = capture("dump.pcap") else { return };
    let c = json(serve(&pcap, &[]).addr, "/json/clients");
    let row = &c["clients"][0];
    assert_eq!(row["client"], "127.0.0.1:60446");
    assert_eq!((row["requests"].as_u64(), row["errors"].as_u64()), (Some(10), Some(3)), "{c}");
    assert!(row["latency_p99_us"].as_f64().is_some_and(|p| p > 7000.0), "{c}");
    let last_seen = row["last_seen"].as_str().unwrap_or_default();
    assert!(last_seen.starts_with("2015-06-25T22:31:") && last_seen.ends_with('Z'), "{c}");
}

/// `/metrics` as an OpenMetrics scraper asks for it.
fn openmetrics(addr: std::net::SocketAddr) -> (u16, String) {
    let (status, content_type, body) = serve_support::get_accept(
        addr,
        "/metrics",
        Some("application/openmetrics-text;version=1.0.0"),
    );
    assert!(content_type.starts_with("application/openmetrics-text"), "{content_type}");
    (status, body)
}

/// A strict reading of the OpenMetrics text: every sample belongs to a family declared
/// before it, counters end in `_total`, histogram buckets are cumulative and end with +Inf
/// equal to `_count`, and the exposition ends with `# EOF`.
fn check_openmetrics(text: &str) {
    let mut types: HashMap<String, String> = HashMap::new();
    let mut last_bucket: HashMap<String, f64> = HashMap::new();
    let mut saw_eof = false;
    for line in text.lines() {
        assert!(!saw_eof, "content after # EOF: {line}");
        if line == "# EOF" {
            saw_eof = true;
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE name kind");
            assert!(["counter", "gauge", "histogram", "info", "unknown"].contains(&kind), "{line}");
            assert!(types.insert(name.to_owned(), kind.to_owned()).is_none(), "dup {name}");
            continue;
        }
        if line.starts_with("# HELP ") || line.starts_with("# UNIT ") {
            continue;
        }
        assert!(!line.starts_with('#'), "unknown comment {line}");
        let (series, value) = line.rsplit_once(' ').expect("sample value");
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("bad value in {line}"));
        let name = series.split('{').next().expect("name");
        let family = types
            .iter()
            .find(|(f, kind)| match kind.as_str() {
                "counter" => name == format!("{f}_total"),
                "histogram" => {
                    ["_sum", "_count", "_bucket"].iter().any(|s| name == format!("{f}{s}"))
                }
                "info" => name == format!("{f}_info"),
                _ => name == f.as_str(),
            })
            .unwrap_or_else(|| panic!("sample of an undeclared family: {line}"));
        if family.1 == "histogram" && name.ends_with("_bucket") {
            let key: String = series.replace('"', "");
            let key = key.split("le=").nth(1).map_or("", |r| r.split_once(',').map_or("", |x| x.1));
            let key = format!("{name}{key}");
            let prev = last_bucket.insert(key, value).unwrap_or(0.0);
            assert!(value >= prev, "buckets must be cumulative: {line}");
        }
        if series.contains("{") {
            assert!(series.ends_with('}'), "{line}");
        }
    }
    assert!(saw_eof, "no # EOF");
}

#[test]
fn metrics_parse_and_hold_the_counters() {
    let Some(pcap) = capture("dump.pcap") else { return };
    let s = serve(&pcap, &[]);
    let (status, text) = openmetrics(s.addr);
    assert_eq!(status, 200);
    check_openmetrics(&text);
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned())))
        .expect("prometheus text parses");
    let value = |metric: &str, labels: &[(&str, &str)]| -> f64 {
        scrape
            .samples
            .iter()
            .find(|s| s.metric == metric && labels.iter().all(|(k, v)| s.labels.get(k) == Some(v)))
            .map(|s| match &s.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => *v,
                other => panic!("{metric}: unexpected {other:?}"),
            })
            .unwrap_or_else(|| panic!("no {metric} {labels:?} in\n{text}"))
    };
    assert_eq!(
        value("zktraffic_requests_total", &[("op", "ExistsRequest"), ("path", "/dknightly")]),
        3.0
    );
    assert_eq!(
        value("zktraffic_request_bytes_total", &[("op", "CreateRequest"), ("path", "/dknightly")]),
        62.0
    );
    assert_eq!(
        value("zktraffic_replies_total", &[("op", "ExistsRequest"), ("error", "NoNode")]),
        3.0
    );
    assert_eq!(value("zktraffic_replies_total", &[("op", "ExistsRequest"), ("error", "Ok")]), 2.0);
    assert_eq!(
        value(
            "zktraffic_watch_events_total",
            &[("event", "NodeDataChanged"), ("path", "/dknightly")]
        ),
        1.0
    );
    assert_eq!(value("zktraffic_request_latency_seconds_count", &[("op", "ExistsRequest")]), 5.0);
    assert_eq!(value("zktraffic_pipeline_decode_requests_total", &[]), 13.0);
    assert!(value("zktraffic_capture_tcp_segments_total", &[]) > 0.0);
    let hist = scrape
        .samples
        .iter()
        .find(|s| {
            s.metric == "zktraffic_request_latency_seconds"
                && s.labels.get("op") == Some("SetDataRequest")
        })
        .expect("SetData latency histogram");
    let prometheus_parse::Value::Histogram(buckets) = &hist.value else { panic!("{hist:?}") };
    // 7.237 ms: first in the 10 ms bucket.
    let le = |b: f64| buckets.iter().find(|h| h.less_than == b).map(|h| h.count);
    assert_eq!((le(0.005), le(0.01), le(f64::INFINITY)), (Some(0.0), Some(1.0), Some(1.0)));
}

/// Label pairs of one sample, in exposition order.
type Labels = Vec<(String, String)>;

/// One sample line by the exposition grammar: `name{k="v",…} value`, label values unescaped
/// (`\\`, `\"`, `\n`); `None` for a line that does not follow it. (prometheus-parse skips
/// lines with escaped quotes, so it cannot judge escaping.)
fn parse_sample(line: &str) -> Option<(String, Labels, f64)> {
    let (name, mut rest) = match line.find(['{', ' ']) {
        Some(i) => line.split_at(i),
        None => return None,
    };
    let mut labels = Vec::new();
    if let Some(r) = rest.strip_prefix('{') {
        rest = r;
        loop {
            if let Some(r) = rest.strip_prefix('}') {
                rest = r;
                break;
            }
            let (key, r) = rest.split_once("=\"")?;
            let mut value = String::new();
            let mut chars = r.char_indices();
            let end = loop {
                match chars.next()? {
                    (i, '"') => break i,
                    (_, '\\') => match chars.next()?.1 {
                        'n' => value.push('\n'),
                        c @ ('\\' | '"') => value.push(c),
                        _ => return None,
                    },
                    (_, '\n') => return None,
                    (_, c) => value.push(c),
                }
            };
            labels.push((key.to_owned(), value));
            rest = &r[end + 1..];
            rest = rest.strip_prefix(',').unwrap_or(rest);
        }
    }
    let value = rest.strip_prefix(' ')?.parse().ok()?;
    Some((name.to_owned(), labels, value))
}

/// A path a client chose to close the label set and forge a sample: escaped, it stays one
/// label value of one sample, and the exposition still follows the grammar.
#[test]
fn metrics_escape_hostile_label_values() {
    let hostile = "/a\"} zookeeper_is_healthy 1\n# EOF\nx{y=\"\\";
    let pcap = serve_support::temp_capture("hostile-labels");
    serve_support::write_capture(&pcap, 1, &[(0, 0, hostile), (1, 0, "/plain")]);
    let s = serve(&pcap, &["--path-latency"]);
    let (status, text) = openmetrics(s.addr);
    let _ = std::fs::remove_file(&pcap);
    assert_eq!(status, 200);
    check_openmetrics(&text);
    assert_eq!(text.lines().filter(|l| *l == "# EOF").count(), 1, "{text}");
    let samples: Vec<_> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| parse_sample(l).unwrap_or_else(|| panic!("not a sample: {l:?} in\n{text}")))
        .collect();
    assert!(!samples.iter().any(|(name, ..)| name == "zookeeper_is_healthy"), "{text}");
    for metric in ["zktraffic_requests_total", "zktraffic_path_latency_seconds_count"] {
        let mut paths: Vec<&str> = samples
            .iter()
            .filter(|(name, labels, _)| {
                name == metric && !labels.iter().any(|(_, v)| v == "ConnectRequest")
            })
            .filter_map(|(_, labels, _)| labels.iter().find(|(k, _)| k == "path"))
            .map(|(_, v)| v.as_str())
            .filter(|p| *p != "/")
            .collect();
        paths.sort();
        assert_eq!(paths, [hostile, "/plain"], "{metric} in\n{text}");
    }
}

/// Every budget shows its cap, its use and what it shed, in `/json/info` and `/metrics`; caps
/// and levels are gauges, the rest counters.
#[test]
fn every_budget_shows_its_cap_use_and_shedding() {
    let pcap = serve_support::temp_capture("budgets");
    serve_support::write_capture(&pcap, 1, &[(0, 0, "/a")]);
    let s = serve(&pcap, &["--max-partial-bytes", "1000000"]);
    let info = json(s.addr, "/json/info");
    let (status, text) = openmetrics(s.addr);
    let _ = std::fs::remove_file(&pcap);
    assert_eq!(info["pipeline"]["limits"]["decode"]["max_partial_bytes"], 1_000_000);
    assert_eq!(info["pipeline"]["decode"]["partial_bytes"], 0);
    assert_eq!(status, 200);
    check_openmetrics(&text);
    for (line, what) in [
        ("# TYPE zktraffic_pipeline_limits_decode_max_partial_bytes gauge", "cap"),
        ("zktraffic_pipeline_limits_decode_max_partial_bytes 1000000", "cap value"),
        ("# TYPE zktraffic_pipeline_limits_tcp_max_total_buffered_bytes gauge", "cap"),
        ("# TYPE zktraffic_pipeline_decode_partial_bytes gauge", "use"),
        ("# TYPE zktraffic_pipeline_decode_pending_bytes gauge", "use"),
        ("zktraffic_pipeline_decode_partial_frames_shed_total 0", "shed"),
        ("zktraffic_pipeline_tcp_unanswered_evicted_total 0", "shed"),
        ("zktraffic_pipeline_decode_pending_budget_hits_total 0", "shed"),
    ] {
        assert!(text.lines().any(|l| l == line), "{what}: no {line:?} in\n{text}");
    }
}

/// Runs `program args` with `input` on its standard input: (success, stdout + stderr).
fn pipe(program: &std::path::Path, args: &[&str], input: &str) -> (bool, String) {
    use std::io::Write as _;
    let mut child = std::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the checker runs");
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let said =
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), said)
}

/// Both exposition formats of a real scrape: Prometheus text 0.0.4 by default, linted by
/// `promtool check metrics` with no warning at all; OpenMetrics when asked for, strictly
/// parsed, carrying the same series.
#[test]
fn metrics_negotiate_the_format_and_pass_promtool() {
    let Some(pcap) = capture("dump.pcap") else { return };
    let s = serve(&pcap, &["--path-latency"]);
    let (status, content_type, text) = serve_support::get_accept(s.addr, "/metrics", None);
    assert_eq!(status, 200);
    assert_eq!(content_type, "text/plain; version=0.0.4; charset=utf-8");
    assert!(!text.contains("# EOF") && !text.contains("# UNIT"), "{text}");
    assert!(text.contains("# TYPE zktraffic_build_info gauge"), "{text}");
    // A replay that has ended is not a failure.
    assert!(text.contains("\nzktraffic_capture_healthy 1\n"), "{text}");
    assert!(text.contains("# TYPE zktraffic_requests_total counter"), "{text}");
    let (_, om) = openmetrics(s.addr);
    check_openmetrics(&om);
    let series = |t: &str| -> Vec<String> {
        let mut v: Vec<String> = t
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.rsplit_once(' ').map(|(series, _)| series.to_owned()))
            .collect();
        v.sort();
        v
    };
    assert_eq!(series(&text), series(&om), "the two formats carry the same series");
    if let Some(python) = zktraffic_tests::openmetrics_python() {
        // The reference parser (prometheus-client) is strict: it raises on anything that is
        // not OpenMetrics (a missing # EOF, a bad suffix, an unordered bucket, a bad escape).
        let script = "import sys\nfrom prometheus_client.openmetrics.parser import \
                      text_string_to_metric_families as parse\n\
                      families = list(parse(sys.stdin.read()))\n\
                      print(len(families))";
        let said = pipe(&python, &["-c", script], &om);
        assert!(said.0, "OpenMetrics parser: {}\n{om}", said.1);
        assert!(said.1.trim().parse::<u32>().is_ok_and(|n| n > 20), "{}", said.1);
    }
    let Some(promtool) = zktraffic_tests::promtool() else { return };
    let (ok, said) = pipe(&promtool, &["check", "metrics"], &text);
    assert!(ok && said.trim().is_empty(), "promtool: {said}\n{text}");
}

/// The ensemble on the daemon: `/json/quorum` and the quorum series from the ZAB captures
/// (leader port 20022), with `/metrics` still passing promtool and the OpenMetrics parser.
#[test]
fn quorum_endpoint_and_metrics_from_zab_captures() {
    let Some(pcap) = capture("zab_request.pcap") else { return };
    let s = serve(&pcap, &["--zab-port", "20022"]);
    let q = serve_support::json(s.addr, "/json/quorum");
    assert_eq!(q["role"], "leader", "{q}");
    assert_eq!((q["commits"].as_u64(), q["outstanding_proposals"].as_u64()), (Some(3), Some(0)));
    assert_eq!(q["proposal_commit_latency"]["count"], 3, "{q}");
    assert_eq!(q["zab_packets"]["Proposal"]["from_leader"], 6, "{q}");
    assert_eq!(q["zab_packets"]["Ping"]["from_learner"], 28, "{q}");
    let learners = q["learners"].as_array().unwrap();
    assert_eq!(learners.len(), 2, "{q}");
    assert!(learners.iter().all(|l| l["ack_latency"]["count"] == 3), "{q}");
    let (_, text) = serve_support::get(s.addr, "/metrics");
    for line in [
        "zktraffic_zab_packets_total{type=\"Proposal\",from=\"leader\"} 6",
        "zktraffic_zab_packets_total{type=\"Commit\",from=\"leader\"} 6",
        "zktraffic_proposal_commit_seconds_count 3",
        "zktraffic_follower_ack_seconds_count{learner=\"127.0.0.1:38381\"} 3",
        "zktraffic_outstanding_proposals 0",
        "zktraffic_elections_total 0",
    ] {
        assert!(text.lines().any(|l| l == line), "{line} missing:\n{text}");
    }
    let (_, om) = openmetrics(s.addr);
    check_openmetrics(&om);
    if let Some(promtool) = zktraffic_tests::promtool() {
        let (ok, said) = pipe(&promtool, &["check", "metrics"], &text);
        assert!(ok && said.trim().is_empty(), "promtool: {said}\n{text}");
    }

    let Some(pcap) = capture("zab_followerinfo.pcap") else { return };
    let s = serve(&pcap, &["--zab-port", "20022"]);
    let q = serve_support::json(s.addr, "/json/quorum");
    assert_eq!(q["learner_syncs"]["DIFF"], 2, "{q}");
    assert_eq!(
        (q["leader"]["addr"].as_str(), q["leader"]["epoch"].as_i64()),
        (Some("127.0.0.1:20022"), Some(1))
    );
    let sids: Vec<i64> =
        q["learners"].as_array().unwrap().iter().filter_map(|l| l["sid"].as_i64()).collect();
    assert_eq!(sids.len(), 2, "{q}");
    assert!(q["learners"].as_array().unwrap().iter().all(|l| l["last_sync_mode"] == "DIFF"));
    let (_, text) = serve_support::get(s.addr, "/metrics");
    assert!(text.lines().any(|l| l == "zktraffic_learner_syncs_total{mode=\"DIFF\"} 2"), "{text}");

    // A capture with no quorum traffic says so.
    let Some(pcap) = capture("dump.pcap") else { return };
    let s = serve(&pcap, &[]);
    let q = serve_support::json(s.addr, "/json/quorum");
    assert_eq!(q["role"], "unknown", "{q}");
    let (_, text) = serve_support::get(s.addr, "/metrics");
    assert!(!text.contains("zktraffic_zab_packets"), "no quorum series without quorum traffic");
}
