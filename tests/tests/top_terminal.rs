//! `zktraffic top` in a real terminal (tmux): a replayed capture, then a live ZooKeeper server
//! in a network namespace of the test's own; keys typed, the screen read, `q` quits with
//! status 0 and the terminal is given back (the alternate screen is left).

use std::net::SocketAddr;
use std::time::Duration;

use zktraffic_tests::agent::binary;
use zktraffic_tests::netns::{NetNs, privileged, skip};
use zktraffic_tests::tmux::{self, Tmux};
use zktraffic_tests::zookeeper::{self, ZkServer, zkcli};

const WAIT: Duration = Duration::from_secs(60);

#[test]
fn top_replays_a_capture_in_a_terminal_and_quits_on_q() {
    if !tmux::available() {
        skip(
            "top_replays_a_capture_in_a_terminal_and_quits_on_q",
            "tmux is missing; run `cargo xtask setup`",
        );
        return;
    }
    let Some(pcap) = zktraffic_tests::conformance("dump.pcap") else { return };
    let bin = binary().to_string_lossy().into_owned();
    let pcap = pcap.to_string_lossy().into_owned();
    let term = Tmux::start(
        "top-replay",
        80,
        24,
        &[],
        // After top: a marker, and time to read the screen it gave back.
        &[
            "sh",
            "-c",
            &format!("'{bin}' top --pcap '{pcap}' --speed 0; echo top exited $?; sleep 60"),
        ],
    );
    let screen = term.wait_for("FINISHED", WAIT);
    assert!(screen.contains("ExistsRequest") && screen.contains("q quit"), "{screen}");
    term.keys(&["2"]);
    let screen = term.wait_for("writes", WAIT);
    assert!(screen.contains("/dknightly"), "{screen}");
    term.keys(&["/", "/dkni", "Enter"]);
    term.wait_for("filter /dkni", WAIT);
    term.keys(&["q"]);
    let screen = term.wait_for("top exited 0", WAIT);
    assert!(!screen.contains("zktraffic top"), "the terminal was not restored:\n{screen}");
}

#[test]
fn top_shows_a_live_server() {
    if !privileged("top_shows_a_live_server") {
        return;
    }
    if !tmux::available() || !zookeeper::installed() {
        skip("top_shows_a_live_server", "tmux or zookeeper is missing; run `cargo xtask setup`");
        return;
    }
    let ns = NetNs::new("top");
    let addr: SocketAddr = "127.0.0.1:2181".parse().expect("address");
    let _server = ZkServer::start(&ns, addr, "top");
    let bin = binary().to_string_lossy().into_owned();
    let term = Tmux::start(
        "top-live",
        80,
        24,
        &ns.argv(&[]),
        &[&bin, "top", "--iface", "lo", "--attach", "tc", "--refresh", "0.5"],
    );
    term.wait_for("lo (live)", WAIT);
    zkcli(&ns, addr, &["create /toptest x", "get -w /toptest", "set /toptest y"]);
    let screen = term.wait_for("SetDataRequest", WAIT);
    assert!(screen.contains("CreateRequest") && screen.contains("GetDataRequest"), "{screen}");
    term.keys(&["2"]);
    term.wait_for("/toptest", WAIT);
    term.keys(&["5"]);
    let screen = term.wait_for("events/s", WAIT);
    assert!(screen.contains("/toptest"), "{screen}");
    // Ctrl-R: every count forgotten, capture goes on.
    term.keys(&["1", "C-r"]);
    term.wait_for("nothing in the window", WAIT);
    zkcli(&ns, addr, &["get /toptest"]);
    let screen = term.wait_for("GetDataRequest", WAIT);
    assert!(!screen.contains("SetDataRequest"), "{screen}");
    term.keys(&["q"]);
    assert_eq!(term.wait_exit(WAIT), Some(0), "{}", term.screen());
}
