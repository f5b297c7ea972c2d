//! `top`'s views from replayed conformance captures, rendered with ratatui's `TestBackend`.

use std::path::PathBuf;

use clap::Parser;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::style::Color;

use super::*;
use crate::capture::PcapSource;
use crate::cli::{Cli, Command};

fn conformance(name: &str) -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance");
    let dir = std::env::var_os("ZKTRAFFIC_CONFORMANCE").map(PathBuf::from).unwrap_or(dir);
    let path = dir.join(name);
    if !path.is_file() {
        eprintln!("\n!!! SKIPPED: conformance capture {name} not found in {} !!!\n", dir.display());
        return None;
    }
    Some(path)
}

fn args(extra: &[&str]) -> TopArgs {
    let argv = ["zktraffic", "top", "--pcap", "unused.pcap"].iter().chain(extra);
    match Cli::try_parse_from(argv).expect("valid arguments").into_command() {
        Command::Top(a) => a,
        other => panic!("not top: {other:?}"),
    }
}

/// The data `top` shows once `name` is replayed to its end (rates over the whole capture).
fn replayed(name: &str) -> Option<Data> {
    replayed_with(name, &[])
}

fn replayed_with(name: &str, extra: &[&str]) -> Option<Data> {
    let path = conformance(name)?;
    let mut all = vec!["--window", "3600"];
    all.extend_from_slice(extra);
    let args = args(&all);
    let source = PcapSource::open(&path).expect("capture opens");
    let mut collector = Collector::start(collector_config(&args), Box::new(source)).unwrap();
    collector.wait();
    let snap = collector.snapshot();
    assert!(snap.finished);
    Some(Data::new(&snap, &args.collect.ports, args.window * 1_000_000_000))
}

fn totals(tab: Tab) -> TableOptions {
    TableOptions {
        scope: Scope::Totals,
        depth: 0,
        filter: String::new(),
        sort: tab.default_sort(),
        reverse: false,
    }
}

fn text(v: &Value) -> &str {
    match v {
        Value::Text(t) => t,
        other => panic!("not text: {other:?}"),
    }
}

fn num(v: &Value) -> f64 {
    match v {
        Value::Num(n) => *n,
        other => panic!("not a number: {other:?}"),
    }
}

/// (first column, column `col`) of every row.
fn column(t: &model::Table, col: usize) -> Vec<(String, f64)> {
    t.rows.iter().map(|r| (text(&r[0]).to_owned(), num(&r[col]))).collect()
}

fn screen(data: &Data, state: &UiState, width: u16, height: u16, theme: Theme) -> Vec<String> {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal.draw(|f| draw(f, data, state, theme)).unwrap();
    let buffer = terminal.backend().buffer();
    (0..height).map(|y| (0..width).map(|x| buffer[(x, y)].symbol()).collect::<String>()).collect()
}

fn press(state: &mut UiState, code: KeyCode) {
    state.on_key(KeyEvent::new(code, KeyModifiers::NONE));
}

/// dump.pcap: wire-true counts per operation, busiest first, errors with them.
#[test]
fn ops_of_a_capture_are_exact_and_sorted() {
    let Some(data) = replayed("dump.pcap") else { return };
    let ops = table(&data, Tab::Ops, &totals(Tab::Ops));
    assert_eq!(
        column(&ops, 1),
        [
            ("ExistsRequest".to_owned(), 5.0),
            ("GetChildrenRequest".to_owned(), 2.0),
            ("CreateRequest".to_owned(), 1.0),
            ("GetDataRequest".to_owned(), 1.0),
            ("SetDataRequest".to_owned(), 1.0),
        ]
    );
    assert_eq!(num(&ops.rows[0][5]), 3.0, "three Exists answered NoNode");
    let reversed = TableOptions { reverse: true, ..totals(Tab::Ops) };
    let first = table(&data, Tab::Ops, &reversed);
    assert_eq!(text(&first.rows[4][0]), "ExistsRequest");
    // Sorted on p99 (column 3): SetData took 7 ms, the slowest.
    let by_p99 = TableOptions { sort: 3, ..totals(Tab::Ops) };
    assert_eq!(text(&table(&data, Tab::Ops, &by_p99).rows[0][0]), "SetDataRequest");
    let errors = table(&data, Tab::Errors, &totals(Tab::Errors));
    let rows: Vec<(&str, &str, &str, f64)> =
        errors.rows.iter().map(|r| (text(&r[0]), text(&r[1]), text(&r[2]), num(&r[3]))).collect();
    assert_eq!(
        rows,
        [
            ("ExistsRequest", "NoNode", "/dkni", 1.0),
            ("ExistsRequest", "NoNode", "/dknigh", 1.0),
            ("ExistsRequest", "NoNode", "/dknightly", 1.0),
        ]
    );
    // Rates: the same requests over the capture's span.
    let rates = table(&data, Tab::Ops, &TableOptions { scope: Scope::Rates, ..totals(Tab::Ops) });
    let exists = num(&rates.rows[0][1]);
    assert!(data.span_s > 0.0 && (exists * data.span_s - 5.0).abs() < 1e-6, "{exists}");
}

/// set_data.pcap: paths at full depth and at depth 1, and the path filter.
#[test]
fn paths_follow_depth_and_filter() {
    let Some(data) = replayed("set_data.pcap") else { return };
    let full = table(&data, Tab::Paths, &totals(Tab::Paths));
    let rows = column(&full, 1);
    assert_eq!(rows[0], ("(no path)".to_owned(), 6.0), "the six connects");
    let per_path: Vec<_> = rows[1..].to_vec();
    let expected: Vec<_> = (0..5).map(|n| (format!("/load-testing/{n}"), 6.0)).collect();
    assert_eq!(per_path, expected, "5 SetData + 1 Exists on each");
    assert!(full.rows[1..].iter().all(|r| num(&r[3]) == 5.0), "5 writes per path");
    let depth1 = TableOptions { depth: 1, ..totals(Tab::Paths) };
    let rows = column(&table(&data, Tab::Paths, &depth1), 1);
    assert_eq!(rows, [("/load-testing".to_owned(), 30.0), ("(no path)".to_owned(), 6.0)]);
    let filtered = TableOptions { filter: "/load-testing/3".into(), ..totals(Tab::Paths) };
    assert_eq!(column(&table(&data, Tab::Paths, &filtered), 1), [("/load-testing/3".into(), 6.0)]);
    let ops = TableOptions { filter: "exists".into(), ..totals(Tab::Ops) };
    assert_eq!(column(&table(&data, Tab::Ops, &ops), 1), [("ExistsRequest".into(), 5.0)]);
    let clients = table(&data, Tab::Clients, &totals(Tab::Clients));
    assert_eq!(clients.rows.len(), 6, "six connections");
}

/// The watch event of dump.pcap, per path and per client.
#[test]
fn watches_show_events_per_path_and_client() {
    let Some(data) = replayed("dump.pcap") else { return };
    let w = table(&data, Tab::Watches, &totals(Tab::Watches));
    assert_eq!(text(&w.rows[0][0]), "/dknightly");
    assert_eq!((num(&w.rows[0][1]), num(&w.rows[0][2])), (1.0, 1.0), "one NodeDataChanged");
    assert_eq!(num(&w.rows[0][6]), 1.0, "the GetData that set the watch");
    let c = model::watch_clients(&data, &totals(Tab::Watches));
    assert_eq!(column(&c, 2), [("127.0.0.1:60446".to_owned(), 1.0)]);
}

/// The whole screen at 80×24: header, tabs, rows in order; then a view switch, a filter, a
/// depth change, freezing, the help and a resize.
#[test]
fn the_screen_at_80x24_and_after_keys() {
    let Some(data) = replayed("dump.pcap") else { return };
    let color = Theme { color: true };
    let mut state = UiState::new(0);
    press(&mut state, KeyCode::Char('t'));
    let lines = screen(&data, &state, 80, 24, color);
    assert!(lines[0].starts_with("zktraffic top FINISHED  up 0:00:0"), "{lines:#?}");
    assert!(lines[0].contains("totals  :2181  dump.pcap (replay)"), "{lines:#?}");
    assert!(lines[1].contains("sessions 0") && lines[2].contains("ring drops 0"), "{lines:#?}");
    assert!(
        lines[3].starts_with(" 1 Ops 2 Paths") && lines[3].contains("by requests↓"),
        "{lines:#?}"
    );
    assert!(lines[4].starts_with("operation") && lines[4].contains("errors"), "{lines:#?}");
    let first_col: Vec<&str> =
        lines[5..10].iter().map(|l| l.split_whitespace().next().unwrap()).collect();
    assert_eq!(
        first_col,
        [
            "ExistsRequest",
            "GetChildrenRequest",
            "CreateRequest",
            "GetDataRequest",
            "SetDataRequest"
        ]
    );
    assert!(lines[5].trim_end().ends_with('3'), "Exists errors: {}", lines[5]);
    assert!(lines[23].starts_with("q quit"), "{lines:#?}");

    press(&mut state, KeyCode::Char('2'));
    press(&mut state, KeyCode::Char('/'));
    for c in "/dknightly".chars() {
        press(&mut state, KeyCode::Char(c));
    }
    let typing = screen(&data, &state, 80, 24, color);
    assert!(typing[23].starts_with("filter: /dknightly"), "{typing:#?}");
    press(&mut state, KeyCode::Enter);
    let lines = screen(&data, &state, 80, 24, color);
    assert!(lines[3].contains("filter /dknightly"), "{lines:#?}");
    assert!(lines[5].starts_with("/dknightly ") && lines[6].trim().is_empty(), "{lines:#?}");

    press(&mut state, KeyCode::Esc);
    press(&mut state, KeyCode::Char('-'));
    assert_eq!(state.depth, keys::MAX_DEPTH);
    let lines = screen(&data, &state, 80, 24, color);
    assert!(lines[3].contains("depth 12"), "{lines:#?}");

    press(&mut state, KeyCode::Char(' '));
    assert!(screen(&data, &state, 80, 24, color)[0].contains("FROZEN"));

    // Narrow: the least useful columns go first, the path and its counts stay.
    let narrow = screen(&data, &state, 60, 15, color);
    assert!(narrow[4].starts_with("path") && narrow[4].contains("requests"), "{narrow:#?}");
    assert!(!narrow[4].contains("events") && narrow[4].contains("p99"), "{narrow:#?}");
    assert!(narrow.iter().any(|l| l.starts_with("/dknightly")), "{narrow:#?}");

    press(&mut state, KeyCode::Char('?'));
    let help = screen(&data, &state, 80, 24, color);
    assert!(help.iter().any(|l| l.contains("reset every count")), "{help:#?}");
}

/// A frozen screen keeps its data while refreshes go on; unfreezing takes the next one.
#[test]
fn a_frozen_screen_ignores_refreshes() {
    let (Some(dump), Some(set_data)) = (replayed("dump.pcap"), replayed("set_data.pcap")) else {
        return;
    };
    let mut screen = Screen { state: UiState::new(0), data: dump };
    press(&mut screen.state, KeyCode::Char(' '));
    assert!(!screen.refresh(set_data));
    assert_eq!(screen.data.header.source.rsplit('/').next(), Some("dump.pcap"));
    press(&mut screen.state, KeyCode::Char(' '));
    let Some(again) = replayed("set_data.pcap") else { return };
    assert!(screen.refresh(again));
    assert_eq!(screen.data.header.source.rsplit('/').next(), Some("set_data.pcap"));
}

/// Every size from nothing to wide draws without panicking, in every view, help included.
#[test]
fn any_terminal_size_draws() {
    let Some(data) = replayed("dump.pcap") else { return };
    let mut state = UiState::new(0);
    for tab in 0..5 {
        for (w, h) in [(0, 0), (1, 1), (10, 3), (20, 5), (40, 8), (60, 15), (80, 24), (200, 60)] {
            screen(&data, &state, w, h, Theme { color: true });
            state.help = true;
            screen(&data, &state, w, h, Theme { color: false });
            state.help = false;
        }
        let _ = tab;
        press(&mut state, KeyCode::Tab);
    }
}

/// `NO_COLOR`: no cell has a colour, and the selected tab is still marked (reverse video).
#[test]
fn no_color_means_no_colour() {
    let Some(data) = replayed("dump.pcap") else { return };
    let state = UiState::new(0);
    let mut terminal = Terminal::new(TestBackend::new(80, 24)).unwrap();
    terminal.draw(|f| draw(f, &data, &state, Theme { color: false })).unwrap();
    let buffer = terminal.backend().buffer();
    assert!(buffer.content().iter().all(|c| c.fg == Color::Reset && c.bg == Color::Reset));
    let tab = &buffer[(1, 3)];
    assert!(tab.modifier.contains(ratatui::style::Modifier::REVERSED), "{tab:?}");
}

/// `--batch` lines: the header's figures and the two tables as objects.
#[test]
fn batch_lines_carry_ops_and_paths() {
    let Some(path) = conformance("dump.pcap") else { return };
    let args = args(&["--batch", "--speed", "0", "--iterations", "3", "--window", "3600"]);
    let source = PcapSource::open(&path).unwrap();
    let mut out = Vec::new();
    run_batch(&args, Box::new(source), &mut out, &AtomicBool::new(false)).unwrap();
    let text = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "a replay ends the batch once complete: {text}");
    let v: Json = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(v["finished"], true);
    assert_eq!(v["ops"][0]["op"], "ExistsRequest");
    let span = v["window_s"].as_f64().unwrap();
    let exists = v["ops"][0]["requests_per_s"].as_f64().unwrap();
    // Rates have two decimals.
    assert!((exists * span - 5.0).abs() < 0.1, "{exists} over {span}");
    assert!(v["paths"].as_array().unwrap().iter().any(|p| p["path"] == "/dknightly"));
    assert_eq!(v["losses"]["gaps"], 0);
}

/// Paced replay: capture time is waited for (speed 1000 plays dump.pcap's seconds in
/// milliseconds) and every segment arrives.
#[test]
fn a_paced_replay_delivers_everything_in_order() {
    let Some(path) = conformance("dump.pcap") else { return };
    let mut paced = PacedSource::new(Box::new(PcapSource::open(&path).unwrap()), 1000.0);
    let mut plain = PcapSource::open(&path).unwrap();
    let collect = |s: &mut dyn SegmentSource| {
        let mut seen = Vec::new();
        loop {
            match s.poll(7, &mut |seg| seen.push((seg.ts, seg.seq, seg.payload.to_vec()))) {
                Ok(crate::capture::Poll::Finished) => break seen,
                Ok(_) => {}
                Err(e) => panic!("{e}"),
            }
        }
    };
    let a = collect(&mut paced);
    assert_eq!(a, collect(&mut plain));
    assert!(a.len() > 20);
}

/// A client's session (from its connect reply) and identity stay once it is gone.
#[test]
fn clients_keep_their_session_and_identity() {
    let Some(data) = replayed("get_children_with_four_letter.pcap") else { return };
    let clients = table(&data, Tab::Clients, &totals(Tab::Clients));
    let row = clients
        .rows
        .iter()
        .find(|r| text(&r[0]) == "127.0.0.1:45873")
        .unwrap_or_else(|| panic!("{:?}", clients.rows));
    assert_eq!((text(&row[1]), text(&row[2])), ("0x0100157f63eb0000", "noauth"));
    assert_eq!(num(&row[3]), 2.0, "the connect and the getChildren");
    assert!(matches!(row[6], Value::Num(s) if s >= 0.0), "{row:?}");
}

/// The Ensemble view from a ZAB capture: the role, the commits and each learner's ACKs.
#[test]
fn the_ensemble_view() {
    let Some(data) = replayed_with("zab_request.pcap", &["--zab-port", "20022"]) else { return };
    let learners = table(&data, Tab::Ensemble, &totals(Tab::Ensemble));
    let rows: Vec<(String, f64)> = column(&learners, 4);
    assert_eq!(rows, [("127.0.0.1:38381".to_owned(), 3.0), ("127.0.0.1:38382".to_owned(), 3.0)]);
    let mut state = UiState::new(0);
    press(&mut state, KeyCode::Char('6'));
    let lines = screen(&data, &state, 80, 24, Theme { color: false });
    assert!(lines[3].contains("6 Ensemble"), "{lines:#?}");
    assert!(lines[4].starts_with("role leader") && lines[5].starts_with("commits 3"), "{lines:#?}");
    assert!(
        lines[7].starts_with("learner") && lines[8].starts_with("127.0.0.1:38381"),
        "{lines:#?}"
    );
    // Without quorum traffic the view says so.
    let Some(plain) = replayed("dump.pcap") else { return };
    let lines = screen(&plain, &state, 80, 24, Theme { color: false });
    assert!(lines[4].starts_with("no traffic on a quorum"), "{lines:#?}");
}
