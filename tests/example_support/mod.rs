//! Where an example's binary is, for the tests and benches that run one as
//! a whole process (`tests/config_check_cli.rs`, `benches/config.rs`).

use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// The newest modification time under `dir` (files, recursively).
fn newest(dir: &Path) -> Option<SystemTime> {
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let md = e.metadata().ok()?;
            if md.is_dir() { newest(&e.path()) } else { md.modified().ok() }
        })
        .max()
}

/// Example `name`'s binary beside the running test or bench
/// (`target/<profile>/examples/`), if it is newer than the library's and the
/// examples' sources and the manifest (a time that cannot be read counts as
/// older); otherwise why not. `cargo test` builds the examples before its
/// tests; `cargo test --test NAME` and `cargo bench` do not.
pub fn example_binary(name: &str) -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let profile = exe.parent().and_then(|deps| deps.parent()).ok_or("no profile directory")?;
    let bin = profile.join("examples").join(name);
    let built =
        std::fs::metadata(&bin).and_then(|m| m.modified()).map_err(|_| format!("{} is not built", bin.display()))?;
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let file = |name: &str| std::fs::metadata(root.join(name)).and_then(|m| m.modified()).ok();
    let sources = [newest(&root.join("src")), newest(&root.join("examples")), file("Cargo.toml"), file("Cargo.lock")];
    if sources.into_iter().flatten().any(|t| t > built) {
        return Err(format!("{} is older than the sources", bin.display()));
    }
    Ok(bin)
}
