//! `/proc/self/mountinfo` (proc(5), "/proc/pid/mountinfo"): one line per mount the process
//! sees, in its mount namespace:
//!
//! ```text
//! 36 35 98:0 /mnt1 /mnt/parent rw,noatime master:1 - ext3 /dev/root rw,errors=continue
//! (1)(2) (3)   (4)      (5)         (6)       (7)  (8) (9)    (10)        (11)
//! ```
//!
//! (1) mount id, (2) parent id, (3) `major:minor` of the filesystem, (4) root of the mount
//! within its filesystem, (5) mount point, (6) per-mount options, (7) zero or more optional
//! fields (`shared:N`, `master:N`, `propagate_from:N`, `unbindable`), (8) a lone `-` ending
//! them, (9) filesystem type (`fuse.sshfs` carries a subtype), (10) source, (11) per-superblock
//! options. Fields are separated by single spaces; the kernel writes a space, tab, newline or
//! backslash inside a field as an octal escape (`\040`, `\011`, `\012`, `\134`), so splitting on
//! spaces is safe and the escapes must be decoded before a field is used as a path.
//!
//! This is the one parser of that format in the workspace; callers (cgroup hierarchy
//! detection, stale mount search, …) keep their own logic on top of [`MountInfo`].

use std::ffi::OsString;
use std::io;
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;

/// One line of mountinfo, every field decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountInfo {
    pub mount_id: u32,
    pub parent_id: u32,
    pub major: u32,
    pub minor: u32,
    /// The directory of the filesystem that is mounted (`/` unless a bind mount of a subtree).
    pub root: PathBuf,
    pub mount_point: PathBuf,
    /// Per-mount options (`rw,nosuid,relatime`).
    pub options: String,
    /// Optional fields (`shared:9`, `master:1`, …), in order.
    pub optional: Vec<String>,
    pub fs_type: String,
    pub source: String,
    /// Per-superblock options (`rw,cpu,cpuacct` for a v1 cgroup hierarchy).
    pub super_options: String,
}

impl MountInfo {
    /// The per-mount options, one by one.
    pub fn options(&self) -> impl Iterator<Item = &str> {
        self.options.split(',')
    }

    /// The per-superblock options, one by one.
    pub fn super_options(&self) -> impl Iterator<Item = &str> {
        self.super_options.split(',')
    }
}

/// Undo mountinfo's octal escapes (`\040` is a space, `\134` a backslash). A backslash not
/// followed by three octal digits is kept as it is.
pub fn unescape(field: &str) -> Vec<u8> {
    let b = field.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 4 <= b.len() {
            let digits = &b[i + 1..i + 4];
            if digits.iter().all(|d| (b'0'..=b'7').contains(d)) {
                let v = digits.iter().fold(0u32, |a, d| a * 8 + u32::from(d - b'0'));
                if let Ok(v) = u8::try_from(v) {
                    out.push(v);
                    i += 4;
                    continue;
                }
            }
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

fn path(field: &str) -> PathBuf {
    PathBuf::from(OsString::from_vec(unescape(field)))
}

fn text(field: &str) -> String {
    String::from_utf8_lossy(&unescape(field)).into_owned()
}

/// Parse one line; `None` when it does not have mountinfo's shape.
pub fn parse_line(line: &str) -> Option<MountInfo> {
    let fields: Vec<&str> = line.trim_end_matches('\n').split(' ').collect();
    // Six fixed fields, the optional ones, then "-" and three more.
    let dash = 6 + fields.get(6..)?.iter().position(|f| *f == "-")?;
    let [fs_type, source, super_options] = fields.get(dash + 1..)? else {
        return None;
    };
    let (major, minor) = fields[2].split_once(':')?;
    Some(MountInfo {
        mount_id: fields[0].parse().ok()?,
        parent_id: fields[1].parse().ok()?,
        major: major.parse().ok()?,
        minor: minor.parse().ok()?,
        root: path(fields[3]),
        mount_point: path(fields[4]),
        options: fields[5].to_string(),
        optional: fields[6..dash].iter().map(|f| f.to_string()).collect(),
        fs_type: text(fs_type),
        source: text(source),
        super_options: text(super_options),
    })
}

/// Every well-formed line of `text`, in order (malformed lines are skipped).
pub fn parse(text: &str) -> Vec<MountInfo> {
    text.lines().filter_map(parse_line).collect()
}

/// The mounts this process sees.
pub fn read_self() -> io::Result<Vec<MountInfo>> {
    Ok(parse(&std::fs::read_to_string("/proc/self/mountinfo")?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::ffi::OsStrExt;

    #[test]
    fn reads_every_field_of_the_man_page_example() {
        let m = parse_line(
            "36 35 98:0 /mnt1 /mnt/parent rw,noatime master:1 - ext3 /dev/root rw,errors=continue",
        )
        .unwrap();
        assert_eq!(
            m,
            MountInfo {
                mount_id: 36,
                parent_id: 35,
                major: 98,
                minor: 0,
                root: "/mnt1".into(),
                mount_point: "/mnt/parent".into(),
                options: "rw,noatime".into(),
                optional: vec!["master:1".into()],
                fs_type: "ext3".into(),
                source: "/dev/root".into(),
                super_options: "rw,errors=continue".into(),
            }
        );
        assert_eq!(m.options().collect::<Vec<_>>(), ["rw", "noatime"]);
    }

    #[test]
    fn optional_fields_may_be_none_or_many() {
        let none = parse_line("31 23 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw,mode=755").unwrap();
        assert!(none.optional.is_empty());
        assert_eq!(none.fs_type, "tmpfs");
        let many =
            parse_line("1 0 0:1 / / rw shared:1 master:2 propagate_from:3 - ext4 /d rw").unwrap();
        assert_eq!(many.optional, ["shared:1", "master:2", "propagate_from:3"]);
        assert_eq!(many.super_options, "rw");
    }

    #[test]
    fn decodes_octal_escapes_in_paths() {
        let m =
            parse_line(r"50 23 0:40 /a\134b /mnt/my\040cg\011x rw - cgroup cg\040src rw,freezer")
                .unwrap();
        assert_eq!(m.mount_point, PathBuf::from("/mnt/my cg\tx"));
        assert_eq!(m.root, PathBuf::from(r"/a\b"));
        assert_eq!(m.source, "cg src");
        // Bytes that are not UTF-8 survive in paths.
        let m = parse_line(r"1 0 0:1 / /x\377 rw - tmpfs t rw").unwrap();
        assert_eq!(m.mount_point.as_os_str().as_bytes(), b"/x\xff");
        // A backslash without three octal digits, or past 255, stays as written.
        assert_eq!(unescape(r"a\9b\4"), br"a\9b\4");
        assert_eq!(unescape(r"\777"), br"\777");
    }

    #[test]
    fn a_hyphen_inside_a_path_is_not_the_separator() {
        let m = parse_line("2 1 0:3 / /a\\040-\\040b rw - tmpfs none rw").unwrap();
        assert_eq!(m.mount_point, PathBuf::from("/a - b"));
        let m = parse_line("2 1 0:3 / /- rw - tmpfs none rw").unwrap();
        assert_eq!(m.mount_point, PathBuf::from("/-"));
        assert_eq!(m.fs_type, "tmpfs");
    }

    #[test]
    fn malformed_lines_are_skipped() {
        for bad in [
            "",
            "garbage",
            "1 0 0:1 / / rw ext4 /d rw",
            "1 0 0:1 / / rw - ext4 /d",
            "1 0 0:1 / / rw - ext4 /d rw extra",
            "x 0 0:1 / / rw - ext4 /d rw",
            "1 0 01 / / rw - ext4 /d rw",
        ] {
            assert_eq!(parse_line(bad), None, "{bad:?}");
        }
        let text = "garbage\n1 0 0:1 / / rw - ext4 /d rw\n";
        assert_eq!(parse(text).len(), 1);
    }

    #[test]
    fn this_process_sees_its_root() {
        let mounts = read_self().unwrap();
        assert!(mounts
            .iter()
            .any(|m| m.mount_point == std::path::Path::new("/")));
    }
}
