//! `cargo xtask setup`: installs what building and testing need, idempotently. Fast when
//! everything is present (a few version queries); prints one line per thing it checks.
//!
//! - the nightly toolchain's `rust-src` (aya-build compiles `core` for the BPF target);
//! - `bpf-linker`, built against Debian's LLVM 22 (the LLVM of our nightly rustc);
//! - the Debian packages the live tests use: zookeeper, tcpdump, iproute2, ethtool;
//! - `promtool` (from Debian's `prometheus` package, unpacked without installing the daemon)
//!   into `target/tools/`, for the test that lints `/metrics`;
//! - a Python venv in `target/tools/venv` with `prometheus-client` (PyPI), whose OpenMetrics
//!   parser, the reference one, checks the OpenMetrics form of `/metrics` (Debian's promtool
//!   reads only the 0.0.4 text form), and `kubernetes-validate` (PyPI, pinned: its bundled
//!   schemas check deploy/kubernetes in `cargo xtask deploy-check`);
//! - `cargo-fuzz`, for `cargo xtask fuzz`;
//! - for the static build and the image (`cargo xtask build --static`, `cargo xtask image`):
//!   rustup's musl target, and the Debian packages musl-tools (ring's C code for musl), file,
//!   buildah.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Result, bail};

use crate::util::{is_root, run_checked};

/// LLVM major version of the nightly rustc; bpf-linker must be built against the same one.
const LLVM_MAJOR: u32 = 22;
/// Packages bpf-linker's build needs.
const LLVM_PACKAGES: &[&str] = &["llvm-22-dev", "libpolly-22-dev", "zlib1g-dev", "libzstd-dev"];
/// Packages the live tests use.
const TEST_PACKAGES: &[&str] =
    &["zookeeper", "tcpdump", "iproute2", "ethtool", "python3", "python3-venv", "tmux"];
/// Packages the static build and the image need: musl-gcc, `file` (the static check), buildah.
const IMAGE_PACKAGES: &[&str] = &["musl-tools", "file", "buildah"];

/// Installs what is missing; fails with the commands to run when it cannot.
pub fn run() -> Result<()> {
    nightly_rust_src()?;
    let mut apt = Apt::default();
    bpf_linker(&mut apt)?;
    test_packages(&mut apt)?;
    promtool(&mut apt)?;
    openmetrics_parser()?;
    cargo_fuzz()?;
    static_build(&mut apt)?;
    Ok(())
}

/// The musl target (for the active toolchain, the one cargo builds with) and IMAGE_PACKAGES.
fn static_build(apt: &mut Apt) -> Result<()> {
    match crate::image::musl_target() {
        Err(e) => println!("setup: warning: {e}"),
        Ok(target) => match output("rustup", &["target", "list", "--installed"]) {
            Some(list) if list.lines().any(|l| l.trim() == target) => {
                println!("setup: rust target {target}: ok");
            }
            Some(_) => {
                println!("setup: rust target {target}: installing");
                run_checked(Command::new("rustup").args(["target", "add", target]))?;
            }
            None => println!(
                "setup: warning: no rustup; the static build needs the {target} target of your \
                 Rust toolchain"
            ),
        },
    }
    let missing: Vec<&str> = IMAGE_PACKAGES.iter().copied().filter(|p| !apt.installed(p)).collect();
    if missing.is_empty() {
        println!("setup: static build and image packages ({}): ok", IMAGE_PACKAGES.join(", "));
    } else if is_root() && apt.available() {
        println!("setup: installing {}", missing.join(", "));
        apt.install(&missing)?;
    } else {
        println!(
            "setup: warning: the static build and the image need {}; install them with: \
             apt-get install -y {}",
            missing.join(", "),
            missing.join(" ")
        );
    }
    Ok(())
}

/// Where `promtool` is unpacked; the tests look there (or at `$PROMTOOL`, or on PATH).
fn promtool_path() -> PathBuf {
    crate::util::workspace_root().join("target/tools/promtool")
}

/// Unpacks promtool from Debian's `prometheus` package (`apt-get download` + `dpkg -x`): the
/// daemon is neither installed nor started.
fn promtool(apt: &mut Apt) -> Result<()> {
    let dest = promtool_path();
    if dest.is_file() {
        println!("setup: promtool: ok ({})", dest.display());
        return Ok(());
    }
    if find_exe("apt-get").is_none() || find_exe("dpkg").is_none() {
        println!(
            "setup: warning: no apt-get/dpkg to fetch promtool; the /metrics lint test will skip"
        );
        return Ok(());
    }
    println!("setup: promtool: fetching Debian's prometheus package (unpacked, not installed)");
    let work = crate::util::workspace_root().join("target/tools/prometheus-deb");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work)?;
    let download = || {
        run_checked(
            Command::new("apt-get").args(["download", "-qq", "prometheus"]).current_dir(&work),
        )
    };
    if download().is_err() {
        // A fresh machine may have no package lists yet.
        apt.update()?;
        download()?;
    }
    let deb = std::fs::read_dir(&work)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "deb"))
        .ok_or_else(|| anyhow::anyhow!("apt-get download prometheus left no .deb"))?;
    run_checked(Command::new("dpkg").arg("-x").arg(&deb).arg(work.join("root")))?;
    std::fs::copy(work.join("root/usr/bin/promtool"), &dest)?;
    let _ = std::fs::remove_dir_all(&work);
    Ok(())
}

/// What `cargo xtask deploy-check` needs of the above: promtool and the venv.
pub fn deploy_tools() -> Result<()> {
    promtool(&mut Apt::default())?;
    openmetrics_parser()
}

/// The venv holding prometheus-client, for the test that parses `/metrics` as OpenMetrics, and
/// kubernetes-validate, for deploy-check.
fn openmetrics_parser() -> Result<()> {
    let venv = crate::util::workspace_root().join("target/tools/venv");
    let python = venv.join("bin/python");
    let has_parser = || {
        Command::new(&python)
            .args(["-c", "import prometheus_client.openmetrics.parser, kubernetes_validate"])
            .status()
            .is_ok_and(|s| s.success())
    };
    if has_parser() {
        println!(
            "setup: prometheus-client (OpenMetrics parser), kubernetes-validate: ok ({})",
            venv.display()
        );
        return Ok(());
    }
    let Some(python3) = find_exe("python3") else {
        println!("setup: warning: no python3; the OpenMetrics parse of /metrics will skip");
        return Ok(());
    };
    println!("setup: prometheus-client: creating {} (PyPI)", venv.display());
    run_checked(Command::new(python3).args(["-m", "venv"]).arg(&venv))?;
    run_checked(Command::new(venv.join("bin/pip")).args([
        "install",
        "-q",
        "--disable-pip-version-check",
        "prometheus-client>=0.20,<1",
        "kubernetes-validate==1.37.0",
    ]))?;
    if !has_parser() {
        bail!(
            "prometheus-client and kubernetes-validate installed in {} but do not import",
            venv.display()
        );
    }
    Ok(())
}

/// cargo-fuzz, which `cargo xtask fuzz` drives (from crates.io, about two minutes to build).
pub fn cargo_fuzz() -> Result<()> {
    if find_exe("cargo-fuzz").is_some()
        && Command::new("cargo")
            .args(["fuzz", "--version"])
            .output()
            .is_ok_and(|o| o.status.success())
    {
        println!("setup: cargo-fuzz: ok");
        return Ok(());
    }
    println!("setup: cargo-fuzz: missing; installing it (cargo install cargo-fuzz --locked)");
    run_checked(Command::new("cargo").args(["install", "cargo-fuzz", "--locked"]))?;
    if find_exe("cargo-fuzz").is_none() {
        bail!("cargo-fuzz was installed but is not on PATH: add ~/.cargo/bin to PATH");
    }
    Ok(())
}

fn nightly_rust_src() -> Result<()> {
    let installed =
        output("rustup", &["component", "list", "--toolchain", "nightly", "--installed"]);
    match installed {
        Some(list) if list.lines().any(|l| l.starts_with("rust-src")) => {
            println!("setup: nightly rust-src: ok");
            Ok(())
        }
        Some(_) => {
            println!("setup: nightly rust-src: installing");
            run_checked(Command::new("rustup").args([
                "component",
                "add",
                "rust-src",
                "--toolchain",
                "nightly",
            ]))
        }
        None => bail!(
            "the nightly toolchain is missing (the kernel programs need it); run:\n  \
             rustup toolchain install nightly --component rust-src"
        ),
    }
}

fn bpf_linker(apt: &mut Apt) -> Result<()> {
    if let Some(path) = find_exe("bpf-linker")
        && Command::new(&path).arg("--version").output().is_ok_and(|o| o.status.success())
    {
        println!("setup: bpf-linker: ok ({})", path.display());
        return Ok(());
    }
    let llvm_prefix = format!("/usr/lib/llvm-{LLVM_MAJOR}");
    let install = format!(
        "LLVM_SYS_{LLVM_MAJOR}1_PREFIX={llvm_prefix} PATH={llvm_prefix}/bin:$PATH \
         cargo install bpf-linker --no-default-features --features llvm-{LLVM_MAJOR}"
    );
    if !(is_root() && apt.available()) {
        bail!(
            "bpf-linker is missing (it links the kernel programs). As root on Debian/Ubuntu run:\n  \
             apt-get update && apt-get install -y {}\n  {install}\n\
             or build without live capture: cargo build --no-default-features",
            LLVM_PACKAGES.join(" ")
        );
    }
    println!(
        "setup: bpf-linker: missing; installing LLVM {LLVM_MAJOR} and building it (about a minute)"
    );
    apt.install(LLVM_PACKAGES)?;
    let path = std::env::var("PATH").unwrap_or_default();
    run_checked(
        Command::new("cargo")
            .args([
                "install",
                "bpf-linker",
                "--no-default-features",
                "--features",
                &format!("llvm-{LLVM_MAJOR}"),
            ])
            .env(format!("LLVM_SYS_{LLVM_MAJOR}1_PREFIX"), &llvm_prefix)
            .env("PATH", format!("{llvm_prefix}/bin:{path}")),
    )?;
    if find_exe("bpf-linker").is_none() {
        bail!("bpf-linker was installed but is not on PATH: add ~/.cargo/bin to PATH");
    }
    Ok(())
}

fn test_packages(apt: &mut Apt) -> Result<()> {
    let missing: Vec<&str> = TEST_PACKAGES.iter().copied().filter(|p| !apt.installed(p)).collect();
    if missing.is_empty() {
        println!("setup: test packages ({}): ok", TEST_PACKAGES.join(", "));
        return Ok(());
    }
    if is_root() && apt.available() {
        println!("setup: installing {}", missing.join(", "));
        apt.install(&missing)
    } else {
        // Only the live tests need them, and they skip loudly without root anyway.
        println!(
            "setup: warning: live tests need {}; install them with: apt-get install -y {}",
            missing.join(", "),
            missing.join(" ")
        );
        Ok(())
    }
}

/// apt-get, with `update` run at most once.
#[derive(Default)]
struct Apt {
    updated: bool,
}

impl Apt {
    fn available(&self) -> bool {
        find_exe("apt-get").is_some() && find_exe("dpkg-query").is_some()
    }

    fn installed(&self, package: &str) -> bool {
        output("dpkg-query", &["-W", "-f=${Status}", package])
            .is_some_and(|s| s.contains("install ok installed"))
    }

    /// `apt-get update`, once.
    fn update(&mut self) -> Result<()> {
        if !self.updated {
            run_checked(
                Command::new("apt-get")
                    .args(["update", "-qq"])
                    .args(["-o", "DPkg::Lock::Timeout=600"]),
            )?;
            self.updated = true;
        }
        Ok(())
    }

    fn install(&mut self, packages: &[&str]) -> Result<()> {
        let missing: Vec<&str> = packages.iter().copied().filter(|p| !self.installed(p)).collect();
        if missing.is_empty() {
            return Ok(());
        }
        self.update()?;
        run_checked(
            Command::new("apt-get")
                // Waits for another apt (unattended upgrades) instead of failing on its lock.
                .args(["install", "-y", "-qq", "--no-install-recommends"])
                .args(["-o", "DPkg::Lock::Timeout=600"])
                .args(&missing)
                .env("DEBIAN_FRONTEND", "noninteractive"),
        )
    }
}

/// Stdout of a successful command, None if it failed or could not start.
fn output(cmd: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(cmd).args(args).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Finds an executable on PATH, or in ~/.cargo/bin (where `cargo install` puts it).
pub(crate) fn find_exe(name: &str) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> =
        std::env::var_os("PATH").map(|p| std::env::split_paths(&p).collect()).unwrap_or_default();
    if let Some(home) = std::env::var_os("CARGO_HOME").or_else(|| {
        std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo").into_os_string())
    }) {
        dirs.push(PathBuf::from(home).join("bin"));
    }
    dirs.into_iter().map(|d| d.join(name)).find(|p| p.is_file())
}
