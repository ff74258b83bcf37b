//! `make install` puts every tool, the `ct` script, a man page per tool and bash/zsh/fish
//! completions under PREFIX; pages and completions come from each tool's clap definition
//! (`CT_GENERATE`). Runs the Makefile's `install-files` step (the install without the cargo
//! build, which would wait on the lock of the `cargo test` running us) on the built binaries.

use std::fs;
use std::path::Path;
use std::process::Command;

use ct_tests::bins::bin;
use ct_tests::sandbox::Sandbox;

const TOOLS: [&str; 8] = [
    "ct-pull",
    "ct-unpack",
    "ct-mount",
    "ct-net",
    "ct-cgroup",
    "ct-exec",
    "ct-ls",
    "ct-gc",
];

#[test]
fn make_install_puts_binaries_ct_man_pages_and_completions_in_place() {
    let sb = Sandbox::new();
    let prefix = &sb.dir;
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let build = bin("ct-exec").parent().unwrap().to_path_buf();
    let o = Command::new("timeout")
        .args(["120", "make", "-s", "-C"])
        .arg(&repo)
        .arg("install-files")
        .arg(format!("PREFIX={}", prefix.path().display()))
        .arg(format!("BUILD={}", build.display()))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let p = prefix.path();
    let read =
        |rel: String| fs::read_to_string(p.join(&rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
    for t in TOOLS {
        assert!(p.join("bin").join(t).is_file(), "{t}");
        let man = read(format!("share/man/man1/{t}.1"));
        assert!(
            man.starts_with(".ie") || man.contains(&format!(".TH {t}")),
            "{t}.1: {man}"
        );
        assert!(
            man.contains("Exit") || man.contains("exit"),
            "{t}.1 documents exit codes"
        );
        let bash = read(format!("share/bash-completion/completions/{t}"));
        assert!(
            bash.contains(&format!("complete -F _{}", t.replace('-', "__")))
                || bash.contains("complete -F"),
            "{t} bash"
        );
        let n = Command::new("bash")
            .arg("-n")
            .arg(p.join(format!("share/bash-completion/completions/{t}")))
            .status()
            .unwrap();
        assert!(n.success(), "{t} bash completion parses");
        assert!(
            read(format!("share/zsh/site-functions/_{t}")).starts_with(&format!("#compdef {t}"))
        );
        assert!(read(format!("share/fish/vendor_completions.d/{t}.fish"))
            .contains(&format!("complete -c {t}")));
    }
    assert!(read("share/man/man1/ct.1".into()).contains(".TH CT 1"));
    let n = Command::new("bash")
        .arg("-n")
        .arg(p.join("share/bash-completion/completions/ct"))
        .status()
        .unwrap();
    assert!(n.success());

    // The installed ct finds the tools beside it, whatever PATH says.
    let o = Command::new(p.join("bin/ct"))
        .args([
            "--dry-run",
            "run",
            "--rm",
            "--name",
            "x",
            "--network",
            "none",
            "img:1",
            "true",
        ])
        .env("PATH", "/usr/bin:/bin")
        .env("CT_ROOT", p.join("root"))
        .env("CT_RUN", p.join("run"))
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(out.starts_with("bundle=$(ct-pull img:1 | ct-unpack --name x -- true | ct-mount | ct-net --network none)\nct-exec --rm \"$bundle\" </dev/null\n"), "{out}");
    let o = Command::new(p.join("bin/ct"))
        .arg("images")
        .env("PATH", "/usr/bin:/bin")
        .env("CT_ROOT", p.join("root"))
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "installed ct runs the installed ct-ls: {}",
        String::from_utf8_lossy(&o.stderr)
    );

    let o = Command::new("make")
        .args(["-s", "-C"])
        .arg(&repo)
        .arg("uninstall")
        .arg(format!("PREFIX={}", p.display()))
        .output()
        .unwrap();
    assert!(o.status.success());
    assert_eq!(fs::read_dir(p.join("bin")).unwrap().count(), 0);
    assert_eq!(fs::read_dir(p.join("share/man/man1")).unwrap().count(), 0);
}
