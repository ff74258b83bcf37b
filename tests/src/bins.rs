//! Paths to the built ct tools. Integration tests of one crate use
//! `env!("CARGO_BIN_EXE_…")`; tests that cross crates find the others beside the test binary
//! (`target/debug/deps/x` → `target/debug/ct-pull`).

use std::path::PathBuf;

/// `target/<profile>`, where cargo puts the workspace's binaries.
pub fn dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let mut dir = exe.parent().expect("deps dir").to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    dir
}

/// `target/<profile>/NAME` for a workspace binary.
pub fn bin(name: &str) -> PathBuf {
    let p = dir().join(name);
    assert!(
        p.exists(),
        "{} not built: run the tests with `cargo test --workspace`",
        p.display()
    );
    p
}
