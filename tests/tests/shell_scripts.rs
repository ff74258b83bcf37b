//! Every shell script in the repository (`ct`, `demo.sh`, `.ci/run`, `bench/*.sh` and the
//! libraries they source, `build-static.sh`) passes `shellcheck`: quoting, unset
//! variables and portability mistakes in the front-end and the benchmarks are found here, not
//! by a user. A script is any file git tracks that ends in `.sh` or starts with a sh/bash
//! shebang, so a new script is checked without being listed.

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn scripts() -> Vec<String> {
    let out = Command::new("git")
        .args(["ls-files", "-z"])
        .current_dir(repo())
        .output()
        .expect("run git ls-files");
    assert!(out.status.success(), "git ls-files: {out:?}");
    let shebang = |f: &str| {
        let head = std::fs::read(repo().join(f)).unwrap_or_default();
        let first = head.split(|b| *b == b'\n').next().unwrap_or_default();
        let first = String::from_utf8_lossy(first);
        first.starts_with("#!")
            && first
                .split(|c: char| c == '/' || c.is_whitespace())
                .any(|w| w == "sh" || w == "bash")
    };
    String::from_utf8(out.stdout)
        .unwrap()
        .split('\0')
        .filter(|f| !f.is_empty() && repo().join(f).is_file())
        .filter(|f| f.ends_with(".sh") || shebang(f))
        .map(String::from)
        .collect()
}

#[test]
fn every_shell_script_passes_shellcheck() {
    let files = scripts();
    for must in [
        "ct",
        "demo.sh",
        ".ci/run",
        "bench/exec.sh",
        "bench/lib/registry.sh",
    ] {
        assert!(
            files.iter().any(|f| f == must),
            "{must} not found in {files:?}"
        );
    }
    // -x follows the `# shellcheck source=` files the benches source, from the repo root.
    let out = Command::new("shellcheck")
        .arg("-x")
        .args(&files)
        .current_dir(repo())
        .output()
        .expect("run shellcheck (apt-get install shellcheck)");
    assert!(
        out.status.success(),
        "shellcheck found problems:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
