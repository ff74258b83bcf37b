//! Where the seccomp filter (seccomp(2), compiled from the config's `linux.seccomp` by
//! [`crate::seccomp`]) meets the start sequence: compiled in the parent, before any process
//! exists, so a bad profile is a one-line error; installed by the child as its very last step
//! before `execve`, after capabilities are dropped and `no_new_privs` is set.

use oci_spec::runtime::Spec;

use crate::ExecError;

/// Installs the compiled filter in the calling process.
pub type Hook = Box<dyn Fn() -> Result<(), String>>;

/// Compile the profile, if the config has one.
pub fn prepare(spec: &Spec) -> Result<Option<Hook>, ExecError> {
    let Some(_profile) = spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()) else {
        return Ok(None);
    };
    eprintln!("ct-exec: warning: linux.seccomp is not enforced: this build of ct-exec has no seccomp support yet");
    Ok(None)
}
