//! Helpers shared by the end-to-end tests.

use std::path::{Path, PathBuf};

use clap::Parser;
use serde_json::Value;
use zktraffic::DumpOutcome;
use zktraffic::TimeFormatter;
use zktraffic::{Cli, Command};

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    here.parent().map(Path::to_path_buf).unwrap_or(here)
}

/// The conformance captures (`../shared/conformance` beside the checkout, or
/// `$ZKTRAFFIC_CONFORMANCE`), or `None` with a loud message when absent.
pub fn conformance_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("ZKTRAFFIC_CONFORMANCE")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("../shared/conformance"));
    if dir.join("EXPECTED.md").is_file() {
        Some(dir)
    } else {
        eprintln!(
            "\n!!! SKIPPED: conformance captures not found at {} (set ZKTRAFFIC_CONFORMANCE) !!!\n",
            dir.display()
        );
        None
    }
}

/// `promtool` (Prometheus' linter): `$PROMTOOL`, what `cargo xtask setup` unpacked into
/// `target/tools/`, or one on PATH; `None` (skip, loudly) when there is none.
/// The Python of the venv `cargo xtask setup` makes with prometheus-client (the reference
/// OpenMetrics parser), or `None` after a loud skip banner.
pub fn openmetrics_python() -> Option<PathBuf> {
    let python = workspace_root().join("target/tools/venv/bin/python");
    if python.is_file() {
        return Some(python);
    }
    eprintln!("\n!!! SKIPPED: no prometheus-client venv (run `cargo xtask setup`) !!!\n");
    None
}

/// `promtool` (for `promtool check metrics`), or `None` after a loud skip banner.
pub fn promtool() -> Option<PathBuf> {
    let found = std::env::var_os("PROMTOOL")
        .map(PathBuf::from)
        .into_iter()
        .chain([workspace_root().join("target/tools/promtool")])
        .chain(
            std::env::var_os("PATH")
                .map(|p| std::env::split_paths(&p).map(|d| d.join("promtool")).collect::<Vec<_>>())
                .unwrap_or_default(),
        )
        .find(|p| p.is_file());
    if found.is_none() {
        eprintln!("\n!!! SKIPPED: promtool not found (run `cargo xtask setup`) !!!\n");
    }
    found
}

/// The path of one conformance capture, or `None` (skip) when the folder is absent.
pub fn conformance(name: &str) -> Option<PathBuf> {
    conformance_dir().map(|d| d.join(name))
}

/// Runs `zktraffic dump --pcap FILE ARGS…` in-process, returning its output and outcome.
pub fn dump(pcap: &Path, args: &[&str]) -> (String, DumpOutcome) {
    let mut argv = vec!["zktraffic", "dump", "--pcap", pcap.to_str().expect("utf-8 path")];
    argv.extend_from_slice(args);
    let Command::Dump(a) = Cli::try_parse_from(argv).expect("valid arguments").into_command()
    else {
        panic!("not a dump command");
    };
    let mut out = Vec::new();
    let outcome = zktraffic::dump_file(&a, &mut out, TimeFormatter::utc()).expect("dump succeeds");
    (String::from_utf8(out).expect("utf-8 output"), outcome)
}

/// Runs a JSON dump (pings included unless `args` filter them) and parses every line.
pub fn dump_json(pcap: &Path, args: &[&str]) -> Vec<Value> {
    let mut all = vec!["--format", "json"];
    all.extend_from_slice(args);
    let (out, _) = dump(pcap, &all);
    out.lines().map(|l| serde_json::from_str(l).expect("each line is JSON")).collect()
}

/// The messages whose `field` equals `value`.
pub fn with<'a>(msgs: &'a [Value], field: &str, value: &str) -> Vec<&'a Value> {
    msgs.iter().filter(|m| m[field] == value).collect()
}

/// How many messages have `type` == `kind`.
pub fn count(msgs: &[Value], kind: &str) -> usize {
    with(msgs, "type", kind).len()
}

pub mod agent;
pub mod decoded;
pub mod load;
pub mod netns;
pub mod tmux;
pub mod workload;
pub mod zookeeper;
