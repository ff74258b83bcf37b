//! The last step: execve(2) of the container's command, and what its failure means.
//!
//! `process.args[0]` without a `/` is searched in the container's `PATH` (from `process.env`,
//! like execvp(3) but with the container's environment, not ct-exec's). Failures map to the
//! exit codes of chroot(1) and env(1): 127 when the command does not exist, 126 when it exists
//! but cannot run (not executable, a directory, a bad interpreter).

use std::ffi::{CStr, CString, OsStr};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use ct_layout::bundle::DEFAULT_PATH;

/// Find `cmd` in `path` (a PATH value). Returns the first candidate that exists and is a
/// file; if none does, the error of the most telling candidate.
pub fn lookup(cmd: &str, path: &str) -> Result<PathBuf, (i32, io::Error)> {
    if cmd.contains('/') {
        return Ok(PathBuf::from(cmd));
    }
    let mut denied = None;
    for dir in path.split(':') {
        let dir = if dir.is_empty() { "." } else { dir };
        let cand = Path::new(dir).join(cmd);
        match std::fs::metadata(&cand) {
            Ok(m) if m.is_file() => {
                if nix::unistd::access(&cand, nix::unistd::AccessFlags::X_OK).is_ok() {
                    return Ok(cand);
                }
                denied.get_or_insert(cand);
            }
            Ok(_) => {}
            Err(_) => {}
        }
    }
    match denied {
        Some(p) => Ok(p),
        None => Err((
            libc::ENOENT,
            io::Error::new(io::ErrorKind::NotFound, "command not found in PATH"),
        )),
    }
}

/// Exit code for an execve errno.
pub fn exit_code(errno: i32) -> i32 {
    match errno {
        libc::ENOENT | libc::ENOTDIR | libc::ELOOP | libc::ENAMETOOLONG => 127,
        _ => 126,
    }
}

/// execve; returns only on failure.
pub fn execve(prog: &Path, args: &[CString], env: &[CString]) -> io::Error {
    let prog = CString::new(prog.as_os_str().as_bytes()).unwrap_or_default();
    match nix::unistd::execve(&prog, args, env) {
        Err(e) => e.into(),
        Ok(never) => match never {},
    }
}

/// `PATH` from a container environment.
pub fn path_of(env: &[CString]) -> String {
    env.iter()
        .map(CString::as_c_str)
        .map(CStr::to_bytes)
        .find_map(|e| e.strip_prefix(b"PATH="))
        .map(|p| OsStr::from_bytes(p).to_string_lossy().into_owned())
        .unwrap_or_else(|| DEFAULT_PATH.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_search() {
        assert_eq!(
            lookup("sh", "/nonexistent:/bin").unwrap(),
            PathBuf::from("/bin/sh")
        );
        assert_eq!(lookup("./x", "").unwrap(), PathBuf::from("./x"));
        assert_eq!(
            lookup("no-such-cmd-ct", "/bin").unwrap_err().0,
            libc::ENOENT
        );
        assert_eq!(exit_code(libc::ENOENT), 127);
        assert_eq!(exit_code(libc::EACCES), 126);
        let env = vec![
            CString::new("A=1").unwrap(),
            CString::new("PATH=/x").unwrap(),
        ];
        assert_eq!(path_of(&env), "/x");
        assert_eq!(path_of(&[]), DEFAULT_PATH);
    }
}
