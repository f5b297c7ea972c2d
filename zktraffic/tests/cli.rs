//! The `zktraffic` binary as users run it: exit codes, error messages, standard input, filters.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use zktraffic::Timestamp;
use zktraffic::capture::pcap_write::{FrameBuilder, PcapWriter};
use zktraffic::zk::OpCode;
use zktraffic::zk::encode::FrameWriter;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_zktraffic"))
}

fn conformance(name: &str) -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance");
    let dir = std::env::var_os("ZKTRAFFIC_CONFORMANCE").map(PathBuf::from).unwrap_or(dir);
    if dir.join(name).is_file() {
        Some(dir.join(name))
    } else {
        eprintln!("\n!!! SKIPPED: conformance capture {name} not found in {} !!!\n", dir.display());
        None
    }
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("zktraffic runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A file holding `bytes`, removed when dropped.
fn tmp(name: &str, bytes: &[u8]) -> tempfile::TempPath {
    let mut f = tempfile::Builder::new().prefix("zktraffic-cli-").suffix(name).tempfile().unwrap();
    f.write_all(bytes).unwrap();
    f.into_temp_path()
}

#[test]
fn reads_standard_input() {
    let Some(p) = conformance("dump.pcap") else { return };
    let mut child = bin()
        .args(["dump", "--pcap", "-", "--format", "json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&std::fs::read(p).unwrap()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(stdout(&out).lines().count(), 21);
}

#[test]
fn a_file_that_is_not_a_capture_fails_with_its_name_and_offset() {
    let p = tmp("garbage.txt", b"this is not a capture file at all");
    let out = run(&["dump", "--pcap", p.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains(p.to_str().unwrap()) && err.contains("offset 0"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    let missing = run(&["dump", "--pcap", "/nonexistent/x.pcap"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(stderr(&missing).contains("/nonexistent/x.pcap"));
}

#[test]
fn a_truncated_capture_decodes_what_it_has_and_warns() {
    let Some(p) = conformance("dump.pcap") else { return };
    let bytes = std::fs::read(p).unwrap();
    let cut = tmp("cut.pcap", &bytes[..bytes.len() - 30]);
    let out = run(&["dump", "--pcap", cut.to_str().unwrap(), "--format", "json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("warning") && stderr(&out).contains("truncated"),
        "{}",
        stderr(&out)
    );
    assert!(stdout(&out).lines().count() >= 19);
}

#[test]
fn filters() {
    let Some(p) = conformance("dump.pcap") else { return };
    let p = p.to_str().unwrap();
    let count = |args: &[&str]| {
        let mut all = vec!["dump", "--pcap", p, "--format", "json"];
        all.extend_from_slice(args);
        let out = run(&all);
        assert!(out.status.success(), "{}", stderr(&out));
        stdout(&out).lines().count()
    };
    assert_eq!(count(&[]), 21);
    assert_eq!(count(&["-p"]), 27);
    assert_eq!(count(&["--type", "Exists"]), 10);
    assert_eq!(count(&["--type", "ExistsReply", "--type", "NodeDataChanged"]), 6);
    assert_eq!(count(&["--path-prefix", "/dknightly"]), 13);
    assert_eq!(count(&["--writes-only"]), 4);
    assert_eq!(count(&["--client", "127.0.0.1:60446"]), 21);
    assert_eq!(count(&["--client", "127.0.0.1:1"]), 0);
    assert_eq!(count(&["--exclude-host", "127.0.0.1"]), 0);
    assert_eq!(count(&["--port", "2182"]), 0);
}

#[test]
fn colours_and_unpaired_text() {
    let Some(p) = conformance("dump.pcap") else { return };
    let out = run(&["dump", "--pcap", p.to_str().unwrap(), "-c", "--unpaired", "--utc"]);
    let text = stdout(&out);
    assert!(text.contains("\x1b[") && text.ends_with("\x1b[0m"), "{text:?}");
    assert!(!text.contains("————►"), "unpaired output has no arrows");
    let bad = run(&["dump", "--pcap", p.to_str().unwrap(), "--client", "not-an-ip"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("IP or IP:PORT"), "{}", stderr(&bad));
}

#[test]
fn ipv6_addresses_are_bracketed() {
    let client = "[2001:db8::2]:40000".parse().unwrap();
    let server = "[2001:db8::1]:2181".parse().unwrap();
    let mut w = PcapWriter::new(Vec::new()).unwrap();
    let req = FrameWriter::new().request_header(1, OpCode::Sync.to_wire()).string("/").finish();
    let frame = FrameBuilder::new(client, server).seq(1).payload(&req).ethernet().unwrap();
    w.write_packet(Timestamp::from_parts(1_700_000_000, 0), &frame).unwrap();
    let p = tmp("v6.pcap", &w.into_inner());
    let out = run(&["dump", "--pcap", p.to_str().unwrap(), "--format", "json"]);
    let line = stdout(&out);
    assert!(line.contains(r#""client":"[2001:db8::2]:40000""#), "{line}");
    assert!(line.contains(r#""server":"[2001:db8::1]:2181""#), "{line}");
    assert!(line.contains(r#""type":"SyncRequest""#), "{line}");
}

/// A client that puts terminal escapes, newlines and bidi overrides in a path and an auth
/// scheme cannot forge a `dump` line or drive the operator's terminal: text shows them
/// escaped, one line per message; JSON carries them exactly.
#[test]
fn wire_text_is_escaped_in_text_output_and_exact_in_json() {
    let path =
        "/a\x1b[2J\n10:00:00:000000 DeleteRequest(xid=9, path=/forged)\r\\\u{9b}1m\u{202e}\x7f";
    let scheme = "x\x1b]0;owned\x07";
    let client = "10.0.0.2:40000".parse().unwrap();
    let server = "10.0.0.1:2181".parse().unwrap();
    let get = FrameWriter::new()
        .request_header(1, OpCode::GetData.to_wire())
        .string(path)
        .bool(false)
        .finish();
    let auth = FrameWriter::new()
        .request_header(-4, OpCode::Auth.to_wire())
        .i32(0)
        .string(scheme)
        .buffer(Some(b"u\x1b[31m:secret"))
        .finish();
    let mut w = PcapWriter::new(Vec::new()).unwrap();
    let mut seq = 1;
    for (i, payload) in [get, auth].iter().enumerate() {
        let frame = FrameBuilder::new(client, server).seq(seq).payload(payload).ethernet().unwrap();
        w.write_packet(Timestamp::from_parts(1_700_000_000, i as u32), &frame).unwrap();
        seq += payload.len() as u32;
    }
    let p = tmp("escapes.pcap", &w.into_inner());

    let out = run(&["dump", "--pcap", p.to_str().unwrap(), "--show-secrets"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert_eq!(text.lines().count(), 2, "{text:?}");
    assert!(!text.bytes().any(|b| b < 0x20 && b != b'\n' || b == 0x7f), "{text:?}");
    assert!(
        text.contains(
            r"path=/a\x1b[2J\n10:00:00:000000 DeleteRequest(xid=9, path=/forged)\r\\\u{9b}1m\u{202e}\x7f, watch=False"
        ),
        "{text}"
    );
    assert!(text.contains(r"scheme=x\x1b]0;owned\x07, credential=u\x1b[31m:secret"), "{text}");

    let out = run(&["dump", "--pcap", p.to_str().unwrap(), "--format", "json"]);
    let lines: Vec<serde_json::Value> =
        stdout(&out).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["path"], path);
    assert_eq!(lines[1]["scheme"], scheme);
}
