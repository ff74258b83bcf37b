//! OCI hooks (runtime-spec `config.md`, "POSIX-platform Hooks"): programs the runtime runs at
//! points of the lifecycle, each given the container's State as JSON on its stdin — how
//! podman's hooks.d, GPU toolkits and network plugins join in. As runc does:
//!
//! * `prestart` (deprecated) and `createRuntime`: run by ct-exec in the runtime's namespaces
//!   during `create` (and a run), once the container's namespaces exist and its process is in
//!   its cgroup, before its root is set up (the process waits in the handshake); status
//!   `creating`. A failure fails the create.
//! * `createContainer`: run by the container's process itself ([`crate::child`] step 9), so in
//!   the container's namespaces, once its root's mounts are made and before `pivot_root`: the
//!   path is looked up in the runtime's view of the files (the host's tree is still reachable),
//!   and the hook runs as the container's root with its full capabilities; status `creating`,
//!   `pid` as the process sees itself. A failure fails the create.
//! * `startContainer`: run by the container's process in its root, with its credentials (after
//!   `pivot_root`, capabilities and user), on `start` (or a run), just before `execve` of the
//!   user's program: the path is looked up inside the container, which may replace it —
//!   the hook gets no more than the container has; status `created`. A failure ends the
//!   container's process before its program runs: a run fails with the hook's message; after
//!   `create`, the message goes to the container's stderr (as runc, `start` has returned).
//! * `poststart`: once the command runs (`start`, or a run); status `running`. A failure is a
//!   warning.
//! * `poststop`: when the container is deleted (`delete`, or the end of a foreground run);
//!   status `stopped`. A failure is a warning.
//!
//! Each hook: `path` (absolute) executed with `args` (args[0] is its argv[0]) and exactly
//! `env`; stdout and stderr captured (one pipe, 64 KiB kept) for the error message; killed
//! (SIGKILL) after `timeout` seconds when it has one. No thread is used: the container's
//! process, a `clone(2)` of ct-exec, runs hooks too.

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use oci_spec::runtime::{Hook, Hooks};

use crate::ExecError;

/// The points of the lifecycle ct-exec runs hooks at.
#[derive(Debug, Clone, Copy)]
pub enum When {
    /// prestart then createRuntime.
    Create,
    /// In the container's process, before `pivot_root`.
    CreateContainer,
    /// In the container's process, just before `execve`.
    StartContainer,
    Poststart,
    Poststop,
}

/// Whether the config has hooks for `when`.
pub fn any(hooks: Option<&Hooks>, when: When) -> bool {
    !list(hooks, when).is_empty()
}

/// The `hooks` of a bundle's config.json, as far as it can still be read, and nothing else
/// of it: `start` and `delete` run hooks only, so they skip the rest of the config unparsed
/// (a podman config is ~20 KB, reading it all into oci-spec's types ~0.2 ms per call).
pub fn of_bundle(bundle: &std::path::Path) -> Option<Hooks> {
    #[derive(serde::Deserialize)]
    struct OnlyHooks {
        hooks: Option<Hooks>,
    }
    let bytes = std::fs::read(bundle.join("config.json")).ok()?;
    if !may_name_hooks(&bytes) {
        return None;
    }
    serde_json::from_slice::<OnlyHooks>(&bytes).ok()?.hooks
}

/// Whether JSON text can hold a key `hooks`: it must spell it out, or write some of its
/// letters as `\uXXXX`, the only escape a letter has. Neither: no hooks, and nothing to parse
/// (most configs: podman's and containerd's have none). core's substring search, not the
/// memchr crate's: that one asks the CPU for its features first (`cpuid`, each a trap to the
/// hypervisor in a virtual machine: 40-50 µs of a `start` or `delete` of ~1 ms).
fn may_name_hooks(json: &[u8]) -> bool {
    // Not UTF-8: not JSON either, and serde would refuse it.
    std::str::from_utf8(json).is_ok_and(|t| t.contains("hooks") || t.contains("\\u"))
}

fn list(hooks: Option<&Hooks>, when: When) -> Vec<(&'static str, Hook)> {
    let Some(h) = hooks else {
        return Vec::new();
    };
    #[allow(deprecated)]
    let pick: Vec<(&'static str, &Option<Vec<Hook>>)> = match when {
        When::Create => vec![
            ("prestart", h.prestart()),
            ("createRuntime", h.create_runtime()),
        ],
        When::CreateContainer => vec![("createContainer", h.create_container())],
        When::StartContainer => vec![("startContainer", h.start_container())],
        When::Poststart => vec![("poststart", h.poststart())],
        When::Poststop => vec![("poststop", h.poststop())],
    };
    pick.into_iter()
        .flat_map(|(name, v)| v.iter().flatten().map(move |h| (name, h.clone())))
        .collect()
}

/// Run the hooks of `when`, in order; the first failure ends it.
pub fn run(hooks: Option<&Hooks>, when: When, state: &serde_json::Value) -> Result<(), ExecError> {
    let all = list(hooks, when);
    let mut index = 0;
    let mut last = "";
    for (which, hook) in all {
        index = if which == last { index + 1 } else { 0 };
        last = which;
        run_one(which, index, &hook, state)?;
    }
    Ok(())
}

/// [`run`] in the container's process ([`crate::child`]): `state` with its status and the pid
/// the process sees itself as (as runc); a failure as the child reports one.
pub(crate) fn run_in_container(
    hooks: Option<&Hooks>,
    when: When,
    state: Option<&serde_json::Value>,
    status: &str,
) -> Result<(), (i32, String)> {
    let Some(state) = state else {
        return Ok(());
    };
    if !any(hooks, when) {
        return Ok(());
    }
    let mut state = state.clone();
    state["status"] = status.into();
    state["pid"] = std::process::id().into();
    run(hooks, when, &state).map_err(|e| (125, ct_layout::pipe::chain(&e)))
}

/// [`run`] for the hooks whose failure is only a warning (poststart, poststop).
pub fn run_warn(hooks: Option<&Hooks>, when: When, state: &serde_json::Value) {
    if let Err(e) = run(hooks, when, state) {
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
    // stdout and stderr share one pipe, read without blocking while the hook runs.
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| err(e.into()))?;
    let w2 = w.try_clone().map_err(err)?;
    c.args(args.iter().skip(1))
        .env_clear()
        .stdin(Stdio::piped())
        .stdout(Stdio::from(w))
        .stderr(Stdio::from(w2));
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
    // Our copies of the write end go with the Command: end of file once the hook is done.
    drop(c);
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that does not read its stdin is not an error.
        let _ = stdin.write_all(state.to_string().as_bytes());
    }
    let _ = rustix::fs::fcntl_setfl(&r, rustix::fs::OFlags::NONBLOCK);
    let mut said = Vec::new();
    let drain = |said: &mut Vec<u8>| {
        let mut buf = [0u8; 4096];
        while said.len() < 64 * 1024 {
            match rustix::io::read(&r, &mut buf) {
                Ok(n) if n > 0 => said.extend_from_slice(&buf[..n]),
                _ => break,
            }
        }
    };
    let limit = hook
        .timeout()
        .filter(|t| *t > 0)
        .map(|t| Duration::from_secs(t as u64));
    let start = Instant::now();
    let status = loop {
        drain(&mut said);
        if let Some(s) = child.try_wait().map_err(err)? {
            drain(&mut said);
            break Some(s);
        }
        if limit.is_some_and(|l| start.elapsed() >= l) {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(1));
    };
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

#[cfg(test)]
mod tests {
    use super::*;

    fn bundle_with(config: &str) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("config.json"), config).unwrap();
        d
    }

    #[test]
    fn hooks_are_read_however_their_key_is_written() {
        let hook = r#"{"poststop": [{"path": "/bin/true"}]}"#;
        for key in [
            "hooks",
            r"\u0068ooks",
            r"hook\u0073",
            r"\u0068\u006f\u006f\u006b\u0073",
        ] {
            let d = bundle_with(&format!(r#"{{"ociVersion": "1.0.2", "{key}": {hook}}}"#));
            let hooks = of_bundle(d.path()).unwrap_or_else(|| panic!("no hooks read for {key}"));
            assert_eq!(hooks.poststop().as_ref().map(Vec::len), Some(1), "{key}");
        }
        let d = bundle_with(r#"{"ociVersion": "1.0.2", "process": {"args": ["sh"]}}"#);
        assert!(of_bundle(d.path()).is_none());
        assert!(!may_name_hooks(br#"{"process": {"args": ["hook", "s"]}}"#));
    }
}
