//! Running as an ordinary user (user_namespaces(7)): which namespaces ct-exec works in.
//!
//! An unprivileged process may create a user namespace and be root in it, and everything it
//! creates from there (mount, pid, ipc, uts, network namespaces) belongs to that namespace, so
//! it may mount, pivot_root and set hostnames there — but never write what the host's root
//! owns: the host's cgroups (unless a subtree was delegated to the user), device nodes
//! (mknod), uid/gid maps beyond its own id (without newuidmap). Two kinds of bundles run so:
//!
//! - a config WITH a `user` namespace (`runc spec --rootless`): ct-exec creates it, as its
//!   own user, and maps it ([`crate::user_ns`]) — nothing to enter first;
//! - a config WITHOUT one (what ct-unpack writes for a user): the container lives in the
//!   user's own namespaces, those of the pause process every ct tool of that user joins
//!   (`ct_layout::rootless`), where the layers were unpacked and the overlay mounted. ct-exec
//!   joins them ([`enter`]) as its very first step: `setns(2)` into a user namespace needs a
//!   single-threaded caller, and the read-only re-execution of the binary must happen inside
//!   (the new process keeps the namespaces).
//!
//! Either way, what needs the host's root is skipped with one warning each
//! ([`crate::cgroup::usable`]): the cgroup (limits and device rules); device nodes are
//! bind-mounted from the host instead of made ([`crate::devices`]).

use std::ffi::OsString;

use ct_layout::bundle::Bundle;
use ct_layout::state::State;
use ct_layout::Store;
use oci_spec::runtime::LinuxNamespaceType;

use crate::runc_cli::{Cli, Cmd, Global};

/// Root of the host: uid 0, and not inside a user's namespaces (where ct-exec is uid 0 too).
pub fn host_root() -> bool {
    rustix::process::geteuid().is_root() && !ct_layout::rootless::active()
}

/// Does the config create a user namespace of its own (a `user` entry without a path)?
pub fn own_user_ns(spec: &oci_spec::runtime::Spec) -> bool {
    let nss = spec.linux().as_ref().and_then(|l| l.namespaces().clone());
    nss.unwrap_or_default()
        .iter()
        .any(|n| n.typ() == LinuxNamespaceType::User && n.path().is_none())
}

/// The bundle a verb works on, if it runs a container's process (run, create, exec).
fn bundle_of(store: &Store, cli: &Cli) -> Option<Bundle> {
    let input = match &cli.cmd {
        None => cli.run.bundle.clone()?,
        Some(Cmd::Create(c) | Cmd::RunId { c, .. }) => c.bundle.clone(),
        Some(Cmd::Exec(a)) => {
            let st = State::load(store, &a.id).ok()?;
            st.bundle.to_string_lossy().into_owned()
        }
        Some(_) => return None,
    };
    Bundle::find(store, &input).ok()
}

/// Should this command line run in the user's namespaces? Not as the host's root, not when
/// already inside, not for the verbs that act from outside (kill, delete, state, …), and not
/// when the config makes a user namespace of its own.
pub fn needs_entering(global: &Global, cli: &Cli) -> bool {
    if rustix::process::geteuid().is_root() || ct_layout::rootless::active() {
        return false;
    }
    let mut store = Store::from_env();
    if let Some(root) = &global.root {
        store.run = root.clone();
    }
    match bundle_of(&store, cli) {
        Some(b) => b.load_config().map(|s| !own_user_ns(&s)).unwrap_or(false),
        None => false,
    }
}

/// The short form's bundle from stdin, read now, before entering anything (it decides what to
/// enter), and put on the command line: the read-only re-execution that follows must not read
/// stdin again.
fn bundle_line_first(cli: &mut Cli, args: &mut Vec<OsString>) {
    if cli.cmd.is_some() || cli.run.bundle.is_some() || rustix::process::geteuid().is_root() {
        return;
    }
    let line = match crate::verbs::bundle_from_stdin() {
        Ok(l) => l,
        Err(e) => ct_layout::tool::fail("ct-exec", &e),
    };
    let put = |v: &mut Vec<OsString>| {
        let at = v.iter().position(|a| a == "--").unwrap_or(v.len());
        v.insert(at, OsString::from(&line));
    };
    put(args);
    let mut argv: Vec<OsString> = std::env::args_os().collect();
    put(&mut argv);
    crate::cloned_binary::set_argv(argv);
    cli.run.bundle = Some(line);
}

/// ct-exec's first step as a user with a bundle that has no user namespace of its own: join
/// the user's namespaces (`ct_layout::rootless::enter`); exits 125 when that fails.
pub fn enter(global: &Global, cli: &mut Cli, args: &mut Vec<OsString>) {
    bundle_line_first(cli, args);
    if !needs_entering(global, cli) {
        return;
    }
    if let Err(e) = ct_layout::rootless::enter("ct-exec") {
        let e = crate::ExecError::Containment(format!(
            "cannot enter the user's namespaces: {}",
            ct_layout::pipe::chain(&e)
        ));
        ct_layout::tool::fail("ct-exec", &e);
    }
}
