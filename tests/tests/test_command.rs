//! A new user needs two commands from the README: `./demo.sh` and the test command. The test
//! command must work on a fresh Debian machine, so it installs what the tests need from one
//! package list (`.ci/packages`), and CI (`.ci/run`) runs exactly that command. This file keeps
//! the three in agreement: the README's command, CI's command, and the package list against
//! the host programs the tests call.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(rel: &str) -> String {
    fs::read_to_string(repo().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// The commands of the README's Quick start: the first line of each ```sh block.
fn quick_start_commands() -> Vec<String> {
    let readme = read("README.md");
    let start = readme
        .find("## Quick start")
        .expect("README has a Quick start");
    let rest = &readme[start..];
    let end = rest[3..].find("\n## ").map_or(rest.len(), |i| i + 3);
    rest[..end]
        .split("```sh\n")
        .skip(1)
        .filter_map(|b| b.split("```").next())
        .map(|b| b.trim().to_string())
        .collect()
}

fn packages() -> Vec<String> {
    read(".ci/packages")
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

#[test]
fn the_readme_has_two_commands_and_ci_runs_its_test_command() {
    assert_eq!(quick_start_commands(), ["./demo.sh", "make test"]);
    let ci: Vec<String> = read(".ci/run")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter(|l| !l.starts_with("set ") && !l.starts_with("cd "))
        .map(String::from)
        .collect();
    assert_eq!(
        ci,
        ["make test"],
        ".ci/run must run the README's test command and nothing else"
    );
    // `make test` installs from the list, then runs the workspace's tests.
    let dry = Command::new("make")
        .args(["-n", "-C"])
        .arg(repo())
        .arg("test")
        .output()
        .unwrap();
    let dry = String::from_utf8_lossy(&dry.stdout);
    for p in packages() {
        assert!(dry.contains(&p), "make test does not install {p}:\n{dry}");
    }
    assert!(dry.contains("cargo test --workspace"), "{dry}");
}

/// Host programs the tests (and `make test`'s build) call, with the Debian package that brings
/// each: every one must be in the list, and on this machine come from that package.
const NEEDED: &[(&str, &str)] = &[
    ("/usr/bin/docker-registry", "docker-registry"),
    ("/usr/bin/skopeo", "skopeo"),
    ("/usr/bin/umoci", "umoci"),
    ("/usr/sbin/runc", "runc"),
    ("/usr/bin/crun", "crun"),
    ("/bin/busybox", "busybox-static"),
    ("/usr/sbin/nft", "nftables"),
    ("/usr/bin/jq", "jq"),
    ("/usr/bin/htpasswd", "apache2-utils"),
    ("/usr/bin/openssl", "openssl"),
    ("/usr/bin/tmux", "tmux"),
    ("/usr/bin/shellcheck", "shellcheck"),
    ("/usr/lib/cni/bridge", "containernetworking-plugins"),
    ("/usr/sbin/dnsmasq", "dnsmasq-base"),
    ("/usr/include/seccomp.h", "libseccomp-dev"),
    ("/usr/bin/cgexec", "cgroup-tools"),
    ("/usr/bin/zstd", "zstd"),
    ("/usr/bin/curl", "curl"),
    ("/usr/bin/time", "time"),
    ("/usr/bin/newuidmap", "uidmap"),
    ("/sbin/mkfs.ext4", "e2fsprogs"),
    ("/usr/bin/gcc", "gcc"),
    ("/usr/include/stdio.h", "libc6-dev"),
    ("/usr/bin/go", "golang-go"),
    ("/usr/bin/podman", "podman"),
    ("/usr/bin/ctr", "containerd"),
    (
        "/usr/share/gocode/src/github.com/containernetworking/cni/libcni/api.go",
        "golang-github-appc-cni-dev",
    ),
    ("/usr/bin/bsdtar", "libarchive-tools"),
    ("/usr/bin/xz", "xz-utils"),
    ("/bin/bzip2", "bzip2"),
    ("/usr/bin/zip", "zip"),
    ("/usr/bin/conmon", "conmon"),
    ("/usr/bin/containerd", "containerd"),
    ("/usr/sbin/useradd", "passwd"),
    ("/usr/bin/setpriv", "util-linux"),
    ("/usr/bin/pgrep", "procps"),
    ("/usr/bin/pasta", "passt"),
    ("/usr/bin/slirp4netns", "slirp4netns"),
    ("/usr/bin/fuse-overlayfs", "fuse-overlayfs"),
];

#[test]
fn the_package_list_brings_every_program_the_tests_call() {
    let list = packages();
    for (path, pkg) in NEEDED {
        assert!(
            list.iter().any(|p| p == pkg),
            "{pkg} (for {path}) is missing from .ci/packages"
        );
        let o = Command::new("dpkg").args(["-S", path]).output().unwrap();
        let owner = String::from_utf8_lossy(&o.stdout);
        assert!(
            owner
                .split(": ")
                .next()
                .is_some_and(|o| o.split(", ").any(|o| o.split(':').next() == Some(pkg))),
            "{path} does not come from {pkg} here: {owner}"
        );
    }
}
