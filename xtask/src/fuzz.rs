//! `cargo xtask fuzz --seconds N [--target T]`: builds the fuzz crate (`fuzz/`, nightly,
//! cargo-fuzz, AddressSanitizer) and runs each target N seconds on its corpus. The corpus is
//! `fuzz/corpus/<target>` (not committed; grows locally), seeded at run time from the
//! conformance captures in `../shared/conformance` and from `fuzz/regressions/<target>` (committed
//! inputs that once crashed). libFuzzer runs every corpus input first, so each run also replays
//! the regressions. Prints per target the executions and any crash input; fails on a crash.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::util::{run_checked, workspace_root};

/// Every target in `fuzz/Cargo.toml`.
pub const TARGETS: &[&str] = &[
    "pcap_reader",
    "client_stream",
    "quorum_stream",
    "reassembly",
    "kernel_record",
    "differential",
];

/// Targets whose inputs are capture files: seeded from the conformance captures.
const CAPTURE_TARGETS: &[&str] = &["pcap_reader"];

/// Builds, seeds and runs `target` (all of them when `None`) for `seconds` each.
pub fn run(seconds: u64, target: Option<&str>) -> Result<()> {
    crate::setup::cargo_fuzz()?;
    let targets: Vec<&str> = match target {
        Some(t) if TARGETS.contains(&t) => vec![t],
        Some(t) => bail!("no fuzz target {t:?}; the targets are {}", TARGETS.join(", ")),
        None => TARGETS.to_vec(),
    };
    let fuzz_dir = workspace_root().join("fuzz");
    let started = Instant::now();
    let mut build = Command::new("cargo");
    build.args(["+nightly", "fuzz", "build"]).current_dir(&fuzz_dir);
    if let [t] = targets.as_slice() {
        build.arg(t);
    }
    run_checked(&mut build)?;
    println!("fuzz: built in {:.0?}", started.elapsed());

    let mut failed = Vec::new();
    for t in &targets {
        let corpus = fuzz_dir.join("corpus").join(t);
        std::fs::create_dir_all(&corpus)
            .with_context(|| format!("creating {}", corpus.display()))?;
        if CAPTURE_TARGETS.contains(t) {
            seed_from_conformance(&corpus)?;
        }
        let mut cmd = Command::new("cargo");
        cmd.args(["+nightly", "fuzz", "run", t]).arg(&corpus);
        let regressions = fuzz_dir.join("regressions").join(t);
        if regressions.is_dir() {
            cmd.arg(&regressions);
        }
        cmd.args(["--", &format!("-max_total_time={seconds}"), "-print_final_stats=1"])
            .current_dir(&fuzz_dir);
        let run_started = Instant::now();
        let out = cmd.output().with_context(|| format!("running fuzz target {t}"))?;
        let log = String::from_utf8_lossy(&out.stderr);
        let stat = |name: &str| {
            log.lines()
                .find_map(|l| l.strip_prefix(&format!("stat::{name}:")))
                .map(|v| v.trim().to_string())
                .unwrap_or_else(|| "?".into())
        };
        let execs = stat("number_of_executed_units");
        let rate = stat("average_exec_per_sec");
        let crash: Vec<&str> = log.lines().filter(|l| l.contains("Test unit written to")).collect();
        println!(
            "fuzz: {t}: {execs} execs ({rate}/s) in {:.0?}, corpus {}",
            run_started.elapsed(),
            std::fs::read_dir(&corpus).map(|d| d.count()).unwrap_or(0)
        );
        if !out.status.success() || !crash.is_empty() {
            let tail: Vec<&str> = log.lines().rev().take(60).collect();
            for l in tail.iter().rev() {
                eprintln!("  {l}");
            }
            for c in &crash {
                eprintln!("fuzz: {t}: CRASH: {c}");
            }
            failed.push(*t);
        }
    }
    println!("fuzz: done in {:.0?}", started.elapsed());
    if !failed.is_empty() {
        bail!(
            "fuzz targets failed: {} (reproduce with `cd fuzz && cargo +nightly fuzz run <target> <crash file>`)",
            failed.join(", ")
        );
    }
    Ok(())
}

/// Copies the conformance captures into `corpus` (skipping loudly when they are absent).
fn seed_from_conformance(corpus: &Path) -> Result<()> {
    let shared: PathBuf = workspace_root().join("../shared/conformance");
    let Ok(entries) = std::fs::read_dir(&shared) else {
        println!(
            "fuzz: WARNING: {} is absent: pcap_reader starts without the conformance seeds",
            shared.display()
        );
        return Ok(());
    };
    let mut n = 0;
    for e in entries.flatten() {
        let path = e.path();
        if path.extension().is_some_and(|x| x == "pcap" || x == "pcapng") {
            let name = format!("conformance-{}", e.file_name().to_string_lossy());
            std::fs::copy(&path, corpus.join(name))
                .with_context(|| format!("copying {}", path.display()))?;
            n += 1;
        }
    }
    println!("fuzz: seeded {n} conformance captures from {}", shared.display());
    Ok(())
}
