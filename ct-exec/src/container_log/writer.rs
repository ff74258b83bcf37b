//! Writing a container's log (`--log-path FILE`): the container's stdout and stderr are two
//! pipes (without a terminal) whose read ends the relay polls; with a terminal, what the pty
//! master gives is `stdout`. In the foreground the bytes also go on to ct-exec's own stdout and
//! stderr. Each read becomes entries stamped with the moment it arrived.
//!
//! Bounded (`--log-max-size SIZE --log-max-file N`, docker's json-file options): an entry that
//! would take FILE past SIZE first rotates it — FILE.1 becomes FILE.2 and so on, FILE becomes
//! FILE.1, the oldest beyond N files is dropped; with N = 1 FILE starts again empty.

use std::fs::{self, File};
use std::io::{self, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;

use super::time::{format_time, now_nanos};
use super::{rotated, Stream};
use crate::ExecError;

/// Where and how much: `--log-path`, `--log-max-size`, `--log-max-file`.
#[derive(Debug, Clone, Default)]
pub struct LogOptions {
    pub path: PathBuf,
    /// Rotate before the file would grow past this many bytes (none: never).
    pub max_size: Option<u64>,
    /// Files kept, the current one included (at least 1).
    pub max_file: u32,
}

/// The writing end: the open file, its size, and the bound.
pub struct Writer {
    opts: LogOptions,
    file: File,
    size: u64,
}

impl Writer {
    pub fn open(opts: &LogOptions) -> io::Result<Writer> {
        let file = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&opts.path)?;
        let size = file.metadata()?.len();
        Ok(Writer {
            opts: opts.clone(),
            file,
            size,
        })
    }

    /// The bytes `data` the container wrote on `stream`, as entries stamped with this moment.
    /// A failing write loses the entry, never the container's output on the terminal.
    pub fn write(&mut self, stream: Stream, data: &[u8]) {
        let now = format_time(now_nanos());
        for piece in data.split_inclusive(|b| *b == b'\n') {
            let (text, tag) = match piece.strip_suffix(b"\n") {
                Some(t) => (t, 'F'),
                None => (piece, 'P'),
            };
            let mut entry = format!("{now} {} {tag} ", stream.name()).into_bytes();
            entry.extend_from_slice(text);
            entry.push(b'\n');
            if let Some(max) = self.opts.max_size {
                if self.size > 0 && self.size + entry.len() as u64 > max {
                    let _ = self.rotate();
                }
            }
            if self.file.write_all(&entry).is_ok() {
                self.size += entry.len() as u64;
            }
        }
    }

    fn rotate(&mut self) -> io::Result<()> {
        let p = &self.opts.path;
        if self.opts.max_file <= 1 {
            self.file.set_len(0)?;
            self.size = 0;
            return Ok(());
        }
        for k in (1..self.opts.max_file - 1).rev() {
            let _ = fs::rename(rotated(p, k), rotated(p, k + 1));
        }
        fs::rename(p, rotated(p, 1))?;
        self.file = fs::OpenOptions::new().create(true).append(true).open(p)?;
        self.size = 0;
        Ok(())
    }
}

/// What the relay copies from the container into the log: the read ends of its stdout and
/// stderr pipes (none with a terminal: the pty master is read instead), and whether the bytes
/// also go on to ct-exec's stdout and stderr (the foreground).
pub struct Capture {
    pub writer: Writer,
    pub out: Option<OwnedFd>,
    pub err: Option<OwnedFd>,
    pub passthrough: bool,
}

/// Our own stdout and stderr while the container is being started (its fds 1 and 2 are the
/// pipes' write ends, inherited through clone): dropped, it puts them back.
pub struct Redirected {
    saved: [OwnedFd; 2],
}

impl Drop for Redirected {
    fn drop(&mut self) {
        let _ = rustix::stdio::dup2_stdout(&self.saved[0]);
        let _ = rustix::stdio::dup2_stderr(&self.saved[1]);
    }
}

/// Open the log; without a terminal, make the two pipes and put their write ends on our fds
/// 1 and 2 for the container to inherit (keep [`Redirected`] until it has been started).
pub fn capture(
    opts: &LogOptions,
    passthrough: bool,
    terminal: bool,
) -> Result<(Capture, Option<Redirected>), ExecError> {
    let writer = Writer::open(opts).map_err(|source| ExecError::StateDir {
        path: opts.path.clone(),
        source,
    })?;
    if terminal {
        let c = Capture {
            writer,
            out: None,
            err: None,
            passthrough,
        };
        return Ok((c, None));
    }
    let fail = |source: io::Error| ExecError::Spawn {
        step: "make the log's pipes",
        source,
    };
    let pipe = || nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| fail(e.into()));
    let (out_r, out_w) = pipe()?;
    let (err_r, err_w) = pipe()?;
    let dup = |fd| rustix::io::fcntl_dupfd_cloexec(fd, 3).map_err(|e| fail(e.into()));
    let saved = [dup(rustix::stdio::stdout())?, dup(rustix::stdio::stderr())?];
    let redirected = Redirected { saved };
    rustix::stdio::dup2_stdout(&out_w).map_err(|e| fail(e.into()))?;
    rustix::stdio::dup2_stderr(&err_w).map_err(|e| fail(e.into()))?;
    let c = Capture {
        writer,
        out: Some(out_r),
        err: Some(err_r),
        passthrough,
    };
    Ok((c, Some(redirected)))
}

impl Capture {
    /// Bytes read from the container: into the log, and on to our own fd in the foreground.
    pub fn got(&mut self, stream: Stream, data: &[u8]) {
        self.writer.write(stream, data);
        if self.passthrough {
            let ok = match stream {
                Stream::Stdout => write_all(rustix::stdio::stdout(), data),
                Stream::Stderr => write_all(rustix::stdio::stderr(), data),
            };
            // Nobody reads our output any more: the log still gets it.
            if !ok {
                self.passthrough = false;
            }
        }
    }
}

fn write_all(fd: impl AsFd, mut buf: &[u8]) -> bool {
    while !buf.is_empty() {
        match rustix::io::write(&fd, buf) {
            Ok(n) => buf = &buf[n..],
            Err(rustix::io::Errno::INTR) => {}
            Err(_) => return false,
        }
    }
    true
}
