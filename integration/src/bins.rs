//! The project's binaries, found next to the running test executable (`cargo test
//! --workspace` builds every member's binaries into the same target directory).

use anyhow::{bail, Result};
use std::path::PathBuf;

/// Path of the workspace binary `name` (`had`, `mrd`, `mipsock`, ...).
pub fn path(name: &str) -> Result<PathBuf> {
    let exe = std::env::current_exe()?;
    // target/<profile>/deps/test-xxxx -> target/<profile>/NAME; or target/<profile>/nemo-lab.
    for dir in exe.ancestors().skip(1).take(2) {
        let candidate = dir.join(name);
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    bail!(
        "binary `{name}` not found near {}: build the workspace binaries first \
         (cargo build --workspace --bins, or cargo test --workspace)",
        exe.display()
    )
}
