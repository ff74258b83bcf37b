//! The README's tutorial cannot rot: every ```sh block of its "## Tutorial" section is run, in
//! order, as one bash script (`set -e -o pipefail`) against a loopback registry serving the
//! busybox image as `$IMG`, with this test's own CT_ROOT/CT_RUN, bridge, subnet, nft table and
//! cgroup parent. Then the output is checked for what each step shows, and the store for what
//! the last block cleans up.

mod ct_env;

use std::fs;
use std::path::Path;

use ct_env::{stderr, stdout, Ct};
use ct_tests::registry::{Auth, Registry};

/// The ```sh blocks of the `## Tutorial` section (up to the next `## ` heading).
fn tutorial_blocks(readme: &str) -> Vec<String> {
    let mut in_section = false;
    let mut blocks = Vec::new();
    let mut cur: Option<String> = None;
    for line in readme.lines() {
        if cur.is_none() && line.starts_with("## ") {
            in_section = line.trim() == "## Tutorial";
            continue;
        }
        if !in_section {
            continue;
        }
        match &mut cur {
            None if line.trim() == "```sh" => cur = Some(String::new()),
            Some(_) if line.trim() == "```" => blocks.push(cur.take().unwrap()),
            Some(b) => {
                b.push_str(line);
                b.push('\n');
            }
            None => {}
        }
    }
    blocks
}

#[test]
fn every_command_block_of_the_tutorial_runs() {
    // CT_README checks a draft before it goes into the README.
    let path = std::env::var_os("CT_README")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"));
    let readme = fs::read_to_string(&path).unwrap();
    let blocks = tutorial_blocks(&readme);
    assert!(
        blocks.len() >= 10,
        "the tutorial has its blocks: {}",
        blocks.len()
    );

    let reg = Registry::start(Auth::None);
    let ct = Ct::new();
    let img = ct.push_busybox(&reg, "demo/busybox:latest");
    let work = ct.dir.path().join("tutorial");
    fs::create_dir_all(&work).unwrap();
    let script = format!("set -e -o pipefail\n{}", blocks.concat());
    let o = ct
        .program("bash", 240)
        .arg("-c")
        .arg(&script)
        .env("IMG", &img)
        .env("WORK", &work)
        .current_dir(&work)
        .output()
        .unwrap();
    let out = stdout(&o);
    assert!(
        o.status.success(),
        "tutorial failed ({:?}):\n{out}\n{}",
        o.status.code(),
        stderr(&o)
    );
    for want in [
        "hello from a bundle\n",
        "hello from runc spec\n",
        "1 packets received",
        "hi from pipe\n",
        "67108864\n",
        "bundle=$(ct-unpack --id ",
        "| ct-cgroup --memory 64m)\nct-exec \"$bundle\"\n",
        "hello\n",
        "kept\n",
        "hello from web\nhello from web\nindex.html\n",
        &format!("memory:/{}/build\n", ct.cgparent),
        "/bin/busybox\n",
    ] {
        assert!(out.contains(want), "missing {want:?} in:\n{out}");
    }
    assert!(ct.containers().is_empty(), "{:?}", ct.containers());
    assert_eq!(ct.ok(&["images", "-q"]), "");
    assert!(ct.cgroups_left().is_empty(), "{:?}", ct.cgroups_left());
}
