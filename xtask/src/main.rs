//! Project tasks, run as `cargo xtask <task>`: the README's two commands (`run`, `test`) start
//! here, and both bootstrap what a fresh machine lacks before doing their job.

mod bench;
mod deploy;
mod fuzz;
mod image;
mod setup;
mod shape;
mod util;

use anyhow::Result;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "zktraffic project tasks")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Install what building and testing need (idempotent).
    Setup,
    /// Build the zktraffic binary.
    Build {
        /// Build with optimisations.
        #[arg(long)]
        release: bool,
        /// Build it statically linked for musl (release, without debug info), as the container
        /// image holds it: target/<arch>-unknown-linux-musl/release/zktraffic.
        #[arg(long = "static")]
        static_build: bool,
    },
    /// Build the container image (FROM scratch, the static binary at /zktraffic) with buildah
    /// or podman from deploy/image/Containerfile; tag it and write it as an OCI archive.
    Image {
        /// Tag in the builder's local storage [default: localhost/zktraffic:<version>].
        #[arg(long)]
        tag: Option<String>,
        /// The OCI archive [default: target/image/zktraffic-<version>.oci.tar].
        #[arg(long)]
        output: Option<std::path::PathBuf>,
        /// Run the validation `cargo xtask test` runs instead (default tag and output): ldd,
        /// a decode with the static binary, the image read back from its archive.
        #[arg(long, conflicts_with_all = ["tag", "output"])]
        check: bool,
    },
    /// Build, then run zktraffic with ARGS (as root directly, otherwise under `sudo -E`).
    Run {
        /// Build with optimisations (default: on, the daemon is meant to be fast).
        #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
        release: bool,
        /// Arguments passed to zktraffic.
        #[arg(last = true)]
        args: Vec<String>,
    },
    /// Check formatting and lints, then run every test.
    Test {
        /// Skip `cargo fmt --check` and `cargo clippy`.
        #[arg(long)]
        no_lint: bool,
        /// Extra arguments for `cargo test` (after `--`).
        #[arg(last = true)]
        args: Vec<String>,
    },
    /// Run every fuzz target (or one) for a bounded time on its corpus; fails on a crash.
    Fuzz {
        /// Seconds per target.
        #[arg(long, default_value_t = 20)]
        seconds: u64,
        /// Only this target.
        #[arg(long)]
        target: Option<String>,
    },
    /// Write the man pages (`zktraffic.1`, `zktraffic-dump.1`, `zktraffic-serve.1`,
    /// `zktraffic-top.1`) to target/man.
    Man,
    /// Write shell completions (bash, zsh, fish) to target/completions.
    Completions,
    /// Check the library's shape: no import cycle between its modules, no file over 900 lines.
    Shape,
    /// Validate deploy/ offline: Kubernetes manifests, Prometheus rules and their tests, the
    /// Grafana dashboard's queries, the systemd unit, and (unless --files-only) that every
    /// metric and flag they name exists.
    DeployCheck {
        /// Only the files (not the `cargo test -p zktraffic-tests --test deploy` run).
        #[arg(long)]
        files_only: bool,
    },
    /// Run a benchmark: `decode`, `serve`, `live`.
    Bench {
        #[command(subcommand)]
        which: bench::Bench,
    },
}

fn main() -> Result<()> {
    match Cli::parse().task {
        Task::Setup => setup::run(),
        Task::Build { release, static_build } => {
            setup::run()?;
            if static_build {
                return image::build_static().map(drop);
            }
            util::cargo_build(release)
        }
        Task::Image { tag, output, check } => {
            setup::run()?;
            if check { image::check() } else { image::image(tag, output) }
        }
        Task::Run { release, args } => {
            setup::run()?;
            util::cargo_build(release)?;
            util::run_binary(release, &args)
        }
        Task::Test { no_lint, args } => {
            setup::run()?;
            if !no_lint {
                shape::run(&library_src())?;
                util::cargo(&["fmt", "--all", "--", "--check"])?;
                util::cargo(&["clippy", "--all-targets", "--", "-D", "warnings"])?;
                // The library without live capture (no kernel object) must stay clean too.
                util::cargo(&[
                    "clippy",
                    "-p",
                    "zktraffic",
                    "--no-default-features",
                    "--all-targets",
                    "--",
                    "-D",
                    "warnings",
                ])?;
                // The library's documentation: no broken or private links.
                util::run_checked(
                    std::process::Command::new(std::env::var("CARGO").unwrap_or("cargo".into()))
                        .args(["doc", "-p", "zktraffic", "--no-deps"])
                        .env("RUSTDOCFLAGS", "-D warnings")
                        .current_dir(util::workspace_root()),
                )?;
            }
            // deploy/ offline (its metric-name test runs with the others below), the static
            // build and the container image.
            deploy::check_files()?;
            image::check()?;
            let mut test = vec!["test", "--release"];
            if !args.is_empty() {
                test.push("--");
                test.extend(args.iter().map(String::as_str));
            }
            util::cargo(&test)
        }
        Task::Shape => shape::run(&library_src()),
        Task::Man => generate(
            "man",
            &[
                ("man", "zktraffic.1"),
                ("man-dump", "zktraffic-dump.1"),
                ("man-serve", "zktraffic-serve.1"),
                ("man-top", "zktraffic-top.1"),
            ],
        ),
        Task::Completions => generate(
            "completions",
            &[
                ("complete-bash", "zktraffic.bash"),
                ("complete-zsh", "_zktraffic"),
                ("complete-fish", "zktraffic.fish"),
            ],
        ),
        Task::Fuzz { seconds, target } => fuzz::run(seconds, target.as_deref()),
        Task::DeployCheck { files_only } => {
            if files_only {
                deploy::check_files()
            } else {
                deploy::check()
            }
        }
        Task::Bench { which } => {
            setup::run()?;
            bench::run(which)
        }
    }
}

/// The library's sources, whose shape `cargo xtask shape` checks.
fn library_src() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../zktraffic/src")
}

/// Builds the binary and writes each `zktraffic --generate KIND` to `target/DIR/FILE`.
fn generate(dir: &str, pages: &[(&str, &str)]) -> Result<()> {
    setup::run()?;
    util::cargo_build(true)?;
    let out = util::workspace_root().join("target").join(dir);
    std::fs::create_dir_all(&out)?;
    for (kind, file) in pages {
        let output = std::process::Command::new(util::binary_path(true))
            .args(["--generate", kind])
            .output()?;
        anyhow::ensure!(
            output.status.success(),
            "zktraffic --generate {kind} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        std::fs::write(out.join(file), &output.stdout)?;
        println!("{}", out.join(file).display());
    }
    Ok(())
}
