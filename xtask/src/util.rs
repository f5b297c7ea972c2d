//! Running cargo and the built binary.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, Result, bail};

/// The workspace root (xtask lives one level below it).
pub fn workspace_root() -> PathBuf {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    here.parent().map(PathBuf::from).unwrap_or(here)
}

/// Runs a command to completion, failing with its command line when it fails.
pub fn run_checked(cmd: &mut Command) -> Result<()> {
    let shown = format!("{cmd:?}");
    let status = cmd.status().with_context(|| format!("could not start {shown}"))?;
    if !status.success() {
        bail!("{shown} failed with {status}");
    }
    Ok(())
}

/// Runs `cargo ARGS` in the workspace root.
pub fn cargo(args: &[&str]) -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    run_checked(Command::new(cargo).args(args).current_dir(workspace_root()))
}

/// Builds the zktraffic binary.
pub fn cargo_build(release: bool) -> Result<()> {
    let mut args = vec!["build", "--package", "zktraffic", "--bin", "zktraffic"];
    if release {
        args.push("--release");
    }
    cargo(&args)
}

/// The built binary's path.
pub fn binary_path(release: bool) -> PathBuf {
    let profile = if release { "release" } else { "debug" };
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    target.join(profile).join("zktraffic")
}

/// True when running as root (no privilege wrapper needed).
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|euid| euid == "0"))
        })
        .unwrap_or(false)
}

/// Runs the built binary with `args`: directly as root, otherwise under `sudo -E` (live capture
/// needs CAP_BPF and CAP_NET_ADMIN).
pub fn run_binary(release: bool, args: &[String]) -> Result<()> {
    let bin = binary_path(release);
    let mut cmd = if is_root() {
        Command::new(&bin)
    } else {
        let mut c = Command::new("sudo");
        c.arg("-E").arg(&bin);
        c
    };
    cmd.args(args);
    let status = cmd.status().with_context(|| format!("could not start {}", bin.display()))?;
    std::process::exit(status.code().unwrap_or(1));
}
