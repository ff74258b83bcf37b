//! A user other than root gets a store of their own, where every tool and the `ct` script look
//! for it without being told: `~/.local/share/ct` (or `$XDG_DATA_HOME/ct`) for images and
//! layers, `/tmp/ct-UID` (or `$XDG_RUNTIME_DIR/ct`) for runtime state, both 0700 and theirs —
//! and a runtime directory another user made first is refused, not used.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use ct_tests::bins::bin;
use ct_tests::image::TarBuilder;
use ct_tests::sandbox::Sandbox;
use ct_tests::user::TestUser;

/// A one-file root filesystem tarball the user can read.
fn rootfs_tarball(dir: &Path) -> String {
    let tar = TarBuilder::new()
        .dir("etc", 0o755)
        .file("etc/hello", 0o644, b"hi\n")
        .finish();
    let path = dir.join("rootfs.tar");
    fs::write(&path, tar).unwrap();
    fs::set_permissions(dir, fs::Permissions::from_mode(0o755)).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
    path.to_string_lossy().into_owned()
}

fn tools_dir() -> String {
    bin("ct-pull")
        .parent()
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

fn repo() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .to_string_lossy()
        .into_owned()
}

#[test]
fn an_unprivileged_user_gets_a_private_store_of_their_own() {
    let u = TestUser::create();
    let sb = Sandbox::new();
    let t = &sb.dir;
    let tarball = rootfs_tarball(t.path());
    let path = format!("{}:{}", tools_dir(), repo());
    let out = u
        .cmd(
            &path,
            "ct-pull",
            &["-q", "--tag", "localhost/mine:1", &tarball],
        )
        .output()
        .unwrap();
    assert!(out.status.success(), "ct-pull as a user: {out:?}");

    let root = u.home.join(".local/share/ct");
    for (dir, what) in [(&root, "CT_ROOT"), (&u.tmp_run(), "CT_RUN")] {
        let m = fs::metadata(dir).unwrap_or_else(|e| panic!("{what} {}: {e}", dir.display()));
        assert_eq!(m.uid(), u.uid, "{what} belongs to the user");
        assert_eq!(m.permissions().mode() & 0o777, 0o700, "{what} is private");
    }
    assert!(root.join("images/index.json").is_file());

    // Every other tool, and the ct script, find the same store by themselves.
    let out = u.cmd(&path, "ct-ls", &["images"]).output().unwrap();
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(listed.contains("localhost/mine:1"), "ct-ls images: {out:?}");
    let out = u.cmd(&path, "ct", &["images"]).output().unwrap();
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(listed.contains("localhost/mine:1"), "ct images: {out:?}");
    // … and root's store is not it.
    assert!(!root.starts_with("/var/lib/ct"));
}

#[test]
fn a_runtime_directory_another_user_made_first_is_refused() {
    let u = TestUser::create();
    let sb = Sandbox::new();
    let t = &sb.dir;
    let tarball = rootfs_tarball(t.path());
    // Another user (uid 4242 here) gets to /tmp/ct-UID first, 0700 so it looks private.
    let planted = u.tmp_run();
    fs::create_dir(&planted).unwrap();
    fs::set_permissions(&planted, fs::Permissions::from_mode(0o777)).unwrap();
    std::os::unix::fs::chown(&planted, Some(4242), Some(4242)).unwrap();
    let out = u
        .cmd(
            &tools_dir(),
            "ct-pull",
            &["-q", "--tag", "localhost/x:1", &tarball],
        )
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        err.starts_with("ct-pull: ") && err.contains("belongs to uid 4242"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    // Nothing of the user's landed in it.
    assert_eq!(fs::read_dir(&planted).unwrap().count(), 0);
}

/// The pause process of a user, from `/tmp/ct-UID/pause.pid`, and its uid map.
fn pause_of(u: &TestUser) -> (u32, String) {
    let rec = fs::read_to_string(u.tmp_run().join("pause.pid")).expect("pause.pid written");
    let pid: u32 = rec.split_whitespace().next().unwrap().parse().unwrap();
    let map = fs::read_to_string(format!("/proc/{pid}/uid_map")).expect("the pause process runs");
    (pid, map)
}

fn words(map: &str) -> Vec<Vec<String>> {
    map.lines()
        .map(|l| l.split_whitespace().map(String::from).collect())
        .collect()
}

#[test]
fn a_users_tools_share_one_user_namespace_with_their_subordinate_ids() {
    let u = TestUser::create_with_subids();
    let (first, count) = u.subuids().expect("useradd gave a range");
    let mut pauses = Vec::new();
    for _ in 0..2 {
        let out = u.cmd(&tools_dir(), "ct-ls", &["images"]).output().unwrap();
        assert!(out.status.success(), "{out:?}");
        assert!(out.stderr.is_empty(), "no warning with a range: {out:?}");
        pauses.push(pause_of(&u));
    }
    // Both runs used the same pause process, which still runs.
    assert_eq!(pauses[0], pauses[1]);
    let (pid, map) = pauses.remove(0);
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    assert!(!status.contains("State:\tZ"), "{status}");
    // The user is root inside; the range is 1…N.
    let uid = u.uid.to_string();
    let want = vec![
        vec!["0".to_string(), uid, "1".into()],
        vec!["1".into(), first.to_string(), count.to_string()],
    ];
    assert_eq!(words(&map), want);
}

#[test]
fn without_subordinate_ids_only_the_user_is_mapped_and_ct_says_so_once() {
    let u = TestUser::create();
    let first = u.cmd(&tools_dir(), "ct-ls", &["images"]).output().unwrap();
    assert!(first.status.success(), "{first:?}");
    let warning = String::from_utf8_lossy(&first.stderr);
    assert!(
        warning.starts_with("ct-ls: warning: no subordinate ids") && warning.lines().count() == 1,
        "{warning}"
    );
    let again = u.cmd(&tools_dir(), "ct-ls", &["images"]).output().unwrap();
    assert!(
        again.status.success() && again.stderr.is_empty(),
        "{again:?}"
    );
    let (_, map) = pause_of(&u);
    assert_eq!(
        words(&map),
        vec![vec!["0".to_string(), u.uid.to_string(), "1".into()]]
    );
}
