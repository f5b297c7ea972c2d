//! The zk-stats-daemon–compatible endpoints (`/json/paths`, `/json/ips`, `/json/auths`,
//! `/json/auths-dump`) through real HTTP against `serve --pcap` on the conformance captures,
//! with wire-true values.

mod serve_support;

use serde_json::{Value, json};
use serve_support::{at, capture, get, json, serve};

const ENDPOINTS: [&str; 9] = [
    "/json/paths",
    "/json/ips",
    "/json/auths",
    "/json/auths-dump",
    "/json/latency",
    "/json/errors",
    "/json/clients",
    "/json/info",
    "/metrics",
];

#[test]
fn set_data_at_depth_1_is_wire_true_with_the_original_keys() {
    let Some(pcap) = capture("set_data.pcap") else { return };
    let s = serve(&pcap, &["--aggregation-depth", "1"]);
    let paths = json(s.addr, "/json/paths");
    // Every key, exactly: the original's scheme (§4.7) with wire-true counts (6 Connect,
    // 5 Exists, 25 SetData; no ReConnect misparse).
    assert_eq!(
        paths,
        json!({
            "ConnectRequest/": 6, "ConnectRequestBytes/": 270,
            "ExistsRequest/load-testing": 5, "ExistsRequestBytes/load-testing": 140,
            "SetDataRequest/load-testing": 25, "SetDataRequestBytes/load-testing": 13747,
            "reads/": 6, "reads/load-testing": 5, "readsBytes/": 270, "readsBytes/load-testing": 140,
            "total/readBytes": 410, "total/reads": 11, "total/writeBytes": 13747, "total/writes": 25,
            "writes/": 0, "writes/load-testing": 25, "writesBytes/": 0,
            "writesBytes/load-testing": 13747,
        })
    );
    let ips = json(s.addr, "/json/ips");
    assert_eq!(at(&ips, "per_ip/ConnectRequest:127.0.0.1"), 6);
    assert_eq!(at(&ips, "per_ip/reads:127.0.0.1"), 6);
    assert_eq!(at(&ips, "per_ip/reads/load-testing:127.0.0.1"), 5);
    assert_eq!(at(&ips, "per_ip/SetDataRequest/load-testing:127.0.0.1"), 25);
    assert_eq!(at(&ips, "per_ip/reads/"), 0);
    assert_eq!(at(&ips, "per_ip/total/writes"), 25);
    let auths = json(s.addr, "/json/auths");
    assert_eq!(at(&auths, "per_auth/ConnectRequest:noauth"), 6);
    assert_eq!(at(&auths, "per_auth/SetDataRequest/load-testing:noauth"), 25);
    assert_eq!(at(&auths, "per_auth/total/reads"), 11);
    let dump = json(s.addr, "/json/auths-dump");
    let clients: Vec<&str> = dump.as_object().expect("object").keys().map(String::as_str).collect();
    assert_eq!(
        clients,
        [
            "127.0.0.1:59813",
            "127.0.0.1:59814",
            "127.0.0.1:59815",
            "127.0.0.1:59816",
            "127.0.0.1:59817",
            "127.0.0.1:59819"
        ]
    );
    assert!(dump.as_object().expect("object").values().all(|v| v == "noauth"));
}

#[test]
fn set_data_at_depth_2_splits_per_node() {
    let Some(pcap) = capture("set_data.pcap") else { return };
    let s = serve(&pcap, &["--aggregation-depth", "2"]);
    let paths = json(s.addr, "/json/paths");
    for n in 0..5 {
        assert_eq!(at(&paths, &format!("ExistsRequest/load-testing/{n}")), 1);
        assert_eq!(at(&paths, &format!("reads/load-testing/{n}")), 1);
    }
    // Flow 59813 probes; the five others write 5 times each on their own node.
    let set: u64 = (0..5).map(|n| at(&paths, &format!("SetDataRequest/load-testing/{n}"))).sum();
    assert_eq!(set, 25);
    assert!((0..5).all(|n| at(&paths, &format!("writes/load-testing/{n}")) == 5));
    assert_eq!(at(&paths, "total/writes"), 25);
}

#[test]
fn max_results_and_exclude_bytes() {
    let Some(pcap) = capture("set_data.pcap") else { return };
    let s = serve(&pcap, &["--aggregation-depth", "2", "--max-results", "2", "--exclude-bytes"]);
    let paths = json(s.addr, "/json/paths");
    let obj = paths.as_object().expect("object");
    assert!(obj.keys().all(|k| !k.contains("Bytes")), "{paths}");
    let set = obj.keys().filter(|k| k.starts_with("SetDataRequest/")).count();
    assert_eq!(set, 2, "top 2 per op key: {paths}");
    // The seeded zero entry competes in the top-N, as in the original.
    assert!(!obj.contains_key("writes/"), "{paths}");
    assert_eq!(at(&paths, "total/writes"), 25);
}

#[test]
fn dump_has_watches_and_the_watch_event() {
    let Some(pcap) = capture("dump.pcap") else { return };
    let s = serve(&pcap, &[]);
    let p = json(s.addr, "/json/paths");
    // The reference of §4.7 (pings excluded, replies not in /json/paths).
    for (key, n) in [
        ("ExistsRequest/dknightly", 3),
        ("ExistsRequest/dkni", 1),
        ("ExistsRequest/dknigh", 1),
        ("GetChildrenRequest/", 2),
        ("GetDataRequest/dknightly", 1),
        ("CreateRequest/dknightly", 1),
        ("CreateRequestBytes/dknightly", 62),
        ("SetDataRequest/dknightly", 1),
        ("SetDataRequestBytes/dknightly", 40),
        ("NodeDataChanged/dknightly", 1),
        ("watches/dknightly", 1),
        ("total/reads", 8),
        ("total/readBytes", 158),
        ("total/writes", 2),
        ("total/writeBytes", 102),
    ] {
        assert_eq!(at(&p, key), n, "{key} in {p}");
    }
    let obj = p.as_object().expect("object");
    assert!(obj.keys().all(|k| !k.contains("Reply") && !k.contains("Ping")), "{p}");
}

#[test]
fn getdata_watches_counts_the_watch_setting_reads() {
    let Some(pcap) = capture("getdata_watches.pcap") else { return };
    let s = serve(&pcap, &[]);
    let p = json(s.addr, "/json/paths");
    assert_eq!(at(&p, "watches/test"), 2);
    assert_eq!(at(&p, "GetChildrenRequest/test"), 2);
    assert_eq!(at(&p, "GetDataRequest/test"), 2);
}

#[test]
fn multi_reconfig_and_setwatches() {
    let Some(dir) = zktraffic_tests::conformance_dir() else { return };
    let p = json(serve(&dir.join("multi.pcap"), &[]).addr, "/json/paths");
    assert_eq!((at(&p, "MultiRequest/foo"), at(&p, "MultiRequestBytes/foo")), (1, 96));
    assert_eq!(at(&p, "writes/foo"), 1);
    let p = json(serve(&dir.join("reconfig.pcap"), &[]).addr, "/json/paths");
    assert_eq!((at(&p, "ReconfigRequest/"), at(&p, "ReconfigRequestBytes/")), (1, 81));
    assert_eq!(at(&p, "writes/"), 1);
    let p = json(serve(&dir.join("setwatches.pcap"), &[]).addr, "/json/paths");
    assert_eq!((at(&p, "ReConnectRequest/"), at(&p, "ReConnectRequestBytes/")), (1, 45));
    assert_eq!((at(&p, "SetWatchesRequest/"), at(&p, "SetWatchesRequestBytes/")), (1, 78));
    assert_eq!((at(&p, "watches/"), at(&p, "reads/")), (1, 2));
}

#[test]
fn auth_never_exposes_the_password() {
    let Some(pcap) = capture("auth.pcap") else { return };
    let s = serve(&pcap, &[]);
    let p = json(s.addr, "/json/paths");
    assert_eq!(at(&p, "SetAuthRequest/digest:tacos"), 1);
    assert_eq!(at(&p, "SetAuthRequestBytes/digest:tacos"), 37);
    assert_eq!(at(&p, "reads/digest:tacos"), 1);
    let a = json(s.addr, "/json/auths");
    assert_eq!(at(&a, "per_auth/SetAuthRequest/digest:tacos:"), 1);
    assert_eq!(json(s.addr, "/json/auths-dump"), json!({ "127.0.0.1:57541": "digest:tacos" }));
    for endpoint in ENDPOINTS {
        for scope in ["", "?scope=cumulative"] {
            let (status, body) = get(s.addr, &format!("{endpoint}{scope}"));
            assert_eq!(status, 200);
            // The credential is `tacos:tacos`: user `tacos` may show, the password never.
            assert!(!body.contains("tacos:tacos"), "{endpoint}{scope}: {body}");
        }
    }
}

#[test]
fn cumulative_scope_and_errors_of_the_http_layer() {
    let Some(pcap) = capture("dump.pcap") else { return };
    let s = serve(&pcap, &[]);
    // One window only: the cumulative totals equal it.
    assert_eq!(json(s.addr, "/json/paths"), json(s.addr, "/json/paths?scope=cumulative"));
    assert_eq!(get(s.addr, "/json/paths?scope=hourly").0, 400);
    assert_eq!(get(s.addr, "/json/nothing").0, 404);
    assert_eq!(get(s.addr, "/nothing").0, 404);
    let (status, index) = get(s.addr, "/");
    assert_eq!(status, 200);
    for endpoint in ENDPOINTS {
        assert!(index.contains(endpoint), "{endpoint} missing from the index");
    }
    assert_eq!(get(s.addr, "/healthz"), (200, "OK\n".to_owned()));
    let info = json(s.addr, "/json/info");
    assert_eq!(info["capture"]["source"]["mode"], "pcap");
    assert_eq!(info["finished"], Value::Bool(true));
    assert_eq!(info["pipeline"]["decode"]["requests"], 13);
    assert!(info["uptime"].is_u64());
    assert_eq!(info["version"], env!("CARGO_PKG_VERSION"));
}
