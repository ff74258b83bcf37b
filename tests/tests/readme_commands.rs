//! The README cannot rot: every ```sh block of its "## Tutorial" section, and of its
//! "## The stages, one by one" section, is run (and those of "## Without root", as an
//! unprivileged user made for it, see [`every_command_block_of_without_root_runs_as_a_user`]), in order, as one bash script per section (`set -e -o pipefail`) against a loopback registry serving the
//! busybox image as `$IMG`, with this test's own CT_ROOT/CT_RUN, bridge, subnet, nft table and
//! cgroup parent. Then the output is checked for what each step shows, and the store for what
//! the last block cleans up.

use std::fs;
use std::path::Path;
use std::sync::Mutex;

use ct_tests::device_mode::{DeviceOpen, TUN};
use ct_tests::registry::{Auth, Registry};
use ct_tests::sandbox::{stderr, stdout, Sandbox};
use ct_tests::user::TestUser;

mod rootless_ct_support;

/// The ```sh blocks of the README section headed `## SECTION` (up to the next `## ` heading).
fn section_blocks(readme: &str, section: &str) -> Vec<String> {
    let mut in_section = false;
    let mut blocks = Vec::new();
    let mut cur: Option<String> = None;
    for line in readme.lines() {
        if cur.is_none() && line.starts_with("## ") {
            in_section = line.trim().strip_prefix("## ") == Some(section);
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

/// Both sections name containers `web`, and a container's network namespace is the global
/// `/run/netns/ID`: the two scripts run one after the other.
static SERIAL: Mutex<()> = Mutex::new(());

/// The README (or, with CT_README set, a draft of it).
fn readme() -> String {
    let path = std::env::var_os("CT_README")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"));
    fs::read_to_string(&path).unwrap()
}

/// Run `blocks` in order as one bash script (`set -e -o pipefail`) in a scratch dir `name`
/// (also given to the script as `$dir_var`), with `$IMG` the busybox image pushed to `reg`.
/// Returns the image reference and the script's stdout; fails the test with both streams if
/// the script fails.
fn run_blocks(
    ct: &Sandbox,
    reg: &Registry,
    blocks: &[String],
    name: &str,
    dir_var: &str,
) -> (String, String) {
    let img = ct.push_busybox(reg, "demo/busybox:latest");
    let work = ct.dir.path().join(name);
    fs::create_dir_all(&work).unwrap();
    let script = format!("set -e -o pipefail\n{}", blocks.concat());
    let o = ct
        .program("bash", 240)
        .arg("-c")
        .arg(&script)
        .env("IMG", &img)
        .env(dir_var, &work)
        .current_dir(&work)
        .output()
        .unwrap();
    let out = stdout(&o);
    assert!(
        o.status.success(),
        "{name} blocks failed ({:?}):\n{out}\n{}",
        o.status.code(),
        stderr(&o)
    );
    (img, out)
}

/// What every block made, it removed: no containers, no images, no cgroups.
fn assert_nothing_left(ct: &Sandbox) {
    assert!(ct.containers().is_empty(), "{:?}", ct.containers());
    assert_eq!(ct.ok(&["images", "-q"]), "");
    assert!(ct.cgroups_left().is_empty(), "{:?}", ct.cgroups_left());
}

#[test]
fn every_command_block_of_the_tutorial_runs() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let blocks = section_blocks(&readme(), "Tutorial");
    assert!(
        blocks.len() >= 10,
        "the tutorial has its blocks: {}",
        blocks.len()
    );

    let reg = Registry::start(Auth::None);
    let ct = Sandbox::new();
    let (_img, out) = run_blocks(&ct, &reg, &blocks, "tutorial", "WORK");
    for want in [
        "hello from a bundle\n",
        "hello from runc spec\n",
        "1 packets received",
        "hi from pipe\n",
        "67108864\n",
        "bundle=$(ct-unpack --id ",
        "| ct-cgroup --memory 64m)\nct-exec --rm \"$bundle\" </dev/null\n",
        "hello\n",
        "kept\n",
        "hello from web\nhello from web\nindex.html\n",
        &format!("memory:/{}/build\n", ct.cgparent),
        "/bin/busybox\n",
    ] {
        assert!(out.contains(want), "missing {want:?} in:\n{out}");
    }
    assert_nothing_left(&ct);
}

/// The per-stage reference blocks run too: each one uses `$IMG`, makes its own containers,
/// scratch dirs and processes, and removes them (and the image) again, so all of them run in
/// order as one script and leave the store, the runtime state and the cgroups empty.
#[test]
fn every_command_block_of_the_stage_sections_runs() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let blocks = section_blocks(&readme(), "The stages, one by one");
    assert!(
        blocks.len() >= 8,
        "every stage has its block: {}",
        blocks.len()
    );

    let reg = Registry::start(Auth::None);
    let ct = Sandbox::new();
    let (img, out) = run_blocks(&ct, &reg, &blocks, "stages", "TMPDIR");
    let digest_ref = format!("{img}@sha256:");
    for want in [
        // ct-pull: the pinned reference, both imports, the listing
        digest_ref.as_str(),
        "saved/busybox:1@sha256:",
        "localhost/rootfs:1@sha256:",
        // ct-unpack: the run, what the flags wrote, the flat rootfs
        "hi\n",
        "[[\"httpd\",\"-f\"],[",
        "\"PORT=80\"",
        "],\"/srv\",{\"uid\":65534,\"gid\":65534",
        "/containers/flat\nbin\ndev\netc\n",
        // ct-mount: the upper dir, volumes and tmpfs, read-only
        "changed\n",
        "shared\n1\n",
        "read-only\n",
        // ct-net: the published port, a namespace with loopback only
        "web\n",
        "1: lo:",
        // ct-cgroup: the limit seen inside, the cgroup of a process
        "100\n",
        &format!("/{}/job\n", ct.cgparent),
        // ct-exec: flags, init, exec into a running container
        "1 /tmp 65534 box\n",
        "my pid is 2\n",
        "V\n",
        // ct-gc: refused while a container uses the image
        "refused\n",
    ] {
        assert!(out.contains(want), "missing {want:?} in:\n{out}");
    }
    assert!(
        !out.contains("2: eth0"),
        "--network none has no eth0:\n{out}"
    );
    assert_nothing_left(&ct);
}

/// "## Without root" runs as an ordinary user with subordinate ids (ct_tests::user), from its
/// home, against a loopback registry, with `/dev/net/tun` open to users for its pasta
/// (`ct_tests::device_mode::DeviceOpen`): what it shows, and nothing left in the user's store.
#[test]
fn every_command_block_of_without_root_runs_as_a_user() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let blocks = section_blocks(&readme(), "Without root");
    assert!(!blocks.is_empty(), "the section has its block");
    let _tun = DeviceOpen::new(TUN);
    let reg = Registry::start(Auth::None);
    let ct = Sandbox::new();
    let img = ct.push_busybox(&reg, "demo/busybox:latest");
    let u = TestUser::create_with_subids();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let path = format!("{}:{}", rootless_ct_support::tools_dir(), repo.display());
    let script = format!("set -e -o pipefail\n{}", blocks.concat());
    let o = u
        .cmd(
            &path,
            "env",
            &[&format!("IMG={img}"), "bash", "-c", &script],
        )
        .current_dir(&u.home)
        .output()
        .unwrap();
    let out = stdout(&o);
    assert!(
        o.status.success(),
        "Without root failed:\n{out}\n{}",
        stderr(&o)
    );
    // uid_map's columns are padded: compare words.
    let out: String = out
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" ") + "\n")
        .collect();
    let (sub, n) = u.subuids().unwrap();
    for want in [
        "0\n".to_string(),
        format!("0 {} 1\n", u.uid),
        format!("1 {sub} {n}\n"),
        format!("{}\n", u.name),
        "web\nweb\n".to_string(),
    ] {
        assert!(out.contains(&want), "missing {want:?} in:\n{out}");
    }
    assert!(
        out.ends_with("web\nweb\n"),
        "ct images -q lists nothing:\n{out}"
    );
    let containers = u.home.join(".local/share/ct/containers");
    assert_eq!(fs::read_dir(&containers).map(|d| d.count()).unwrap_or(0), 0);
}
