//! guntainer's user story through `ct`: run a root-filesystem archive with a command. The
//! archive (a gzip'd tar of busybox) becomes an image with `ct import`, then runs.

use ct_tests::image::{busybox_layer, Compress, Compression};
use ct_tests::sandbox::{stderr, stdout, Sandbox};

#[test]
fn run_a_rootfs_archive_with_a_command() {
    let ct = Sandbox::new();
    let archive = ct.dir.path().join("rootfs.tar.gz");
    std::fs::write(&archive, Compression::Gzip.compress(&busybox_layer())).unwrap();
    let imported = ct.ok(&["import", archive.to_str().unwrap(), "gun:1"]);
    assert!(
        imported.starts_with("docker.io/library/gun:1@sha256:"),
        "{imported}"
    );
    let o = ct.out(&[
        "run",
        "--rm",
        "--network",
        "none",
        "gun:1",
        "sh",
        "-c",
        "echo $((6*7)); ls /bin/busybox",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), "42\n/bin/busybox\n");

    let o = ct.out(&["import", "/nonexistent.tar", "x:1"]);
    assert!(matches!(o.status.code(), Some(1 | 2)), "{o:?}");
    assert_eq!(stderr(&o), "ct: import: no file '/nonexistent.tar'\n");
}
