//! A terminal (`process.terminal`, or `exec -t`) for a process the runtime does not stay
//! attached to (`create`, `run -d`, `exec -d`) needs `--console-socket`: the pty's master
//! (pty(7)) must go to someone, or the container would get a terminal nobody holds — or, worse,
//! the caller's own terminal. runc refuses ("cannot allocate tty if runc will detach without
//! setting console socket"); so does ct-exec, before anything is created. Side by side.

mod common;

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::*;
use serde_json::json;

struct Rt {
    exe: PathBuf,
    root: PathBuf,
    f_root: PathBuf,
}

impl Rt {
    fn both(f: &Fixture) -> [Rt; 2] {
        [
            Rt {
                exe: PathBuf::from(EXE),
                root: f.run.clone(),
                f_root: f.root.clone(),
            },
            Rt {
                exe: PathBuf::from("runc"),
                root: f.tmp.path().join("runc-root"),
                f_root: f.root.clone(),
            },
        ]
    }

    fn is_ct(&self) -> bool {
        self.exe.ends_with("ct-exec")
    }

    /// One verb, stderr in a file (a created container keeps its stdio), killed after 30 s.
    fn run(&self, args: &[&str]) -> Output {
        let err = tempfile::NamedTempFile::new().unwrap();
        let mut c = Command::new(&self.exe);
        c.arg("--root")
            .arg(&self.root)
            .args(args)
            .env("CT_ROOT", &self.f_root)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(err.reopen().unwrap());
        let mut out = wait_output(c.spawn().unwrap(), Duration::from_secs(30));
        out.stderr = std::fs::read(err.path()).unwrap();
        out
    }

    fn refused(&self, args: &[&str], id: &str) {
        let out = self.run(args);
        let err = stderr(&out);
        assert!(!out.status.success(), "{} {args:?}", self.exe.display());
        let want = match self.is_ct() {
            true => "needs --console-socket",
            false => "cannot allocate tty if runc will detach without setting console socket",
        };
        assert!(err.contains(want), "{} {args:?}: {err}", self.exe.display());
        if self.is_ct() {
            assert_eq!(out.status.code(), Some(2), "{err}");
        }
        // Nothing was created.
        let state = self.run(&["state", id]);
        assert!(!state.status.success(), "{} {args:?}", self.exe.display());
    }
}

/// Deletes (force) the container when the test ends, passed or not.
struct Deleted<'a>(&'a Rt, String);

impl Drop for Deleted<'_> {
    fn drop(&mut self) {
        let _ = self.0.run(&["delete", "--force", &self.1]);
    }
}

#[test]
fn a_detached_terminal_without_a_console_socket_is_refused_as_by_runc() {
    let f = Fixture::new();
    let tty = f.bundle("tty", |v| {
        v["process"]["terminal"] = json!(true);
        v["process"]["args"] = json!(["sleep", "100"]);
    });
    let plain = f.bundle("plain", |v| v["process"]["args"] = json!(["sleep", "100"]));
    for rt in Rt::both(&f) {
        let id = unique("dtty-");
        let _gone = Deleted(&rt, id.clone());
        rt.refused(&["create", "--bundle", tty.to_str().unwrap(), &id], &id);
        rt.refused(&["run", "-d", "--bundle", tty.to_str().unwrap(), &id], &id);

        // exec -d -t into a running container: refused, the container untouched.
        let ok = rt.run(&["run", "-d", "--bundle", plain.to_str().unwrap(), &id]);
        assert!(ok.status.success(), "{}", stderr(&ok));
        let out = rt.run(&["exec", "-d", "-t", &id, "sleep", "1"]);
        let err = stderr(&out);
        assert!(!out.status.success(), "{} exec: {err}", rt.exe.display());
        assert!(
            err.contains("needs --console-socket") || err.contains("cannot allocate tty"),
            "{err}"
        );
        let del = rt.run(&["delete", "--force", &id]);
        assert!(del.status.success(), "{}", stderr(&del));
    }
}
