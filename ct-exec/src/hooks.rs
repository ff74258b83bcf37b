//! OCI hooks (runtime-spec `config.md`, "POSIX-platform Hooks"): programs of the host that
//! the runtime runs at points of the lifecycle, each given the container's State as JSON on
//! its stdin — how podman's hooks.d, GPU toolkits and network plugins join in. Run, in the
//! runtime's namespaces, as runc does:
//!
//! * `prestart` (deprecated) and `createRuntime`: during `create` (and a run), once the
//!   container's namespaces exist and its process is in its cgroup, before its root is set
//!   up (the process waits in the handshake); status `creating`. A failure fails the create.
//! * `poststart`: once the command runs (`start`, or a run); status `running`. A failure is a
//!   warning.
//! * `poststop`: when the container is deleted (`delete`, or the end of a foreground run);
//!   status `stopped`. A failure is a warning.
//!
//! Each hook: `path` (absolute) executed with `args` (args[0] is its argv[0]) and exactly
//! `env`; stdout and stderr captured for the error message; killed (SIGKILL) after `timeout`
//! seconds when it has one. Not run: `createContainer` and `startContainer` (they run inside
//! the container's namespaces; named in a warning).

use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use oci_spec::runtime::{Hook, Spec};

use crate::ExecError;

/// The points of the lifecycle ct-exec runs hooks at.
#[derive(Debug, Clone, Copy)]
pub enum When {
    /// prestart then createRuntime.
    Create,
    Poststart,
    Poststop,
}

fn list(spec: &Spec, when: When) -> Vec<(&'static str, Hook)> {
    let Some(h) = spec.hooks() else {
        return Vec::new();
    };
    #[allow(deprecated)]
    let pick: Vec<(&'static str, &Option<Vec<Hook>>)> = match when {
        When::Create => vec![
            ("prestart", h.prestart()),
            ("createRuntime", h.create_runtime()),
        ],
        When::Poststart => vec![("poststart", h.poststart())],
        When::Poststop => vec![("poststop", h.poststop())],
    };
    pick.into_iter()
        .flat_map(|(name, v)| v.iter().flatten().map(move |h| (name, h.clone())))
        .collect()
}

/// Run the hooks of `when`, in order; the first failure ends it.
pub fn run(spec: &Spec, when: When, state: &serde_json::Value) -> Result<(), ExecError> {
    let all = list(spec, when);
    let mut index = 0;
    let mut last = "";
    for (which, hook) in all {
        index = if which == last { index + 1 } else { 0 };
        last = which;
        run_one(which, index, &hook, state)?;
    }
    Ok(())
}

/// [`run`] for the hooks whose failure is only a warning (poststart, poststop).
pub fn run_warn(spec: &Spec, when: When, state: &serde_json::Value) {
    if let Err(e) = run(spec, when, state) {
        eprintln!("ct-exec: warning: {}", ct_layout::pipe::chain(&e));
    }
}

fn run_one(
    which: &'static str,
    index: usize,
    hook: &Hook,
    state: &serde_json::Value,
) -> Result<(), ExecError> {
    let path = hook.path();
    let err = |source: std::io::Error| ExecError::Hook {
        which,
        index,
        path: ct_layout::pipe::quote(path.as_os_str().as_encoded_bytes()),
        source,
    };
    if !path.is_absolute() {
        return Err(err(std::io::Error::other("path must be absolute")));
    }
    let args = hook.args().clone().unwrap_or_default();
    let mut c = Command::new(path);
    if let Some(a0) = args.first() {
        c.arg0(a0);
    }
    c.args(args.iter().skip(1))
        .env_clear()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for kv in hook.env().iter().flatten() {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        c.env(k, v);
    }
    // SAFETY: between fork and exec only async-signal-safe calls: the hook starts with no
    // signal blocked (ct-exec blocks the ones it forwards while it starts a container).
    unsafe {
        c.pre_exec(|| {
            let none = nix::sys::signal::SigSet::empty();
            nix::sys::signal::sigprocmask(
                nix::sys::signal::SigmaskHow::SIG_SETMASK,
                Some(&none),
                None,
            )?;
            Ok(())
        });
    }
    let mut child = c.spawn().map_err(err)?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that does not read its stdin is not an error.
        let _ = stdin.write_all(state.to_string().as_bytes());
    }
    let capture = |r: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut v = Vec::new();
            if let Some(r) = r {
                let _ = r.take(64 * 1024).read_to_end(&mut v);
            }
            v
        })
    };
    let out = capture(
        child
            .stdout
            .take()
            .map(|r| Box::new(r) as Box<dyn Read + Send>),
    );
    let errs = capture(
        child
            .stderr
            .take()
            .map(|r| Box::new(r) as Box<dyn Read + Send>),
    );
    let limit = hook
        .timeout()
        .filter(|t| *t > 0)
        .map(|t| Duration::from_secs(t as u64));
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().map_err(err)? {
            break Some(s);
        }
        if limit.is_some_and(|l| start.elapsed() >= l) {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let mut said = out.join().unwrap_or_default();
    said.extend(errs.join().unwrap_or_default());
    let said = String::from_utf8_lossy(&said).trim().to_string();
    match status {
        None => Err(err(std::io::Error::other(format!(
            "timed out after {}s",
            hook.timeout().unwrap_or(0)
        )))),
        Some(s) if s.success() => Ok(()),
        Some(s) => Err(err(std::io::Error::other(format!(
            "{s}{}{}",
            if said.is_empty() { "" } else { ": " },
            ct_layout::pipe::quote(said)
        )))),
    }
}

/// The State a hook gets on stdin.
pub fn state(st: &ct_layout::state::State, status: &str, pid: Option<i32>) -> serde_json::Value {
    serde_json::json!({
        "ociVersion": st.oci_version,
        "id": st.id,
        "status": status,
        "pid": pid.unwrap_or(0),
        "bundle": st.bundle,
        "annotations": st.annotations,
    })
}
