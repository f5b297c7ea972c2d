//! Builds the kernel programs (`zktraffic-ebpf`) for the BPF target with aya-build and leaves the
//! object in `$OUT_DIR/zktraffic`, where `capture::ebpf` embeds it. Only with the `ebpf` feature.

fn main() -> anyhow::Result<()> {
    #[cfg(feature = "ebpf")]
    ebpf::build()?;
    Ok(())
}

#[cfg(feature = "ebpf")]
mod ebpf {
    use std::path::{Path, PathBuf};

    use anyhow::{Context, Result, bail};

    /// The eBPF crate's bin name, which is also the object's file name in `OUT_DIR`.
    const OBJECT: &str = "zktraffic";

    pub(crate) fn build() -> Result<()> {
        let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
        let root = manifest.parent().context("zktraffic has no parent directory")?;
        let ebpf_dir = root.join("zktraffic-ebpf");
        let common_dir = root.join("zktraffic-common");
        println!("cargo:rerun-if-changed={}", common_dir.join("src").display());
        println!("cargo:rerun-if-changed={}", common_dir.join("Cargo.toml").display());
        println!("cargo:rerun-if-env-changed=AYA_BUILD_SKIP");

        let out = PathBuf::from(std::env::var("OUT_DIR")?).join(OBJECT);
        if std::env::var("AYA_BUILD_SKIP").is_ok_and(|v| v == "1" || v == "true") {
            // Lint/doc jobs without bpf-linker: embed an empty object; loading then fails with an
            // error that says so.
            if !out.exists() {
                std::fs::write(&out, b"")?;
            }
            return Ok(());
        }
        if find_in_path("bpf-linker").is_none() {
            bail!(
                "bpf-linker is not on PATH: the `ebpf` feature (on by default) builds the kernel \
                 programs with it. Run `cargo xtask setup`, or build without live capture: \
                 `cargo build --no-default-features`"
            );
        }
        // aya-build turns every stderr line of the inner cargo into a warning: keep it quiet
        // (compiler diagnostics still come through its JSON messages).
        // SAFETY: build scripts are single-threaded here.
        unsafe { std::env::set_var("CARGO_TERM_QUIET", "true") };
        let ebpf_dir = ebpf_dir.to_str().context("non-UTF-8 path to zktraffic-ebpf")?;
        aya_build::build_ebpf(
            [aya_build::Package {
                name: "zktraffic-ebpf",
                root_dir: ebpf_dir,
                no_default_features: false,
                features: &[],
            }],
            aya_build::Toolchain::default(),
        )
        .context(
            "building the kernel programs failed (needs the nightly toolchain with rust-src and \
             bpf-linker: `cargo xtask setup`; or build with `--no-default-features`)",
        )?;
        if !Path::new(&out).exists() {
            bail!("aya-build did not produce {}", out.display());
        }
        Ok(())
    }

    fn find_in_path(exe: &str) -> Option<PathBuf> {
        let paths = std::env::var_os("PATH")?;
        std::env::split_paths(&paths).map(|p| p.join(exe)).find(|p| p.is_file())
    }
}
