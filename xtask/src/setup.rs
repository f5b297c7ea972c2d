//! `cargo xtask setup`: installs what building and testing need, idempotently.

use anyhow::Result;

/// Nothing beyond the stable toolchain is needed yet; the eBPF toolchain joins with live capture.
pub fn run() -> Result<()> {
    Ok(())
}
