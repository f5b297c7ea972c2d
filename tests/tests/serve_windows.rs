//! Windows driven by capture time (the injectable clock of `--pcap`), path cardinality
//! (sequential folding, `--max-paths`) and `--sampling`, on generated captures.

mod serve_support;

use serve_support::{at, json, serve, temp_capture, write_capture, write_capture_closing};

#[test]
fn windows_roll_on_capture_time() {
    let pcap = temp_capture("windows");
    // Window 1 [0 s, 10 s): 2 requests; window 2 [10 s, 20 s): 3; then a gap of empty
    // windows; the last (partial) window [40 s, 50 s) holds 1, closed at the end of input.
    write_capture(
        &pcap,
        1,
        &[(1, 0, "/a"), (2, 0, "/a"), (11, 0, "/b"), (12, 0, "/b"), (19, 0, "/b"), (45, 0, "/c")],
    );
    let s = serve(&pcap, &["--window", "10"]);
    let w = json(s.addr, "/json/paths");
    assert_eq!(at(&w, "ExistsRequest/c"), 1, "{w}");
    assert!(w.get("ExistsRequest/b").is_none(), "{w}");
    let c = json(s.addr, "/json/paths?scope=cumulative");
    assert_eq!((at(&c, "ExistsRequest/a"), at(&c, "ExistsRequest/b")), (2, 3), "{c}");
    assert_eq!(at(&c, "ExistsRequest/c"), 1);
    assert_eq!(at(&c, "ConnectRequest/"), 1);
    let info = json(s.addr, "/json/info");
    // [0,10) [10,20) [20,30) [30,40) closed by traffic, [40,45] by the end of input.
    assert_eq!(info["aggregation"]["windows_completed"], 5, "{info}");
    // The latency and errors endpoints follow the same windows.
    let l = json(s.addr, "/json/latency");
    assert_eq!(l["by_type"]["ExistsRequest"]["count"], 1, "{l}");
    let l = json(s.addr, "/json/latency?scope=cumulative");
    assert_eq!(l["by_type"]["ExistsRequest"]["count"], 6, "{l}");
    assert_eq!(l["by_type"]["ExistsRequest"]["avg_us"], 1000.0, "{l}");
    let _ = std::fs::remove_file(&pcap);
}

#[test]
fn a_gap_of_empty_windows_is_skipped() {
    let pcap = temp_capture("empty-window");
    write_capture(&pcap, 1, &[(1, 0, "/a"), (35, 0, "/a")]);
    let s = serve(&pcap, &["--window", "10"]);
    let w = json(s.addr, "/json/paths");
    assert_eq!(at(&w, "ExistsRequest/a"), 1, "{w}");
    assert_eq!(at(&w, "total/reads"), 1, "{w}");
    let c = json(s.addr, "/json/paths?scope=cumulative");
    assert_eq!(at(&c, "ExistsRequest/a"), 2, "{c}");
    let _ = std::fs::remove_file(&pcap);
}

#[test]
fn sequential_suffixes_fold_unless_kept() {
    let pcap = temp_capture("sequential");
    let paths: Vec<String> = (0..5).map(|i| format!("/locks/lock-{:010}", 40 + i)).collect();
    let reqs: Vec<_> = paths.iter().map(|p| (1, 0, p.as_str())).collect();
    write_capture(&pcap, 1, &reqs);
    let p = json(serve(&pcap, &[]).addr, "/json/paths");
    assert_eq!(at(&p, "ExistsRequest/locks/lock-#"), 5, "{p}");
    let p =
        json(serve(&pcap, &["--keep-sequential-suffix", "--max-results", "0"]).addr, "/json/paths");
    assert_eq!(at(&p, "ExistsRequest/locks/lock-0000000042"), 1, "{p}");
    let _ = std::fs::remove_file(&pcap);
}

#[test]
fn max_paths_folds_the_rest_under_other_with_a_counter() {
    let pcap = temp_capture("max-paths");
    let paths: Vec<String> = (0..20).map(|i| format!("/p{i:02}")).collect();
    let reqs: Vec<_> = paths.iter().map(|p| (1, 0, p.as_str())).collect();
    write_capture(&pcap, 1, &reqs);
    let s = serve(&pcap, &["--max-paths", "5", "--max-results", "0"]);
    let p = json(s.addr, "/json/paths");
    let named =
        p.as_object().expect("object").keys().filter(|k| k.starts_with("ExistsRequest/p")).count();
    // The handshake's "" path takes one of the 5 slots.
    assert_eq!(named, 4, "{p}");
    assert_eq!(at(&p, "ExistsRequest<other>"), 16, "{p}");
    assert_eq!(at(&p, "total/reads"), 21, "{p}");
    let info = json(s.addr, "/json/info");
    assert_eq!(info["aggregation"]["window"]["counts"]["folded_paths"], 16 * 2, "{info}");
    let _ = std::fs::remove_file(&pcap);
}

#[test]
fn sampling_keeps_whole_connections() {
    let pcap = temp_capture("sampling");
    let reqs: Vec<_> = (0..40).map(|c| (1, c, "/s")).collect();
    write_capture(&pcap, 40, &reqs);
    let all = json(serve(&pcap, &["--sampling", "1"]).addr, "/json/paths");
    assert_eq!(at(&all, "ExistsRequest/s"), 40);
    let none = json(serve(&pcap, &["--sampling", "0"]).addr, "/json/paths");
    assert_eq!(none, serde_json::json!({}));
    let s = serve(&pcap, &["--sampling", "0.5"]);
    let half = json(s.addr, "/json/paths");
    // Every kept connection contributes its handshake and its request, never one alone.
    let (connects, exists) = (at(&half, "ConnectRequest/"), at(&half, "ExistsRequest/s"));
    assert_eq!(connects, exists, "{half}");
    assert!((5..=35).contains(&exists), "{half}");
    let errors = json(s.addr, "/json/errors");
    assert_eq!(errors["replies"], connects * 2, "every kept request is paired: {errors}");
    let _ = std::fs::remove_file(&pcap);
}

#[test]
fn sampling_outside_0_1_is_refused() {
    use clap::Parser;
    let err = zktraffic::Cli::try_parse_from(["zktraffic", "serve", "--sampling", "1.5"])
        .expect_err("refused");
    assert!(err.to_string().contains("--sampling takes values within [0, 1]"), "{err}");
}

#[test]
fn closed_connections_leave_the_live_views() {
    let pcap = temp_capture("closed");
    // Two sessions; client 0 closes at 3 s. Its window keeps its row; the live views drop it.
    write_capture_closing(&pcap, 2, &[(1, 0, "/a"), (2, 1, "/b")], &[(3, 0)]);
    let s = serve(&pcap, &["--window", "10"]);
    let info = json(s.addr, "/json/info");
    let c = &info["connections"];
    let got = ["tracked", "open", "sessions", "closed"].map(|k| c[k].as_u64());
    assert_eq!(got, [Some(2), Some(1), Some(1), Some(1)], "{info}");
    let metrics = serve_support::get(s.addr, "/metrics").1;
    assert!(metrics.lines().any(|l| l == "zktraffic_sessions 1"), "{metrics}");
    let dump = json(s.addr, "/json/auths-dump");
    assert_eq!(dump.as_object().map(|o| o.len()), Some(2), "{dump}");
    let clients = json(s.addr, "/json/clients");
    let rows = clients["clients"].as_array().expect("rows");
    assert_eq!(rows.len(), 2, "{clients}");
    assert!(rows.iter().all(|r| r["session"].is_string()), "{clients}");
    let _ = std::fs::remove_file(&pcap);

    // Once a later window has closed, the closed connection is forgotten.
    let pcap = temp_capture("closed-later");
    write_capture_closing(
        &pcap,
        2,
        &[(1, 0, "/a"), (2, 1, "/b"), (15, 1, "/b"), (25, 1, "/b")],
        &[(3, 0)],
    );
    let s = serve(&pcap, &["--window", "10"]);
    let info = json(s.addr, "/json/info");
    assert_eq!(info["connections"]["expired"], 1, "{info}");
    assert_eq!(info["connections"]["tracked"], 1, "{info}");
    let dump = json(s.addr, "/json/auths-dump");
    assert_eq!(dump, serde_json::json!({ "10.1.0.2:40001": "noauth" }), "{dump}");
    let _ = std::fs::remove_file(&pcap);
}

#[test]
fn a_replay_waits_for_a_small_queue_and_loses_nothing() {
    let pcap = temp_capture("small-queue");
    let reqs: Vec<_> = (0..20_000).map(|i| (1 + i / 1000, (i % 3) as usize, "/q")).collect();
    write_capture(&pcap, 3, &reqs);
    let tiny =
        ["--max-queued-requests", "1", "--max-queued-replies", "1", "--max-queued-events", "1"];
    let s = serve(&pcap, &tiny);
    let c = json(s.addr, "/json/paths?scope=cumulative");
    assert_eq!(at(&c, "ExistsRequest/q"), 20_000, "{c}");
    let info = json(s.addr, "/json/info");
    let q = &info["queue"];
    assert_eq!(q["capacity_messages"], 8192, "{info}");
    let dropped = ["requests", "replies", "events", "other"].map(|k| q["dropped"][k].as_u64());
    assert_eq!(dropped, [Some(0); 4], "{info}");
    let _ = std::fs::remove_file(&pcap);
}
