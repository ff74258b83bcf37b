//! Where the seccomp filter (seccomp(2), compiled from the config's `linux.seccomp` by
//! [`crate::seccomp`]) meets the start sequence: compiled in the parent, before any process
//! exists, so a bad profile is a one-line error (through the cache of compiled programs in
//! `$CT_RUN/seccomp`, so a start does not pay libseccomp's compile time again); installed by
//! the child as its very last step before `execve`, after capabilities are dropped and
//! `no_new_privs` is set — or, when `noNewPrivileges` is false, just before the credentials
//! change, while the child still has CAP_SYS_ADMIN (see [`crate::child`], step 12).

use ct_layout::Store;
use oci_spec::runtime::Spec;

use crate::{seccomp, ExecError};

/// Installs the compiled filter in the calling process.
pub type Hook = Box<dyn Fn() -> Result<(), String>>;

/// Compile the profile, if the config has one.
pub fn prepare(spec: &Spec, store: &Store) -> Result<Option<Hook>, ExecError> {
    let Some(profile) = spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()) else {
        return Ok(None);
    };
    let program = seccomp::compile_cached(profile, &store.run.join("seccomp"))
        .map_err(|e| ExecError::Seccomp(Box::new(e)))?;
    Ok(Some(Box::new(move || {
        seccomp::install(&program).map_err(|e| ct_layout::pipe::chain(&e))
    })))
}
