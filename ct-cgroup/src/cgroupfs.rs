//! The cgroup filesystem itself (cgroups(7), "Creating cgroups and moving processes"): a cgroup
//! is a directory made with mkdir(2) and removed with rmdir(2) (only when it has no processes
//! and no child cgroups; its control files go with it). Control files are read and written
//! whole: a limit is set by writing its value (`O_WRONLY|O_TRUNC`, one write(2)), and the
//! kernel's refusal comes back as that write's errno. A process joins by writing its pid to
//! `cgroup.procs`.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::error::CgroupError;

/// Write `value` to the control file `path` in one write(2).
pub fn write(path: &Path, value: &str) -> Result<(), CgroupError> {
    let err = |source| CgroupError::Write {
        path: path.to_path_buf(),
        value: value.to_string(),
        source,
    };
    let mut f = OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(path)
        .map_err(err)?;
    f.write_all(value.as_bytes()).map_err(err)
}

/// The content of `path`, trimmed.
pub fn read(path: &Path) -> Result<String, CgroupError> {
    fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .map_err(|source| CgroupError::Read {
            path: path.to_path_buf(),
            source,
        })
}

/// The content of `path`, or `None` when the file does not exist (a controller feature this
/// kernel lacks, like `memory.peak` before Linux 5.19).
pub fn read_opt(path: &Path) -> Result<Option<String>, CgroupError> {
    match fs::read_to_string(path) {
        Ok(s) => Ok(Some(s.trim().to_string())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(CgroupError::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}

fn parse_err(path: &Path, content: &str) -> CgroupError {
    CgroupError::Parse {
        path: path.to_path_buf(),
        content: content.chars().take(80).collect(),
    }
}

/// A file holding one integer (or `max`, returned as `None`), if the file exists.
pub fn read_num(path: &Path) -> Result<Option<Option<i64>>, CgroupError> {
    let Some(s) = read_opt(path)? else {
        return Ok(None);
    };
    if s == "max" {
        return Ok(Some(None));
    }
    s.parse()
        .map(|n| Some(Some(n)))
        .map_err(|_| parse_err(path, &s))
}

/// The value of `key` in a flat-keyed file (`key value` per line: `memory.events`,
/// `cpu.stat`, `memory.oom_control`, `pids.events`), if the file and the key exist.
pub fn read_key(path: &Path, key: &str) -> Result<Option<i64>, CgroupError> {
    let Some(s) = read_opt(path)? else {
        return Ok(None);
    };
    for line in s.lines() {
        let mut f = line.split_whitespace();
        if f.next() == Some(key) {
            let v = f.next().unwrap_or_default();
            return v.parse().map(Some).map_err(|_| parse_err(path, line));
        }
    }
    Ok(None)
}

/// mkdir(2) `dir` and the missing directories above it (stopping at `root`, which must exist),
/// calling `made` on each one created, top first. Returns the topmost directory it created
/// (`None` if all existed); on failure, what it created is removed again.
pub fn mkdir_levels(
    root: &Path,
    dir: &Path,
    mut made: impl FnMut(&Path) -> Result<(), CgroupError>,
) -> Result<Option<PathBuf>, CgroupError> {
    let rel = dir.strip_prefix(root).unwrap_or(dir);
    let mut cur = root.to_path_buf();
    let mut top: Option<PathBuf> = None;
    let undo = |top: &Option<PathBuf>| {
        if let Some(t) = top {
            let _ = rmdir_tree(t, std::time::Duration::ZERO);
        }
    };
    for c in rel.components() {
        cur.push(c);
        match fs::create_dir(&cur) {
            Ok(()) => {
                if top.is_none() {
                    top = Some(cur.clone());
                }
                if let Err(e) = made(&cur) {
                    undo(&top);
                    return Err(e);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(source) => {
                undo(&top);
                return Err(CgroupError::Create {
                    path: cur.clone(),
                    source,
                });
            }
        }
    }
    Ok(top)
}

/// The pids in `dir/cgroup.procs` and in every cgroup below it.
pub fn procs_tree(dir: &Path, out: &mut Vec<i32>) -> Result<(), CgroupError> {
    let procs = dir.join("cgroup.procs");
    let Some(s) = read_opt(&procs)? else {
        return Ok(());
    };
    for l in s.lines() {
        out.push(l.trim().parse().map_err(|_| parse_err(&procs, l))?);
    }
    for sub in subdirs(dir)? {
        procs_tree(&sub, out)?;
    }
    Ok(())
}

/// The child cgroups of `dir` (none if `dir` vanished meanwhile).
pub fn subdirs(dir: &Path) -> Result<Vec<PathBuf>, CgroupError> {
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(vec![]),
        Err(source) => {
            return Err(CgroupError::Read {
                path: dir.to_path_buf(),
                source,
            })
        }
    };
    let mut out = Vec::new();
    for e in rd.flatten() {
        if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            out.push(e.path());
        }
    }
    Ok(out)
}

/// rmdir(2) `dir` and every cgroup below it, deepest first. A cgroup whose last process is
/// still exiting answers EBUSY for a moment, so EBUSY is retried for up to `wait`.
pub fn rmdir_tree(dir: &Path, wait: std::time::Duration) -> Result<(), CgroupError> {
    // The common case, a leaf whose processes are gone, is one rmdir(2); only a busy cgroup
    // (children, or tasks still exiting) is listed for child cgroups first.
    match fs::remove_dir(dir) {
        Ok(()) => return Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(_) => {}
    }
    for sub in subdirs(dir)? {
        rmdir_tree(&sub, wait)?;
    }
    let deadline = std::time::Instant::now() + wait;
    loop {
        match fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e)
                if e.raw_os_error() == Some(libc::EBUSY)
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            Err(source) => {
                return Err(CgroupError::Remove {
                    path: dir.to_path_buf(),
                    source,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_keys_and_numbers() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("memory.events");
        fs::write(&f, "low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\n").unwrap();
        assert_eq!(read_key(&f, "oom_kill").unwrap(), Some(1));
        assert_eq!(read_key(&f, "nope").unwrap(), None);
        assert_eq!(read_key(&d.path().join("absent"), "x").unwrap(), None);
        let n = d.path().join("pids.max");
        fs::write(&n, "max\n").unwrap();
        assert_eq!(read_num(&n).unwrap(), Some(None));
        write(&n, "20").unwrap();
        assert_eq!(read_num(&n).unwrap(), Some(Some(20)));
        fs::write(&n, "garbage").unwrap();
        assert!(matches!(read_num(&n), Err(CgroupError::Parse { .. })));
        let e = write(&d.path().join("no/such"), "1")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("cannot write '1' to '"), "{e}");
    }

    #[test]
    fn mkdir_levels_reports_new_levels_top_first() {
        let d = tempfile::tempdir().unwrap();
        fs::create_dir(d.path().join("a")).unwrap();
        let mut seen = vec![];
        let top = mkdir_levels(d.path(), &d.path().join("a/b/c"), |p| {
            seen.push(p.strip_prefix(d.path()).unwrap().to_path_buf());
            Ok(())
        })
        .unwrap();
        assert_eq!(top, Some(d.path().join("a/b")));
        assert_eq!(seen, [PathBuf::from("a/b"), PathBuf::from("a/b/c")]);
        assert_eq!(
            mkdir_levels(d.path(), &d.path().join("a/b/c"), |_| Ok(())).unwrap(),
            None
        );
        // A failing step undoes the levels this call made, and only those.
        let e = mkdir_levels(d.path(), &d.path().join("a/x/y"), |p| {
            if p.ends_with("y") {
                Err(CgroupError::NotFound { path: "y".into() })
            } else {
                Ok(())
            }
        });
        assert!(e.is_err());
        assert!(!d.path().join("a/x").exists() && d.path().join("a/b/c").exists());
        rmdir_tree(&d.path().join("a"), std::time::Duration::ZERO).unwrap();
        assert!(!d.path().join("a").exists());
    }
}
