//! deploy/ against the daemon it deploys: every metric the Grafana dashboard, the Prometheus
//! rules and their tests (and the docs beside them) name is one `/metrics` exports, rates are
//! taken of counters only, every flag the DaemonSet and the systemd config pass is one
//! `zktraffic serve` has, and their command lines (the unit's with its config file, commented-out
//! settings too) parse as the binary parses them. (`cargo xtask deploy-check` validates the
//! files themselves.)

mod serve_support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use clap::{CommandFactory, Parser};
use zktraffic::ebpf::{AttachmentStats, KernelStats, ReaderStats};
use zktraffic::synth::{QuorumWorkload, Workload, write_quorum, write_workload};
use zktraffic::{Cli, Command, Daemon, LiveCounters, PcapSource, Poll, Segment, SegmentSource};
use zktraffic::{SourceCounters, SourceError, SourceInfo};

/// A capture file replayed as a replay is (nothing dropped), whose counters are those of live
/// capture (kernel, ring reader, attachment): the names the agent exports in production.
struct CountersOfLive(PcapSource);

impl SegmentSource for CountersOfLive {
    fn info(&self) -> SourceInfo {
        self.0.info()
    }

    fn poll(
        &mut self,
        max: usize,
        sink: &mut dyn FnMut(&Segment<'_>),
    ) -> Result<Poll, SourceError> {
        self.0.poll(max, sink)
    }

    fn counters(&self) -> SourceCounters {
        SourceCounters::Live(LiveCounters {
            kernel: KernelStats::default(),
            reader: ReaderStats::default(),
            attachment: AttachmentStats::default(),
        })
    }
}

fn deploy_dir() -> PathBuf {
    zktraffic_tests::workspace_root().join("deploy")
}

fn temp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("zktraffic-deploy-{}-{name}.pcap", std::process::id()))
}

/// Serves `pcap` (with live capture's counters) and returns its `/metrics` in both formats.
fn scrape(pcap: &Path) -> Vec<String> {
    let argv = ["zktraffic", "serve", "--pcap", pcap.to_str().expect("utf-8"), "--http-addr"];
    let argv = argv.iter().copied().chain(["127.0.0.1:0"]);
    let Some(Command::Serve(a)) = Cli::try_parse_from(argv).expect("valid arguments").command
    else {
        panic!("not a serve command");
    };
    let mut config = a.config();
    config.handle_signals = false;
    let source = CountersOfLive(PcapSource::open(pcap).expect("capture opens"));
    let mut daemon = Daemon::start(config, Box::new(source)).expect("daemon starts");
    daemon.wait_capture();
    let addr = daemon.addr();
    let mut out = Vec::new();
    for accept in [None, Some("application/openmetrics-text;version=1.0.0")] {
        let (status, _, body) = serve_support::get_accept(addr, "/metrics", accept);
        assert_eq!(status, 200, "{body}");
        out.push(body);
    }
    daemon.shutdown();
    out
}

/// What the daemon exports: sample name → the type of its family.
fn exported() -> BTreeMap<String, String> {
    let client = temp("client");
    let w = Workload { connections: 4, requests_per_connection: 400, pipeline_depth: 8, mss: 1448 };
    write_workload(std::fs::File::create(&client).expect("create"), &w).expect("write");
    let quorum = temp("quorum");
    let q = QuorumWorkload { learners: 2, writes: 200, pings_every: 50, batch: 4, mss: 1448 };
    write_quorum(std::fs::File::create(&quorum).expect("create"), &q).expect("write");
    let mut texts = scrape(&client);
    texts.extend(scrape(&quorum));
    let _ = std::fs::remove_file(&client);
    let _ = std::fs::remove_file(&quorum);

    let mut types: BTreeMap<String, String> = BTreeMap::new();
    let mut samples = BTreeSet::new();
    for text in &texts {
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').expect("TYPE name kind");
                types.insert(name.to_owned(), kind.to_owned());
            } else if !line.starts_with('#') && !line.is_empty() {
                let end = line.find(['{', ' ']).unwrap_or(line.len());
                samples.insert(line[..end].to_owned());
            }
        }
    }
    samples
        .into_iter()
        .map(|s| {
            let family = ["", "_total", "_bucket", "_sum", "_count", "_created"]
                .iter()
                .find_map(|suffix| s.strip_suffix(suffix).filter(|f| types.contains_key(*f)));
            let kind = family.map_or("untyped", |f| types[f].as_str()).to_owned();
            (s, kind)
        })
        .collect()
}

/// Every file under `dir`, recursively.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let p = e.expect("entry").path();
        if p.is_dir() { out.extend(files(&p)) } else { out.push(p) }
    }
    out.sort();
    out
}

/// Each `zktraffic_…` (and `process_…`) metric name of `text`, with the function it is the
/// first argument of (`rate(NAME…` → "rate") and whether it is a prefix (`NAME*`).
fn names_in(text: &str) -> Vec<(String, Option<&str>, bool)> {
    let is_name = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    let mut out = Vec::new();
    for prefix in ["zktraffic_", "process_resident"] {
        let mut from = 0;
        while let Some(i) = text[from..].find(prefix).map(|i| i + from) {
            let end = text[i..].find(|c| !is_name(c)).map_or(text.len(), |n| i + n);
            from = end;
            // Part of a longer word (a path, a Rust identifier): not a metric.
            if text[..i].chars().next_back().is_some_and(|c| is_name(c) || c == '-' || c == '/') {
                continue;
            }
            let before = text[..i].trim_end_matches(' ');
            let func = ["rate(", "increase(", "irate(", "delta(", "deriv("]
                .into_iter()
                .find(|f| before.ends_with(f))
                .map(|f| f.trim_end_matches('('));
            let prefix_only = text[end..].starts_with('*');
            out.push((text[i..end].to_owned(), func, prefix_only));
        }
    }
    out
}

#[test]
fn every_metric_deploy_names_is_exported() {
    let exported = exported();
    // The quorum capture's series and live capture's counters are there: the scrape is
    // complete enough to judge by.
    for must in [
        "zktraffic_requests_total",
        "zktraffic_follower_ack_seconds_bucket",
        "zktraffic_capture_kernel_ring_full_drops_total",
        "zktraffic_capture_attachment_reattached_total",
        "zktraffic_http_connections_open",
    ] {
        assert!(exported.contains_key(must), "the test's scrape lacks {must}: {exported:?}");
    }
    let mut problems = Vec::new();
    let mut checked = BTreeSet::new();
    // The dashboards, the rules and their tests, and the manifests and docs that name metrics
    // (deploy/image is the container build's).
    let dirs = ["grafana", "prometheus", "kubernetes", "systemd"].map(|d| deploy_dir().join(d));
    let readme = deploy_dir().join("README.md");
    let all = dirs.iter().flat_map(|d| files(d)).chain(readme.is_file().then_some(readme));
    for file in all {
        let Ok(text) = std::fs::read_to_string(&file) else { continue };
        let shown = file.strip_prefix(zktraffic_tests::workspace_root()).unwrap_or(&file);
        for (name, func, prefix_only) in names_in(&text) {
            checked.insert(name.clone());
            let kind = if prefix_only {
                exported.keys().any(|e| e.starts_with(&name)).then_some("prefix")
            } else {
                // A histogram is named by its family too (`…_seconds`, samples `…_bucket`).
                exported
                    .get(&name)
                    .or_else(|| exported.get(&format!("{name}_bucket")))
                    .map(String::as_str)
            };
            match (kind, func) {
                (None, _) => problems.push(format!(
                    "{}: {name}{} is not exported by zktraffic serve's /metrics",
                    shown.display(),
                    if prefix_only { "*" } else { "" }
                )),
                (Some("gauge"), Some(f)) => problems.push(format!(
                    "{}: {f}({name}…): {name} is a gauge; {f}() wants a counter",
                    shown.display()
                )),
                _ => {}
            }
        }
    }
    assert!(checked.len() > 50, "too few metric names found in deploy/: {checked:?}");
    assert!(problems.is_empty(), "{} problems:\n{}", problems.len(), problems.join("\n"));
    eprintln!("deploy: {} metric names, all exported", checked.len());
}

/// The long flags of `zktraffic serve`.
fn serve_flags() -> BTreeSet<String> {
    let cli = Cli::command();
    let serve = cli.find_subcommand("serve").expect("a serve subcommand");
    serve.get_arguments().filter_map(|a| a.get_long().map(str::to_owned)).collect()
}

#[test]
fn every_flag_deploy_passes_exists() {
    let flags = serve_flags();
    let mut problems = Vec::new();
    // The DaemonSet's args (commented ones too: they are documentation to uncomment).
    let ds = deploy_dir().join("kubernetes/daemonset.yaml");
    let text = std::fs::read_to_string(&ds).expect("daemonset.yaml");
    let mut args = 0;
    for line in text.lines() {
        let line = line.trim_start().trim_start_matches("# ");
        let Some(arg) = line.strip_prefix("- --") else { continue };
        let flag = arg.split(['=', ' ']).next().unwrap_or_default();
        args += 1;
        if !flags.contains(flag) {
            problems.push(format!("deploy/kubernetes/daemonset.yaml: --{flag} is no serve flag"));
        }
    }
    assert!(args >= 6, "no args found in {}", ds.display());
    // The systemd config's keys (the long flag names; commented ones too).
    let toml = deploy_dir().join("systemd/zktraffic.toml");
    let text = std::fs::read_to_string(&toml).expect("zktraffic.toml");
    let mut keys = 0;
    for line in text.lines() {
        let line = line.strip_prefix("# ").unwrap_or(line);
        let Some((key, _)) = line.split_once(" = ") else { continue };
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_lowercase() || c == '-') {
            continue;
        }
        keys += 1;
        if !flags.contains(key) {
            problems.push(format!("deploy/systemd/zktraffic.toml: {key} is no serve flag"));
        }
    }
    assert!(keys >= 5, "no keys found in {}", toml.display());
    // The unit's ExecStart.
    let unit = std::fs::read_to_string(deploy_dir().join("systemd/zktraffic.service"))
        .expect("zktraffic.service");
    for word in unit.lines().filter(|l| l.starts_with("ExecStart=")).flat_map(str::split_whitespace)
    {
        if let Some(flag) = word.strip_prefix("--")
            && !flags.contains(flag)
        {
            problems.push(format!("deploy/systemd/zktraffic.service: --{flag} is no serve flag"));
        }
    }
    assert!(
        problems.is_empty(),
        "{}\n(serve's flags: {})",
        problems.join("\n"),
        flags.into_iter().collect::<Vec<_>>().join(" ")
    );
}

/// The DaemonSet container's args: (the active ones, those commented out).
fn daemonset_args(text: &str) -> (Vec<String>, Vec<String>) {
    let (mut active, mut commented) = (Vec::new(), Vec::new());
    let mut lines = text.lines().skip_while(|l| l.trim() != "args:").skip(1);
    for line in lines.by_ref() {
        let line = line.trim();
        if let Some(arg) = line.strip_prefix("- ") {
            active.push(arg.to_owned());
        } else if let Some(arg) = line.strip_prefix("# - ").filter(|a| a.starts_with("--")) {
            commented.push(arg.to_owned());
        } else if !line.starts_with('#') {
            break;
        }
    }
    (active, commented)
}

/// Parses `zktraffic ARGS` as the binary does (`--config` files included).
fn parses(what: &str, args: &[String]) -> Result<(), String> {
    let argv = std::iter::once("zktraffic".to_owned()).chain(args.iter().cloned());
    match zktraffic::parse_cli(argv) {
        Ok(cli) if matches!(cli.command, Some(Command::Serve(_))) => Ok(()),
        Ok(_) => Err(format!("{what}: `zktraffic {}` is no serve command", args.join(" "))),
        Err(e) => Err(format!("{what}: `zktraffic {}`: {e}", args.join(" "))),
    }
}

#[test]
fn the_daemonset_and_the_unit_start_serve_as_written() {
    let mut problems = Vec::new();
    // The DaemonSet: as it is, and with its commented-out args (TLS) added.
    let text = std::fs::read_to_string(deploy_dir().join("kubernetes/daemonset.yaml"))
        .expect("daemonset.yaml");
    let (active, commented) = daemonset_args(&text);
    assert_eq!(active.first().map(String::as_str), Some("serve"), "{active:?}");
    let all: Vec<String> = active.iter().chain(&commented).cloned().collect();
    for (what, args) in
        [("daemonset.yaml args", &active), ("daemonset.yaml args + commented", &all)]
    {
        problems.extend(parses(what, args).err());
    }
    // The unit's ExecStart, its config as it is and with its commented-out settings set.
    let unit = std::fs::read_to_string(deploy_dir().join("systemd/zktraffic.service"))
        .expect("zktraffic.service");
    let exec = unit.lines().find_map(|l| l.strip_prefix("ExecStart=")).expect("ExecStart=");
    let mut words: Vec<String> = exec.split_whitespace().skip(1).map(str::to_owned).collect();
    let config_at = words.iter().position(|w| w == "--config").expect("ExecStart has --config") + 1;
    let toml = std::fs::read_to_string(deploy_dir().join("systemd/zktraffic.toml"))
        .expect("zktraffic.toml");
    let uncommented: String = toml
        .lines()
        .map(|l| match l.strip_prefix("# ") {
            Some(setting)
                if setting.split_once(" = ").is_some_and(|(k, _)| {
                    !k.is_empty() && k.chars().all(|c| c.is_ascii_lowercase() || c == '-')
                }) =>
            {
                format!("{setting}\n")
            }
            _ => format!("{l}\n"),
        })
        .collect();
    assert_ne!(uncommented, toml, "the config has commented-out settings to try");
    for (what, contents) in [("zktraffic.toml", toml), ("zktraffic.toml uncommented", uncommented)]
    {
        let file = std::env::temp_dir().join(format!(
            "zktraffic-deploy-{}-{}.toml",
            std::process::id(),
            what.len()
        ));
        std::fs::write(&file, contents).expect("write config");
        words[config_at] = file.to_string_lossy().into_owned();
        problems.extend(parses(&format!("zktraffic.service ExecStart with {what}"), &words).err());
        let _ = std::fs::remove_file(&file);
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
