//! The `zktraffic` binary as users run it: exit codes, error messages, standard input, filters.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use zktraffic::OpCode;
use zktraffic::Timestamp;
use zktraffic::encode::FrameWriter;
use zktraffic::{FrameBuilder, PcapWriter};

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

/// Runs `args`, which must be refused as a usage error (exit status 2) with each of `says` in
/// the message.
fn refused(args: &[&str], says: &[&str]) {
    let out = run(args);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{args:?} is refused: {err}");
    for s in says {
        assert!(err.contains(s), "{args:?}: no {s:?} in {err}");
    }
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
    refused(&["dump", "--pcap", p.to_str().unwrap(), "--client", "not-an-ip"], &["IP or IP:PORT"]);
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

/// `dump` with the original's report flags, on a conformance capture: the text of stdout.
fn report(capture: &str, args: &[&str]) -> Option<String> {
    let p = conformance(capture)?;
    let mut all = vec!["dump", "--pcap", p.to_str().unwrap()];
    all.extend_from_slice(args);
    let out = run(&all);
    assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    Some(stdout(&out))
}

/// The original's documented report examples (behaviour reference §5), with wire-true counts
/// and exact capture-time latencies.
#[test]
fn count_requests_as_the_original() {
    let Some(by_type) =
        report("dump.pcap", &["--count-requests", "14", "-p", "--group-by", "type"])
    else {
        return;
    };
    assert_eq!(
        by_type,
        "ExistsRequest 5\nPingRequest 3\nGetChildrenRequest 2\nCreateRequest 1\nGetDataRequest 1\n\
         NodeDataChanged 1\nSetDataRequest 1\n"
    );
    let by_path = report("dump.pcap", &["--count-requests", "14", "-p"]).unwrap();
    assert_eq!(by_path, "/dknightly 7\n 3\n/ 2\n/dkni 1\n/dknigh 1\n");
    let by_client =
        report("dump.pcap", &["--count-requests", "14", "-p", "--group-by", "client"]).unwrap();
    assert_eq!(by_client, "127.0.0.1:60446 14\n");
    let by_auth = report("dump.pcap", &["--count-requests", "--group-by", "auth"]).unwrap();
    assert_eq!(by_auth, "noauth 11\n", "no auth request: every message is noauth");
    let by_op =
        report("dump.pcap", &["--measure-latency", "--group-by", "op", "--sort-by", "count"]);
    let first = by_op.unwrap().lines().nth(2).map(|l| l.split(' ').next().map(str::to_owned));
    assert_eq!(first.flatten().as_deref(), Some("Exists"), "a request and its reply are one row");
    // The original counted 20 SetData and 6 "ReConnect" (a misparse); the wire has 25.
    let set_data = report("set_data.pcap", &["--count-requests", "36", "--group-by", "type"]);
    assert_eq!(set_data.unwrap(), "SetDataRequest 25\nConnectRequest 6\nExistsRequest 5\n");
    let depth = report(
        "set_data.pcap",
        &[
            "--count-requests",
            "--group-by",
            "path",
            "--aggregation-depth",
            "1",
            "--type",
            "SetData",
        ],
    );
    assert_eq!(depth.unwrap(), "/load-testing 25\n");
}

#[test]
fn measure_latency_as_the_original() {
    let Some(by_type) = report("dump.pcap", &["--measure-latency", "10", "--group-by", "type"])
    else {
        return;
    };
    assert_eq!(
        by_type,
        "\
type                      avg        p50         p95         p99       max  errors
------------------  ---------  ---------  ----------  ----------  --------  ------
SetDataRequest      0.007237   0.007237   0.007237    0.007237    0.007237       0
GetDataRequest      0.000956   0.000956   0.000956    0.000956    0.000956       0
CreateRequest       0.000783   0.000783   0.000783    0.000783    0.000783       0
ExistsRequest       0.0006164  0.000531   0.0008938   0.00091716  0.000923       3
GetChildrenRequest  0.0003545  0.0003545  0.00035765  0.00035793  0.000358       0
"
    );
    let by_path =
        report("dump.pcap", &["--measure-latency", "10", "--sort-by", "p99", "--format", "json"])
            .unwrap();
    let v: serde_json::Value = serde_json::from_str(&by_path).unwrap();
    assert_eq!(v["group_by"], "path");
    let keys: Vec<&str> =
        v["rows"].as_array().unwrap().iter().map(|r| r["key"].as_str().unwrap()).collect();
    assert_eq!(keys, ["/dknightly", "/dknigh", "/dkni", "/"]);
    let top = &v["rows"][0];
    assert_eq!((top["count"].as_u64(), top["errors"].as_u64()), (Some(6), Some(1)));
    assert!((top["p99_us"].as_f64().unwrap() - 6922.95).abs() < 0.01, "{top}");
    assert_eq!(top["max_us"], 7237.0);
}

/// `--duration` bounds a report by capture time: dump.pcap's first five seconds hold two
/// pings, an exists and a create.
#[test]
fn reports_stop_after_a_duration_and_refuse_mixed_modes() {
    let Some(out) =
        report("dump.pcap", &["--count-requests", "--duration", "5s", "-p", "--group-by", "type"])
    else {
        return;
    };
    assert_eq!(out, "PingRequest 2\nCreateRequest 1\nExistsRequest 1\n");
    let p = conformance("dump.pcap").unwrap();
    let p = p.to_str().unwrap();
    for bad in [
        &["--count-requests", "3", "--measure-latency", "3"][..],
        &["--count-requests", "3", "--sort-by", "p99"],
        &["--duration", "5s"],
        &["--count-requests", "3", "--group-by", "size"],
        &["--measure-latency", "--duration", "soon"],
    ] {
        let mut args = vec!["dump", "--pcap", p];
        args.extend_from_slice(bad);
        refused(&args, &["--"]);
    }
}

/// Ctrl-C during a report read from a pipe prints the report so far (the original did for
/// latency; it printed nothing for counts), instead of dying with nothing shown.
#[test]
fn ctrl_c_prints_the_partial_report() {
    let Some(p) = conformance("dump.pcap") else { return };
    let mut child = bin()
        .args(["dump", "--pcap", "-", "--count-requests", "1000", "--group-by", "type"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(&std::fs::read(p).unwrap()).unwrap();
    stdin.flush().unwrap();
    // Give the signal thread time to install its handler and the reader time to read.
    std::thread::sleep(std::time::Duration::from_millis(500));
    let kill = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(kill.success());
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{:?}: {}", out.status, stderr(&out));
    assert!(stdout(&out).starts_with("ExistsRequest 5\n"), "{}", stdout(&out));
}

/// The original's command lines: its flag names work where the meaning is the same, and the
/// ones we deliberately do not take say which flag to use.
#[test]
fn the_originals_flags() {
    let Some(p) = conformance("dump.pcap") else { return };
    let p = p.to_str().unwrap();
    let lines = |args: &[&str]| -> usize {
        let mut all = vec!["dump", "--pcap", p, "--unpaired"];
        all.extend_from_slice(args);
        let out = run(&all);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        stdout(&out).lines().count()
    };
    let all = lines(&[]);
    assert!(all > 0);
    assert_eq!(lines(&["--zookeeper-port", "2181"]), all);
    assert_eq!(lines(&["--zookeeper-port", "2182"]), 0);
    assert_eq!(lines(&["--client-port", "60446"]), all);
    assert_eq!(lines(&["--client-port", "60447"]), 0);
    assert_eq!(lines(&["--include-host", "127.0.0.1"]), all);
    assert_eq!(lines(&["--include-host", "localhost"]), all, "host names resolve");
    assert_eq!(lines(&["--include-host", "10.9.9.9"]), 0);
    assert_eq!(lines(&["--exclude-host", "localhost"]), 0);

    refused(
        &["dump", "--pcap", p, "--include-host", "10.0.0.1", "--exclude-host", "10.0.0.2"],
        &["--include-host", "--exclude-host"],
    );
    refused(&["dump", "--pcap", p, "--sampling", "0.5"], &["zktraffic serve --sampling"]);

    // The daemon: --http-port/--http-address, --niceness, --set-cpu-affinity.
    let serve = run(&[
        "serve",
        "--pcap",
        p,
        "--exit-when-done",
        "--zookeeper-port",
        "2181",
        "--http-address",
        "localhost",
        "--http-port",
        "0",
        "--niceness",
        "5",
        "--set-cpu-affinity",
        "0",
    ]);
    assert!(serve.status.success(), "{}", stderr(&serve));
    assert!(stderr(&serve).contains("serving on http://127.0.0.1:"), "{}", stderr(&serve));
    refused(&["serve", "--pcap", p, "--http-addr", ":0", "--http-port", "7070"], &[]);
}

/// `tcpdump -U -w - | zktraffic dump --pcap -` on a quiet server: each message shows as soon as
/// its packet is in, while the pipe stays open (no read-ahead, no output left in a buffer).
#[test]
fn a_pipe_is_decoded_as_it_arrives() {
    use std::io::{BufRead, BufReader};
    let client = "10.0.0.2:40000".parse().unwrap();
    let server = "10.0.0.1:2181".parse().unwrap();
    let mut w = PcapWriter::new(Vec::new()).unwrap();
    // The classic pcap file header.
    let header_len = 24;
    let req =
        FrameWriter::new().request_header(1, OpCode::Sync.to_wire()).string("/first").finish();
    let frame = FrameBuilder::new(client, server).seq(1).payload(&req).ethernet().unwrap();
    w.write_packet(Timestamp::from_parts(1_700_000_000, 0), &frame).unwrap();
    let bytes = w.into_inner();
    let mut child = bin()
        .args(["dump", "--pcap", "-", "--unpaired", "--format", "json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // The header, a pause, then one record: the writer pauses between records.
    stdin.write_all(&bytes[..header_len]).unwrap();
    stdin.flush().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(100));
    stdin.write_all(&bytes[header_len..]).unwrap();
    stdin.flush().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    // Generous: the line must come while the pipe is still open, however slow the machine.
    let line = rx.recv_timeout(std::time::Duration::from_secs(30));
    drop(stdin);
    let _ = child.wait();
    let line = line.expect("the message is printed before the pipe closes");
    assert!(line.contains(r#""path":"/first""#), "{line}");
}

/// Wrong input is never a silent empty output: an unknown `--type` is refused with the valid
/// names, and a capture that decodes nothing says why (and where the traffic was).
#[test]
fn no_silent_empty_output() {
    let Some(p) = conformance("dump.pcap") else { return };
    let p = p.to_str().unwrap();
    refused(&["dump", "--pcap", p, "--type", "GetFoo"], &["GetData", "NodeCreated"]);
    assert!(run(&["dump", "--pcap", p, "--type", "getdatarequest"]).status.success());
    for args in [&["--port", "2182"][..], &["--port", "2182", "--summary"]] {
        let mut all = vec!["dump", "--pcap", p];
        all.extend_from_slice(args);
        let out = run(&all);
        assert!(out.status.success());
        assert!(
            stderr(&out).contains("no packet to or from port 2182")
                && stderr(&out).contains("try --port 2181"),
            "{args:?}: {}",
            stderr(&out)
        );
    }
    let Some(zab) = conformance("zab_request.pcap") else { return };
    let out = run(&["dump", "--pcap", zab.to_str().unwrap()]);
    assert!(stderr(&out).contains("no ZooKeeper message"), "{}", stderr(&out));
    assert!(stderr(&run(&["dump", "--pcap", p])).is_empty(), "no warning when messages decode");
    refused(&["dump", "--pcap", p, "--write-pcap", "/tmp/never-written.pcapng"], &[]);
}

/// Errors say each cause once, and what to do.
#[test]
fn errors_say_each_cause_once_and_what_to_do() {
    let missing = run(&["dump", "--pcap", "/nonexistent/capture.pcap"]);
    assert_eq!(missing.status.code(), Some(1));
    assert_eq!(stderr(&missing).matches("os error 2").count(), 1, "{}", stderr(&missing));
    let Some(p) = conformance("dump.pcap") else { return };
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let busy = run(&["serve", "--pcap", p.to_str().unwrap(), "--http-addr", &addr]);
    assert_eq!(busy.status.code(), Some(1));
    let err = stderr(&busy);
    assert!(err.contains("--http-addr") && err.matches("os error 98").count() == 1, "{err}");
}

#[test]
fn help_shows_examples() {
    let examples =
        [("dump", "--measure-latency 1000"), ("serve", "--http-addr :7070"), ("top", "--speed 10")];
    for (cmd, example) in examples {
        let out = run(&[cmd, "--help"]);
        assert!(out.status.success());
        assert!(stdout(&out).contains("Examples:") && stdout(&out).contains(example), "{cmd}");
    }
}

/// `0` means one thing: a cap of 0 is refused (it would keep nothing), while `--max-results 0`
/// (an output option) still means all.
#[test]
fn a_cap_of_zero_is_refused() {
    let Some(p) = conformance("dump.pcap") else { return };
    let p = p.to_str().unwrap();
    for (cmd, flag) in
        [("dump", "--max-connections"), ("dump", "--max-partial-bytes"), ("serve", "--max-paths")]
    {
        refused(&[cmd, "--pcap", p, flag, "0"], &["would keep nothing"]);
    }
    let all = run(&[
        "serve",
        "--pcap",
        p,
        "--exit-when-done",
        "--max-results",
        "0",
        "--http-addr",
        "127.0.0.1:0",
    ]);
    assert!(all.status.success(), "{}", stderr(&all));
}

/// Logs go to standard error: text by default, one JSON object per line with `--log-format
/// json`; `-q` keeps only warnings, `-v` adds the windows as they close; stdout never has them.
#[test]
fn logs_are_on_stderr_in_the_chosen_format_and_level() {
    let Some(pcap) = conformance("set_data.pcap").or_else(|| conformance("auth.pcap")) else {
        return;
    };
    let p = pcap.to_str().unwrap();
    let serve = |extra: &[&str]| {
        let mut args = vec!["serve", "--pcap", p, "--exit-when-done", "--http-addr", "127.0.0.1:0"];
        args.extend(extra);
        let out = run(&args);
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(!stdout(&out).contains("serving on"), "{}", stdout(&out));
        out
    };
    let text = serve(&[]);
    assert!(stderr(&text).contains("INFO serving on http://127.0.0.1:"), "{}", stderr(&text));

    let json = serve(&["--log-format", "json"]);
    let lines: Vec<serde_json::Value> = stderr(&json)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?} is not JSON: {e}")))
        .collect();
    assert!(
        lines.iter().any(|l| l["level"] == "INFO"
            && l["message"].as_str().is_some_and(|m| m.starts_with("serving on http://"))),
        "{lines:?}"
    );

    let quiet = serve(&["-q"]);
    assert!(!stderr(&quiet).contains("INFO"), "{}", stderr(&quiet));

    // The replay is shorter than a window: the last one closes when the capture ends.
    let verbose = serve(&["-v", "--window", "1"]);
    assert!(stderr(&verbose).contains("DEBUG window closed:"), "{}", stderr(&verbose));

    // A plain dump of a file logs nothing at the default level.
    let dump = run(&["dump", "--pcap", p]);
    assert!(dump.status.success() && stderr(&dump).is_empty(), "{}", stderr(&dump));
}

/// `--generate`: man pages of the tool and its subcommands, and completions that know the
/// subcommands and their flags, all from the parser's own definitions.
#[test]
fn man_pages_and_completions_are_generated_from_the_parser() {
    let generate = |kind: &str| {
        let out = run(&["--generate", kind]);
        assert!(out.status.success(), "{kind}: {}", stderr(&out));
        stdout(&out)
    };
    let man = generate("man");
    assert!(man.contains(".TH zktraffic 1") && man.contains("dump"), "{man}");
    let dump = generate("man-dump");
    assert!(dump.contains(".TH zktraffic-dump 1") && dump.contains("count\\-requests"), "{dump}");
    assert!(generate("man-serve").contains("http\\-addr"));
    let top = generate("man-top");
    assert!(top.contains(".TH zktraffic-top 1") && top.contains("refresh"), "{top}");
    let bash = generate("complete-bash");
    assert!(bash.contains("_zktraffic()") && bash.contains("--measure-latency"), "{bash}");
    assert!(generate("complete-zsh").contains("#compdef zktraffic"));
    assert!(generate("complete-fish").contains("complete -c zktraffic"));
    refused(&["--generate", "manual"], &["man-dump"]);
}

/// `tcpdump -U -w - | zktraffic serve --pcap -` on a quiet server: what arrived is published
/// while the pipe stays open (the capture thread does not sit in a read until 4096 segments or
/// the end of input come).
#[test]
fn the_daemon_publishes_a_quiet_pipe_while_it_is_open() {
    use std::io::{BufRead, BufReader, Read as _};
    let client = "10.0.0.2:40000".parse().unwrap();
    let server = "10.0.0.1:2181".parse().unwrap();
    let mut w = PcapWriter::new(Vec::new()).unwrap();
    let req =
        FrameWriter::new().request_header(1, OpCode::Sync.to_wire()).string("/quiet").finish();
    let frame = FrameBuilder::new(client, server).seq(1).payload(&req).ethernet().unwrap();
    w.write_packet(Timestamp::from_parts(1_700_000_000, 0), &frame).unwrap();
    let bytes = w.into_inner();
    let mut child = bin()
        .args(["serve", "--pcap", "-", "--http-addr", "127.0.0.1:0"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(&bytes).unwrap();
    stdin.flush().unwrap();
    // The address it serves on, from its log.
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    let addr = loop {
        line.clear();
        assert!(stderr.read_line(&mut line).unwrap() > 0, "the daemon exited");
        if let Some(at) = line.find("serving on http://") {
            let rest = &line[at + "serving on http://".len()..];
            break rest.trim().trim_end_matches('/').to_owned();
        }
    };
    let get = |path: &str| -> String {
        let mut s = std::net::TcpStream::connect(&addr).expect("connect");
        write!(s, "GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").unwrap();
        let mut body = String::new();
        s.read_to_string(&mut body).unwrap();
        body
    };
    let start = std::time::Instant::now();
    let published = loop {
        let info = get("/json/info");
        if info.contains(r#""requests":1"#) {
            break true;
        }
        if start.elapsed() > std::time::Duration::from_secs(30) {
            break false;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let paths = get("/json/paths?scope=cumulative");
    drop(stdin);
    let _ = child.kill();
    let _ = child.wait();
    assert!(published, "the request was not published while the pipe was open");
    assert!(paths.contains("SyncRequest/quiet"), "{paths}");
}

/// A quick report read from a pipe ends once it has its N messages, while the pipe is still
/// open (it does not wait for more input to notice it is complete).
#[test]
fn a_report_from_a_pipe_ends_when_complete() {
    let client = "10.0.0.2:40000".parse().unwrap();
    let server = "10.0.0.1:2181".parse().unwrap();
    let mut w = PcapWriter::new(Vec::new()).unwrap();
    let req = FrameWriter::new().request_header(1, OpCode::Sync.to_wire()).string("/n").finish();
    let frame = FrameBuilder::new(client, server).seq(1).payload(&req).ethernet().unwrap();
    w.write_packet(Timestamp::from_parts(1_700_000_000, 0), &frame).unwrap();
    let bytes = w.into_inner();
    let mut child = bin()
        .args(["dump", "--pcap", "-", "--count-requests", "1", "--group-by", "path"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(&bytes).unwrap();
    stdin.flush().unwrap();
    let start = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if start.elapsed() > std::time::Duration::from_secs(30) {
            break None;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(status.is_some_and(|s| s.success()), "the report waited for the pipe to close");
    assert!(stdout(&out).contains("/n 1"), "{}", stdout(&out));
}

/// `top` draws a full screen: without a terminal it says where to go instead, with status 2.
#[test]
fn top_without_a_terminal_points_to_dump_and_serve() {
    let Some(pcap) = conformance("dump.pcap") else { return };
    let out = run(&["top", "--pcap", pcap.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("not a terminal") && stderr.contains("--batch"), "{stderr}");
    assert!(stderr.contains("zktraffic dump") && stderr.contains("zktraffic serve"), "{stderr}");
    assert!(out.stdout.is_empty());
}

/// `top --batch`: JSON lines with the header's figures and the Ops and Paths tables; a replay
/// ends the batch once complete.
#[test]
fn top_batch_prints_json_lines() {
    let Some(pcap) = conformance("set_data.pcap") else { return };
    let out = run(&[
        "top",
        "--pcap",
        pcap.to_str().unwrap(),
        "--batch",
        "--speed",
        "0",
        "--aggregation-depth",
        "1",
        "--rows",
        "1",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<serde_json::Value> =
        text.lines().map(|l| serde_json::from_str(l).expect("a JSON line")).collect();
    assert_eq!(lines.len(), 1, "{text}");
    let v = &lines[0];
    assert_eq!((v["finished"].as_bool(), v["live"].as_bool()), (Some(true), Some(false)));
    assert_eq!(v["ops"][0]["op"], "SetDataRequest", "{v}");
    assert_eq!(v["paths"].as_array().map(Vec::len), Some(1), "--rows 1: {v}");
    assert_eq!(v["paths"][0]["path"], "/load-testing", "depth 1: {v}");
    let refused = run(&["top", "--pcap", pcap.to_str().unwrap(), "--iterations", "2"]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--batch"));
}
