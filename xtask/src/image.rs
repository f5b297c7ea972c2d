//! The container image: zktraffic built statically for musl (`cargo xtask build --static`), in
//! an image `FROM scratch` built from `deploy/image/Containerfile` (`cargo xtask image`, with
//! buildah, or podman), and [`check`], which `cargo xtask test` runs: the binary is static and
//! starts, and the image holds it alone.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail, ensure};

use crate::setup::find_exe;
use crate::util::{is_root, run_checked, workspace_root};

/// The image recipe, relative to the workspace root (which is also the build context).
const CONTAINERFILE: &str = "deploy/image/Containerfile";
/// The workspace version (xtask's own version is the workspace's).
const VERSION: &str = env!("CARGO_PKG_VERSION");
/// What `cargo xtask image` says when no image builder is installed.
const INSTALL_BUILDER: &str = "no image builder: install buildah (Debian/Ubuntu: `apt-get install \
     buildah`; Fedora: `dnf install buildah`), or podman, then run `cargo xtask image` again";

/// The musl target of this machine's architecture.
pub fn musl_target() -> Result<&'static str> {
    match std::env::consts::ARCH {
        "x86_64" => Ok("x86_64-unknown-linux-musl"),
        "aarch64" => Ok("aarch64-unknown-linux-musl"),
        other => bail!("no static (musl) build for {other}: only x86_64 and aarch64"),
    }
}

/// The static binary: `target/<musl target>/release/zktraffic` in the workspace.
fn static_binary(target: &str) -> PathBuf {
    workspace_root().join("target").join(target).join("release/zktraffic")
}

/// `cargo xtask image`'s default tag (the one `deploy/kubernetes/kustomization.yaml` names).
fn default_tag() -> String {
    format!("localhost/zktraffic:{VERSION}")
}

/// `cargo xtask image`'s default output.
fn default_output() -> PathBuf {
    workspace_root().join(format!("target/image/zktraffic-{VERSION}.oci.tar"))
}

/// `cargo xtask build --static`: zktraffic (release, default features, so with the kernel
/// programs) for the musl target, statically linked, without DWARF (the release profile's line
/// tables would make it about 50 MB instead of 11; symbols stay, so backtraces still name
/// functions).
/// Checks that `file` calls it static and that it starts; prints and returns its path.
pub fn build_static() -> Result<PathBuf> {
    let target = musl_target()?;
    // ring (rustls' crypto) compiles C and assembly for the target: with musl-gcc.
    if find_exe("musl-gcc").is_none() {
        bail!(
            "musl-gcc is missing (it compiles ring's C code for {target}): run `cargo xtask \
             setup` as root, or `apt-get install musl-tools`"
        );
    }
    let root = workspace_root();
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.args(["build", "--release", "--package", "zktraffic", "--bin", "zktraffic"])
        .args(["--target", target])
        // The workspace's target/ even under CARGO_TARGET_DIR: the Containerfile copies from it.
        .arg("--target-dir")
        .arg(root.join("target"))
        // On the command line, not in the environment: aya-build's inner cargo (the kernel
        // object, which needs its debug info for BTF) does not see these.
        .args(["--config", "profile.release.debug=0"])
        .args(["--config", "profile.release.strip=\"debuginfo\""])
        .current_dir(&root);
    // The cc crate's name for the musl C compiler (it would guess `aarch64-linux-musl-gcc` on
    // aarch64, which Debian's musl-tools does not install).
    let cc = format!("CC_{}", target.replace('-', "_"));
    if std::env::var_os(&cc).is_none() {
        cmd.env(&cc, "musl-gcc");
    }
    run_checked(&mut cmd)?;
    let bin = static_binary(target);
    let kind = file_type(&bin)?;
    ensure!(
        kind.contains("statically linked") || kind.contains("static-pie linked"),
        "{} is not statically linked; file says: {kind}",
        bin.display()
    );
    let version = version_of(&bin)?;
    eprintln!("static build: {version}, {}, {kind}", size(&bin)?);
    println!("{}", bin.display());
    Ok(bin)
}

/// `file -b PATH`.
fn file_type(path: &Path) -> Result<String> {
    let out = Command::new("file").arg("-b").arg(path).output().context(
        "could not run `file` (it checks that the binary is static): apt-get install file",
    )?;
    ensure!(out.status.success(), "file {} failed", path.display());
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// `BIN --version`, which must succeed and name zktraffic.
fn version_of(bin: &Path) -> Result<String> {
    let out = Command::new(bin)
        .arg("--version")
        .output()
        .with_context(|| format!("could not start {}", bin.display()))?;
    let text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    ensure!(
        out.status.success() && text.starts_with("zktraffic "),
        "{} --version failed ({}): {text}{}",
        bin.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(text)
}

/// The trimmed stdout of a command that must succeed.
fn output_of(cmd: &mut Command) -> Result<String> {
    let out = cmd.output().with_context(|| format!("could not start {cmd:?}"))?;
    ensure!(
        out.status.success(),
        "{cmd:?} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// A file's size in MB, for the report lines.
fn size(path: &Path) -> Result<String> {
    let bytes = fs::metadata(path).with_context(|| format!("{}", path.display()))?.len();
    Ok(format!("{:.1} MB", bytes as f64 / 1e6))
}

/// The tool that builds the image.
enum Builder {
    /// buildah, daemonless, with this storage driver (`$STORAGE_DRIVER`, else vfs: works as root
    /// anywhere, also inside a container where overlay on overlay does not).
    Buildah(String),
    /// podman, with its own storage configuration.
    Podman,
}

impl Builder {
    /// buildah if installed, else podman, else None.
    fn find() -> Option<Builder> {
        if find_exe("buildah").is_some() {
            let driver = std::env::var("STORAGE_DRIVER").unwrap_or_else(|_| "vfs".into());
            Some(Builder::Buildah(driver))
        } else if find_exe("podman").is_some() {
            Some(Builder::Podman)
        } else {
            None
        }
    }

    fn command(&self) -> Command {
        match self {
            Builder::Buildah(driver) => {
                let mut c = Command::new("buildah");
                c.args(["--storage-driver", driver]);
                c
            }
            Builder::Podman => Command::new("podman"),
        }
    }

    /// How to list the images it left in local storage.
    fn images_command(&self) -> String {
        match self {
            Builder::Buildah(driver) => format!("buildah --storage-driver {driver} images"),
            Builder::Podman => "podman images".into(),
        }
    }

    /// The id of the image tagged `tag` in local storage.
    fn image_id(&self, tag: &str) -> Option<String> {
        let mut cmd = self.command();
        match self {
            Builder::Buildah(_) => {
                cmd.args(["inspect", "--type", "image", "--format", "{{.FromImageID}}"])
            }
            Builder::Podman => cmd.args(["image", "inspect", "--format", "{{.Id}}"]),
        };
        let out = cmd.arg(tag).output().ok()?;
        let id = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        (out.status.success() && !id.is_empty()).then_some(id)
    }

    /// Builds `deploy/image/Containerfile` around the static binary of `target`, tags the image
    /// `tag` in local storage and writes it as an OCI archive to `output`.
    fn build(&self, target: &str, tag: &str, output: &Path) -> Result<()> {
        // oci-archive:PATH:NAME: a colon in PATH would cut it short.
        ensure!(
            !output.to_string_lossy().contains(':'),
            "the output path may not contain ':': {}",
            output.display()
        );
        if let Some(dir) = output.parent() {
            fs::create_dir_all(dir)?;
        }
        match fs::remove_file(output) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(e).with_context(|| format!("removing {}", output.display()));
            }
            _ => {}
        }
        let root = workspace_root();
        let previous = self.image_id(tag);
        let mut build = self.command();
        match self {
            // Only the Containerfile's labels (no io.buildah.version).
            Builder::Buildah(_) => build.args(["bud", "--identity-label=false"]),
            Builder::Podman => build.arg("build"),
        };
        // No RUN step, so no container runtime is needed; buildah removes its working
        // container itself, also when a step fails.
        build
            .args(["--format", "oci", "--file", CONTAINERFILE])
            .args(["--build-arg", &format!("VERSION={VERSION}")])
            .args(["--build-arg", &format!("BINARY=target/{target}/release/zktraffic")])
            .args(["--tag", tag])
            .arg(&root)
            .current_dir(&root);
        run_checked(&mut build)?;
        let mut export = self.command();
        match self {
            Builder::Buildah(_) => export
                .args(["push", "--quiet", tag])
                .arg(format!("oci-archive:{}:{tag}", output.display())),
            Builder::Podman => export
                .args(["save", "--quiet", "--format", "oci-archive", "--output"])
                .arg(output)
                .arg(tag),
        };
        run_checked(&mut export)?;
        // The image this tag named before, now untagged, would only take space (vfs keeps a
        // full copy of every layer). Kept if something else still uses it.
        if let Some(old) = previous
            && self.image_id(tag).is_some_and(|new| new != old)
        {
            let _ = self.command().args(["rmi", &old]).output();
        }
        Ok(())
    }

    /// Starts the image's /zktraffic: `--version`, and `dump --summary` on `pcap` (mounted at
    /// /sample.pcap), whose first line must be `expected`. buildah runs it in a working
    /// container with chroot isolation (no OCI runtime needed) and removes that container
    /// whatever happens; podman runs it with its runtime.
    fn run_in_image(&self, tag: &str, pcap: &Path, expected: &str) -> Result<()> {
        let volume = format!("{}:/sample.pcap:ro", pcap.display());
        let dump = ["dump", "--pcap", "/sample.pcap", "--summary"];
        let (version, first) = match self {
            Builder::Buildah(_) => {
                let name = "zktraffic-image-check";
                // One left behind by a run that was killed.
                let _ = self.command().args(["rm", name]).output();
                output_of(self.command().args(["from", "--quiet", "--name", name, tag]))?;
                let run = |args: &[&str]| {
                    let mut cmd = self.command();
                    cmd.args(["run", "--isolation", "chroot", "--volume", &volume, name])
                        .arg("--")
                        .arg("/zktraffic")
                        .args(args);
                    cmd
                };
                let result = (|| {
                    Ok::<_, anyhow::Error>((
                        output_of(&mut run(&["--version"]))?,
                        summary_line(&mut run(&dump), expected)?,
                    ))
                })();
                let removed = self.command().args(["rm", name]).output();
                let result = result?;
                ensure!(
                    removed.is_ok_and(|o| o.status.success()),
                    "could not remove the working container {name}"
                );
                result
            }
            Builder::Podman => {
                let run = |args: &[&str]| {
                    let mut cmd = self.command();
                    cmd.args(["run", "--rm", "--network", "none", "--volume", &volume, tag])
                        .args(args);
                    cmd
                };
                (output_of(&mut run(&["--version"]))?, summary_line(&mut run(&dump), expected)?)
            }
        };
        ensure!(version.starts_with("zktraffic "), "/zktraffic --version in the image: {version}");
        println!("image check: in the image: {version}; {first}");
        Ok(())
    }
}

/// `cargo xtask image`: the static build, then the image, tagged `tag` in the builder's local
/// storage and written as an OCI archive to `output`.
pub fn image(tag: Option<String>, output: Option<PathBuf>) -> Result<()> {
    let Some(builder) = Builder::find() else { bail!(INSTALL_BUILDER) };
    let target = musl_target()?;
    build_static()?;
    let tag = tag.unwrap_or_else(default_tag);
    let output = match output {
        Some(p) if p.is_relative() => std::env::current_dir()?.join(p),
        Some(p) => p,
        None => default_output(),
    };
    builder.build(target, &tag, &output)?;
    eprintln!(
        "image: {tag} in local storage (`{}`), OCI archive {}",
        builder.images_command(),
        size(&output)?
    );
    println!("{}", output.display());
    Ok(())
}

/// The validation `cargo xtask test` runs: the static build (which checks `file` and
/// `--version`), `ldd`, a decode of a small capture with it (`dump --summary` and the daemon's
/// `serve --pcap --exit-when-done`), then the image: built with the default tag and output and
/// read back from the OCI archive (entrypoint, command, user, port, labels; one layer holding
/// only `zktraffic`, byte for byte the static binary), and started (`--version` and the same
/// `dump --summary` inside it).
pub fn check() -> Result<()> {
    let started = Instant::now();
    let target = musl_target()?;
    let builder = Builder::find();
    if !is_root() && (find_exe("musl-gcc").is_none() || builder.is_none()) {
        // `cargo xtask setup` installs both as root; elsewhere the check is skipped, loudly.
        println!(
            "\n!!! SKIPPED: the static build and image check need musl-gcc and buildah: \
             apt-get install musl-tools buildah (or run `cargo xtask setup` as root) !!!\n"
        );
        return Ok(());
    }
    containerfile_version()?;
    let bin = build_static()?;
    let built = started.elapsed();
    println!("image check: ldd: {}", ldd_static(&bin)?);
    let (pcap, expected) = sample_capture()?;
    decode_sample(&bin, &pcap, &expected)?;
    let Some(builder) = builder else { bail!(INSTALL_BUILDER) };
    let image_started = Instant::now();
    let (tag, output) = (default_tag(), default_output());
    builder.build(target, &tag, &output)?;
    ensure!(builder.image_id(&tag).is_some(), "{tag} is not in local storage after the build");
    let layer = inspect_archive(&output, &bin)?;
    builder.run_in_image(&tag, &pcap, &expected)?;
    println!(
        "image check: ok: {tag}, {} ({layer} layer); static build {:.0} s, image {:.1} s, \
         total {:.0} s",
        output.display(),
        built.as_secs_f64(),
        image_started.elapsed().as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The Containerfile's default `ARG VERSION=` must be the workspace version, so that an image
/// built with plain `podman build` is labelled right.
fn containerfile_version() -> Result<()> {
    let path = workspace_root().join(CONTAINERFILE);
    let text = fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let found = text.lines().find_map(|l| l.trim().strip_prefix("ARG VERSION="));
    ensure!(
        found == Some(VERSION),
        "{}: `ARG VERSION=` is {found:?}, the workspace version is {VERSION}: update it",
        path.display()
    );
    Ok(())
}

/// `ldd BIN` must find no shared library. On a static binary it prints "not a dynamic
/// executable" (and exits 1) or, for a static PIE, "statically linked" (exit 0).
fn ldd_static(bin: &Path) -> Result<String> {
    let Ok(out) = Command::new("ldd").arg(bin).output() else {
        return Ok("no ldd here, skipped".into());
    };
    let text =
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let text = text.trim();
    ensure!(
        text.contains("not a dynamic executable") || text.contains("statically linked"),
        "ldd {} lists shared libraries:\n{text}",
        bin.display()
    );
    Ok(text.to_owned())
}

/// Decodes the sample capture with the static binary: `dump --summary` (its first line must
/// count the capture's messages) and `serve --pcap --exit-when-done` (the daemon's start-up,
/// replay and shutdown).
fn decode_sample(bin: &Path, pcap: &Path, expected: &str) -> Result<()> {
    let pcap_arg = pcap.to_str().context("non-UTF-8 capture path")?;
    let mut dump = Command::new(bin);
    dump.args(["dump", "--pcap", pcap_arg, "--summary"]);
    let first = summary_line(&mut dump, expected)?;
    let mut serve = Command::new(bin);
    serve.args(["serve", "--pcap", pcap_arg, "--exit-when-done", "--http-addr", "127.0.0.1:0"]);
    let out = serve.output().with_context(|| format!("could not start {serve:?}"))?;
    let summary = String::from_utf8_lossy(&out.stdout);
    ensure!(
        out.status.success() && summary.contains("\"messages\":"),
        "{serve:?} ({}): {summary}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    println!("image check: {} decoded: {first}; serve: {}", pcap.display(), summary.trim());
    Ok(())
}

/// Runs a `zktraffic dump --summary` command; its first line must be `expected`.
fn summary_line(cmd: &mut Command, expected: &str) -> Result<String> {
    let out = cmd.output().with_context(|| format!("could not start {cmd:?}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let first = text.lines().next().unwrap_or_default().to_owned();
    ensure!(
        out.status.success() && first == expected,
        "{cmd:?} ({}): expected {expected:?} first, got {first:?}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(first)
}

/// A small capture and the first line `dump --summary` must print for it.
fn sample_capture() -> Result<(PathBuf, String)> {
    let root = workspace_root();
    let conformance = std::env::var_os("ZKTRAFFIC_CONFORMANCE")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("../shared/conformance"))
        .join("dump.pcap");
    if conformance.is_file() {
        // As ../shared/conformance/EXPECTED.md counts it, pings left out.
        let expected = "messages: 10 requests, 10 replies, 1 events, 0 four-letter words";
        return Ok((fs::canonicalize(&conformance)?, expected.into()));
    }
    let synth = root.join("target/release/examples/synth_capture");
    if !synth.is_file() {
        run_checked(
            Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
                .args(["build", "--release", "-p", "zktraffic", "--example", "synth_capture"])
                .arg("--target-dir")
                .arg(root.join("target"))
                .current_dir(&root),
        )?;
    }
    let dir = root.join("target/image");
    fs::create_dir_all(&dir)?;
    let pcap = dir.join("check-sample.pcap");
    // 4 connections × 50 requests, pipelined 4 deep, 1460-byte segments.
    let out = Command::new(&synth)
        .arg(&pcap)
        .args(["4", "50", "4", "1460"])
        .output()
        .with_context(|| format!("could not start {}", synth.display()))?;
    let counts = String::from_utf8_lossy(&out.stdout);
    ensure!(out.status.success(), "{} failed: {counts}", synth.display());
    let count = |key: &str| -> Result<String> {
        json::value(&counts, key)
            .map(str::to_owned)
            .with_context(|| format!("no {key} in synth_capture's output: {counts}"))
    };
    let expected = format!(
        "messages: {} requests, {} replies, {} events, 0 four-letter words",
        count("requests")?,
        count("replies")?,
        count("events")?
    );
    Ok((pcap, expected))
}

/// Reads the OCI archive back: one manifest; its config runs `/zktraffic` with the
/// Containerfile's command, user, port and labels; one layer, holding only `zktraffic`,
/// executable and equal to `bin`. Returns the layer's size.
fn inspect_archive(archive: &Path, bin: &Path) -> Result<String> {
    let dir = workspace_root().join("target/image/check");
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir)?;
    run_checked(Command::new("tar").arg("-xf").arg(archive).arg("-C").arg(&dir))?;
    let blob = |digest: &str| -> Result<PathBuf> {
        let (algorithm, hex) = digest.split_once(':').context("digest without algorithm")?;
        Ok(dir.join("blobs").join(algorithm).join(hex))
    };
    let read = |path: &Path| {
        fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
    };
    let index = read(&dir.join("index.json"))?;
    let manifests = json::strings(json::value(&index, "manifests").unwrap_or_default(), "digest");
    let [manifest] = manifests.as_slice() else {
        bail!("index.json lists {} manifests, expected 1: {index}", manifests.len());
    };
    let manifest = read(&blob(manifest)?)?;
    let config_digest = json::value(&manifest, "config")
        .and_then(|c| json::string(c, "digest"))
        .with_context(|| format!("no config in the manifest: {manifest}"))?;
    let layers = json::strings(json::value(&manifest, "layers").unwrap_or_default(), "digest");
    let [layer] = layers.as_slice() else {
        bail!("the image has {} layers, expected 1: {manifest}", layers.len());
    };
    let config = read(&blob(&config_digest)?)?;
    let runtime = json::value(&config, "config").context("no config in the image config")?;
    let compact = |key: &str| -> String {
        json::value(runtime, key)
            .unwrap_or("(none)")
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect()
    };
    let expect = [
        ("Entrypoint", r#"["/zktraffic"]"#),
        ("Cmd", r#"["serve","--iface","eth0","--http-addr",":7070","--user","65534:65534"]"#),
        ("User", r#""0:0""#),
        ("ExposedPorts", r#"{"7070/tcp":{}}"#),
    ];
    for (key, want) in expect {
        let got = compact(key);
        ensure!(got == want, "the image's {key} is {got}, expected {want}");
    }
    let labels = json::value(runtime, "Labels").unwrap_or_default();
    let label = |name: &str| json::string(labels, &format!("org.opencontainers.image.{name}"));
    ensure!(
        label("version").as_deref() == Some(VERSION)
            && label("title").as_deref() == Some("zktraffic"),
        "the image's labels lack title zktraffic or version {VERSION}: {labels}"
    );
    ensure!(
        json::string(&config, "os").as_deref() == Some("linux"),
        "the image's os is not linux: {config}"
    );

    let layer_path = blob(layer)?;
    let listing = Command::new("tar").arg("-tf").arg(&layer_path).output()?;
    ensure!(listing.status.success(), "tar -tf {} failed", layer_path.display());
    let entries: Vec<String> = String::from_utf8_lossy(&listing.stdout)
        .lines()
        .map(|l| l.trim_start_matches("./").trim_end_matches('/').to_owned())
        .filter(|l| !l.is_empty() && l != ".")
        .collect();
    ensure!(entries == ["zktraffic"], "the layer holds {entries:?}, expected only zktraffic");
    let rootfs = dir.join("rootfs");
    fs::create_dir_all(&rootfs)?;
    run_checked(Command::new("tar").arg("-xf").arg(&layer_path).arg("-C").arg(&rootfs))?;
    let in_image = rootfs.join("zktraffic");
    ensure!(
        fs::metadata(&in_image)?.permissions().mode() & 0o111 != 0,
        "/zktraffic is not executable in the image"
    );
    ensure!(
        fs::read(&in_image)? == fs::read(bin)?,
        "/zktraffic in the image differs from {}",
        bin.display()
    );
    let layer_size = size(&layer_path)?;
    let _ = fs::remove_dir_all(&dir);
    Ok(layer_size)
}

/// Just enough JSON for the OCI files buildah and podman write: raw values by key.
mod json {
    /// The raw text of the value after the first `"key":` in `s`, at any depth.
    pub fn value<'a>(s: &'a str, key: &str) -> Option<&'a str> {
        let quoted = format!("\"{key}\"");
        let mut from = 0;
        while let Some(at) = s[from..].find(&quoted) {
            from += at + quoted.len();
            if let Some(rest) = s[from..].trim_start().strip_prefix(':') {
                let rest = rest.trim_start();
                return Some(&rest[..value_len(rest)?]);
            }
        }
        None
    }

    /// The string value of `key` (escapes left as they are: digests and names have none).
    pub fn string(s: &str, key: &str) -> Option<String> {
        value(s, key)?.strip_prefix('"')?.strip_suffix('"').map(str::to_owned)
    }

    /// The string values of every `"key":` in `s`, in order.
    pub fn strings(s: &str, key: &str) -> Vec<String> {
        let quoted = format!("\"{key}\"");
        s.match_indices(&quoted).filter_map(|(at, _)| string(&s[at..], key)).collect()
    }

    /// The length of the JSON value `s` starts with.
    fn value_len(s: &str) -> Option<usize> {
        let b = s.as_bytes();
        match b.first()? {
            b'"' => {
                let mut i = 1;
                while i < b.len() {
                    match b[i] {
                        b'\\' => i += 2,
                        b'"' => return Some(i + 1),
                        _ => i += 1,
                    }
                }
                None
            }
            b'{' | b'[' => {
                let (mut depth, mut in_string, mut i) = (0usize, false, 0);
                while i < b.len() {
                    match (in_string, b[i]) {
                        (true, b'\\') => i += 1,
                        (true, b'"') => in_string = false,
                        (false, b'"') => in_string = true,
                        (false, b'{' | b'[') => depth += 1,
                        (false, b'}' | b']') => {
                            depth -= 1;
                            if depth == 0 {
                                return Some(i + 1);
                            }
                        }
                        _ => {}
                    }
                    i += 1;
                }
                None
            }
            _ => Some(s.find([',', '}', ']']).unwrap_or(s.len())),
        }
    }
}
