//! Bounding what one extraction or import may write, so a decompression bomb (a few MiB of
//! gzip that inflate to terabytes) or a sparse entry declaring a huge size cannot fill the
//! disk that holds the store (and, often, the host's `/var`).
//!
//! `statvfs(2)` (`fstatvfs` on an fd of the target directory) tells how many blocks and inodes
//! an unprivileged writer may still use (`f_bavail`, `f_favail`). Asking costs one syscall, so a
//! [`Meter`] asks once per [`CHECK_EVERY`] bytes written (and once per [`CHECK_EVERY_ENTRIES`]
//! files made) and stops the writer while more than that much is still above the reserve:
//!
//! * the reserve: `--min-free SIZE`, by default 5% of the file system or 1 GiB, whichever is
//!   smaller (and 5% of its inodes, at most 65536, when it counts inodes);
//! * `--max-layer-size SIZE`, when given: the apparent size of what one layer makes — the bytes
//!   written plus the holes of sparse files — so a sparse file that declares a huge size (and
//!   would be huge for any tool copying it later) is held to the limit too.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

/// How many bytes may be written between two `statvfs` calls.
pub const CHECK_EVERY: u64 = 4 << 20;
/// How many files may be made between two `statvfs` calls.
pub const CHECK_EVERY_ENTRIES: u64 = 1024;
/// The default reserve is 5% of the file system, at most this.
pub const DEFAULT_RESERVE_MAX: u64 = 1 << 30;

/// What a writer may use; `None` fields take the defaults.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    /// Bytes that must stay free on the file system (`--min-free`).
    pub min_free: Option<u64>,
    /// Most bytes one layer may make, holes of sparse files included (`--max-layer-size`).
    pub max_size: Option<u64>,
}

/// Why a writer was stopped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Stopped {
    #[error("stopped after {written} bytes: the file system of '{}' would fall under its reserve of {reserve} bytes free ({avail} bytes left; --min-free changes the reserve)", .dir.display())]
    Reserve {
        written: u64,
        dir: PathBuf,
        reserve: u64,
        avail: u64,
    },
    #[error("stopped after {written} bytes: the file system of '{}' would fall under its reserve of {reserve} free inodes ({avail} left)", .dir.display())]
    Inodes {
        written: u64,
        dir: PathBuf,
        reserve: u64,
        avail: u64,
    },
    #[error(
        "stopped after {written} bytes: larger than the limit of {max} bytes (--max-layer-size)"
    )]
    TooLarge { written: u64, max: u64 },
}

/// `SIZE` as the flags take it: a number of bytes with an optional binary suffix `K`, `M`,
/// `G`, `T` (also `KiB`…, `k`…); `1M` is 1048576.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num.parse().map_err(|_| {
        format!("invalid size '{s}': expected a number with an optional K, M, G or T")
    })?;
    let shift = match unit.to_ascii_uppercase().as_str() {
        "" | "B" => 0,
        "K" | "KB" | "KIB" => 10,
        "M" | "MB" | "MIB" => 20,
        "G" | "GB" | "GIB" => 30,
        "T" | "TB" | "TIB" => 40,
        _ => return Err(format!("invalid size '{s}': unknown unit '{unit}'")),
    };
    n.checked_mul(1u64 << shift)
        .ok_or_else(|| format!("invalid size '{s}': too large"))
}

/// What `statvfs` says about the file system of a directory.
#[derive(Debug, Clone, Copy)]
pub struct Space {
    pub total: u64,
    pub avail: u64,
    pub inodes: u64,
    pub inodes_avail: u64,
}

fn space(fd: &File) -> io::Result<Space> {
    let st = rustix::fs::fstatvfs(fd)?;
    let frsize = st.f_frsize;
    Ok(Space {
        total: st.f_blocks.saturating_mul(frsize),
        avail: st.f_bavail.saturating_mul(frsize),
        inodes: st.f_files,
        inodes_avail: st.f_favail,
    })
}

/// Counts what one writer makes and stops it at the limits.
#[derive(Debug)]
pub struct Meter {
    fd: File,
    dir: PathBuf,
    reserve: u64,
    inode_reserve: u64,
    max: Option<u64>,
    written: u64,
    apparent: u64,
    unchecked: u64,
    /// Files made since the last check.
    entries: u64,
}

impl Meter {
    /// A meter for writes into `dir` (checked at once: a file system already under its reserve
    /// refuses the first byte).
    pub fn new(dir: &Path, limits: Limits) -> io::Result<Meter> {
        let fd = File::open(dir)?;
        let s = space(&fd)?;
        let reserve = limits
            .min_free
            .unwrap_or_else(|| (s.total / 20).min(DEFAULT_RESERVE_MAX));
        let inode_reserve = (s.inodes / 20).min(65_536);
        let mut m = Meter {
            fd,
            dir: dir.to_path_buf(),
            reserve,
            inode_reserve,
            max: limits.max_size,
            written: 0,
            apparent: 0,
            unchecked: 0,
            entries: 0,
        };
        m.check(0).map_err(io::Error::other)?;
        Ok(m)
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// `data` bytes are about to be written, making the output `data + holes` bytes larger.
    pub fn add(&mut self, data: u64, holes: u64) -> Result<(), Stopped> {
        self.apparent = self.apparent.saturating_add(data).saturating_add(holes);
        if let Some(max) = self.max {
            if self.apparent > max {
                return Err(Stopped::TooLarge {
                    written: self.written,
                    max,
                });
            }
        }
        self.unchecked += data;
        if self.unchecked >= CHECK_EVERY {
            let need = self.unchecked;
            self.check(need)?;
        }
        self.written += data;
        Ok(())
    }

    /// One more file is about to be made.
    pub fn entry(&mut self) -> Result<(), Stopped> {
        self.entries += 1;
        if self.entries >= CHECK_EVERY_ENTRIES {
            self.entries = 0;
            self.check(0)?;
        }
        Ok(())
    }

    /// Stop if the next `need` bytes (at least [`CHECK_EVERY`]) could take the file system
    /// under its reserve.
    fn check(&mut self, need: u64) -> Result<(), Stopped> {
        self.unchecked = 0;
        // A failing statvfs on a directory we hold open does not happen; if it did, writing
        // on blind would be the worse choice.
        let s = space(&self.fd).map_err(|_| Stopped::Reserve {
            written: self.written,
            dir: self.dir.clone(),
            reserve: self.reserve,
            avail: 0,
        })?;
        if s.avail < self.reserve.saturating_add(need.max(CHECK_EVERY)) {
            return Err(Stopped::Reserve {
                written: self.written,
                dir: self.dir.clone(),
                reserve: self.reserve,
                avail: s.avail,
            });
        }
        if s.inodes > 0 && s.inodes_avail < self.inode_reserve.saturating_add(CHECK_EVERY_ENTRIES) {
            return Err(Stopped::Inodes {
                written: self.written,
                dir: self.dir.clone(),
                reserve: self.inode_reserve,
                avail: s.inodes_avail,
            });
        }
        Ok(())
    }
}

/// A writer whose every write is first counted by a [`Meter`]; a stop is an `io::Error`
/// holding the [`Stopped`] (see [`stopped`]).
pub struct MeteredWriter<W> {
    pub inner: W,
    pub meter: Meter,
}

impl<W: io::Write> io::Write for MeteredWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.meter
            .add(buf.len() as u64, 0)
            .map_err(io::Error::other)?;
        self.inner.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// The [`Stopped`] inside an `io::Error` made by [`Meter`] users with `io::Error::other`.
pub fn stopped(e: &io::Error) -> Option<&Stopped> {
    e.get_ref().and_then(|i| i.downcast_ref::<Stopped>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1024").unwrap(), 1024);
        assert_eq!(parse_size("1M").unwrap(), 1 << 20);
        assert_eq!(parse_size("2GiB").unwrap(), 2 << 30);
        assert_eq!(parse_size("3k").unwrap(), 3072);
        assert!(parse_size("1X").is_err());
        assert!(parse_size("").is_err());
        assert!(parse_size("99999999999T").is_err());
    }

    #[test]
    fn max_size_counts_holes() {
        let t = tempfile::tempdir().unwrap();
        let mut m = Meter::new(
            t.path(),
            Limits {
                min_free: Some(0),
                max_size: Some(10),
            },
        )
        .unwrap();
        m.add(4, 0).unwrap();
        assert_eq!(
            m.add(1, 100),
            Err(Stopped::TooLarge {
                written: 4,
                max: 10
            })
        );
    }

    #[test]
    fn an_impossible_reserve_stops_at_once() {
        let t = tempfile::tempdir().unwrap();
        let e = Meter::new(
            t.path(),
            Limits {
                min_free: Some(u64::MAX / 2),
                max_size: None,
            },
        )
        .unwrap_err();
        assert!(matches!(
            stopped(&e),
            Some(Stopped::Reserve { written: 0, .. })
        ));
    }
}
