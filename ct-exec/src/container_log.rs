//! A container's log in podman's (conmon's) `k8s-file` format, written by ct-exec as the
//! output arrives ([`writer`]) and read back by `ct-exec logs` ([`reader`]).
//!
//! Every entry is one line: `TIME STREAM TAG TEXT`, where TIME is RFC 3339 with nanoseconds
//! (UTC, `2026-12-07T03:52:45.123456789Z`, see [`time`]), the moment ct-exec read the bytes
//! from the container; STREAM is `stdout` or `stderr`; TAG is `F` for a full line (its newline
//! is the entry's own) or `P` for a part of one (the container wrote no newline yet: the next
//! entries of the same stream continue it). The container's bytes are written as they are.
//! A bounded log rotates: FILE.1 is the newest file before FILE, FILE.2 the one before that.

use std::path::{Path, PathBuf};

pub mod reader;
pub mod time;
pub mod writer;

pub use reader::{print, ReadOptions};
pub use time::{now_nanos, parse_since};
pub use writer::{capture, Capture, LogOptions, Redirected, Writer};

/// One of the container's two output streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// `FILE.K`, the K-th newest file before FILE.
pub(crate) fn rotated(path: &Path, k: u32) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(format!(".{k}"));
    PathBuf::from(s)
}
