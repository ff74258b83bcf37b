//! `ct-mount -v HOST:CTR` as an ordinary user binds only what that user may read: ct-mount runs
//! as root of the user's own user namespace (ct_layout::rootless), and a bind mount needs only
//! to look a path up, so without a check the container would be handed root's `/etc/shadow`
//! (which it then cannot read either, but which ct must refuse in the first place, as it would
//! any path the user cannot read).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Output;

use ct_layout::image_layout::ImageLayout;
use ct_tests::bins::bin;
use ct_tests::image::{Compression, Image, TarBuilder};
use ct_tests::sandbox::Sandbox;
use ct_tests::user::TestUser;

fn tools_dir() -> String {
    bin("ct-mount")
        .parent()
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

fn ok(out: &Output, what: &str) -> String {
    assert!(out.status.success(), "{what}: {out:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A bundle of a one-layer image in the user's store (the layout written where the user reads
/// it, then pulled from it).
fn users_bundle(u: &TestUser, dir: &std::path::Path) -> PathBuf {
    fs::set_permissions(dir, fs::Permissions::from_mode(0o755)).unwrap();
    let layout = dir.join("layout");
    let tar = TarBuilder::new()
        .dir("etc", 0o755)
        .file("etc/passwd", 0o644, b"root:x:0:0:root:/root:/bin/sh\n")
        .finish();
    Image::new()
        .layer(tar, Compression::Gzip)
        .write(&ImageLayout::at(&layout), "vol");
    let out = std::process::Command::new("chmod")
        .args(["-R", "a+rX"])
        .arg(&layout)
        .output()
        .unwrap();
    ok(&out, "chmod the layout");
    let src = format!("oci:{}:vol", layout.display());
    let r = ok(
        &u.cmd(&tools_dir(), "ct-pull", &["-q", &src])
            .output()
            .unwrap(),
        "ct-pull as the user",
    );
    PathBuf::from(ok(
        &u.cmd(&tools_dir(), "ct-unpack", &["--name", "v", &r])
            .output()
            .unwrap(),
        "ct-unpack as the user",
    ))
}

fn config_mounts(bundle: &std::path::Path) -> String {
    let c: serde_json::Value =
        serde_json::from_slice(&fs::read(bundle.join("config.json")).unwrap()).unwrap();
    c["mounts"].to_string()
}

#[test]
fn a_user_cannot_bind_a_file_they_cannot_read_into_a_container() {
    let sb = Sandbox::new();
    let t = &sb.dir;
    let u = TestUser::create_with_subids();
    let bundle = users_bundle(&u, t.path());
    let b = bundle.to_string_lossy().into_owned();
    for (src, shown) in [("/etc/shadow:/x", "/etc/shadow"), ("/root:/r:ro", "/root")] {
        let out = u
            .cmd(&tools_dir(), "ct-mount", &["-v", src, &b])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{out:?}");
        assert_eq!(
            err.lines().next().unwrap_or(""),
            format!(
                "ct-mount: volume source '{shown}' is not readable by you: Permission denied (os \
                 error 13)"
            ),
            "{err}"
        );
        assert!(!config_mounts(&bundle).contains(shown), "nothing bound");
    }
    // What the user may read is bound.
    let mine = u.home.join("notes");
    fs::write(&mine, "mine\n").unwrap();
    std::os::unix::fs::chown(&mine, Some(u.uid), Some(u.uid)).unwrap();
    let v = format!("{}:/notes", mine.display());
    let out = u
        .cmd(&tools_dir(), "ct-mount", &["-v", &v, &b])
        .output()
        .unwrap();
    ok(&out, "ct-mount -v of the user's own file");
    assert!(config_mounts(&bundle).contains("/notes"));
    ok(
        &u.cmd(&tools_dir(), "ct-mount", &["--unmount", &b])
            .output()
            .unwrap(),
        "unmount",
    );
}
