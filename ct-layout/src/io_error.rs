//! The one error for "a file-system call failed on a path": `cannot ACTION 'PATH'`, with the
//! `io::Error` (the `errno` the kernel gave, e.g. `ENOENT`, `EACCES`) as its source. Every
//! tool reports an error as its cause chain on one line ([`crate::pipe::report`]), so the user
//! reads `TOOL: cannot ACTION 'PATH': CAUSE`.
//!
//! Each tool's error enum holds it as one variant, `Io(#[from] IoAt)` with
//! `#[error(transparent)]`; [`IoAt::at`] makes the `map_err` closure:
//! `fs::read(&p).map_err(IoAt::at("read", &p))?`.

use std::io;
use std::path::{Path, PathBuf};

/// `cannot ACTION 'PATH'`, caused by `source`.
#[derive(Debug, thiserror::Error)]
#[error("cannot {action} '{path}'")]
pub struct IoAt {
    /// What was being done, as a verb: "read", "create", "rename".
    pub action: &'static str,
    pub path: PathBuf,
    #[source]
    pub source: io::Error,
}

impl IoAt {
    /// The `map_err` closure for `action` on `path`; `?` then turns the [`IoAt`] into the
    /// tool's error through its `From<IoAt>`.
    pub fn at(action: &'static str, path: impl AsRef<Path>) -> impl FnOnce(io::Error) -> IoAt {
        let path = path.as_ref().to_path_buf();
        move |source| IoAt {
            action,
            path,
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn says_action_path_and_cause_on_one_line() {
        let e: IoAt = IoAt::at("read", "/x/y")(io::Error::from_raw_os_error(libc::ENOENT));
        let line = crate::pipe::chain(&e);
        assert!(
            line.starts_with("cannot read '/x/y': No such file or directory"),
            "{line}"
        );
    }
}
