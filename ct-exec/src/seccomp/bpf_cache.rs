//! A cache of compiled seccomp programs, so a container start does not pay libseccomp's
//! compile time (about 7 ms for docker's default profile over x86_64 + i386 + x32) again and
//! again for the same profile. crun keeps such a cache too.
//!
//! Steps:
//! 1. Key: sha256 of the profile's JSON, the libseccomp version, the identity of the loaded
//!    libseccomp object (path, size, mtime — Debian patches syscall tables without bumping the
//!    version) and of the running executable (a new ct-exec may compile differently), the
//!    architecture ct was built for and this file format's version.
//! 2. Hit: `DIR/<key>.bpf` is read and checked (magic, lengths); a file that does not check out
//!    is treated as a miss and replaced.
//! 3. Miss: [`super::compile`], then the program is written with `ct_layout::atomic` (temp file,
//!    fsync, rename), so a crash never leaves a torn program for the next start to load.
//! 4. After a miss, the cache is bounded: each new profile and each new build of ct-exec adds
//!    an entry (~11 KB for docker's default profile, on a tmpfs: memory) that nothing else
//!    would ever remove. Beyond [`KEEP`] entries the oldest written go, and so do temp files
//!    a crash left (older than [`STALE`]; a younger one may be a concurrent miss's).
//!
//! The cache is only an optimization: failing to write it costs time next start, never the
//! run. It belongs under `$CT_RUN` (tmpfs, root only) — whoever can write there can already
//! change containers' configs.

use std::ffi::CStr;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use oci_spec::runtime::LinuxSeccomp;

use super::{compile, Program, SeccompError};

const MAGIC: &[u8; 8] = b"CTSECCMP";
const FORMAT: u32 = 4;
const HEADER: usize = 8 + 4 + 8 + 8 + 4 + 4;
const INSN: usize = 8;
/// Step 4: entries kept (a machine's distinct profiles times the builds it keeps around).
pub const KEEP: usize = 64;
/// Step 4: age after which a temp file is a crash's leftover.
const STALE: Duration = Duration::from_secs(60);

/// Like [`compile`], but through a cache of compiled programs in `dir` (created if missing;
/// use `Store::from_env().run.join("seccomp")`). Returns the same [`Program`] `compile` would.
pub fn compile_cached(profile: &LinuxSeccomp, dir: &Path) -> Result<Program, SeccompError> {
    let Some(path) = cache_path(profile, dir) else {
        return compile(profile);
    };
    if let Some(program) = std::fs::read(&path).ok().and_then(|b| decode(&b)) {
        return Ok(program);
    }
    let program = compile(profile)?;
    // Best effort, see the module note.
    let _ = ct_layout::atomic::write(&path, &encode(&program));
    prune(dir, KEEP);
    Ok(program)
}

/// Step 4. Entries go oldest first by modification time, which is when they were written
/// (a hit does not write). Symlinks and directories are left alone, as is anything a
/// concurrent start removed first.
fn prune(dir: &Path, keep: usize) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let now = SystemTime::now();
    let mut programs = Vec::new();
    for e in entries.flatten() {
        // lstat(2): a symlink is not a file here.
        let Ok(meta) = e.metadata() else { continue };
        if !meta.is_file() {
            continue;
        }
        let written = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
        let name = e.file_name();
        let name = name.as_encoded_bytes();
        if name.starts_with(b".tmp-") {
            if now.duration_since(written).is_ok_and(|age| age > STALE) {
                let _ = std::fs::remove_file(e.path());
            }
        } else if name.ends_with(b".bpf") {
            programs.push((written, e.path()));
        }
    }
    if programs.len() > keep {
        programs.sort();
        for (_, path) in &programs[..programs.len() - keep] {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// `DIR/<sha256 hex>.bpf`, or None when the profile cannot be serialized (then: no cache).
pub fn cache_path(profile: &LinuxSeccomp, dir: &Path) -> Option<PathBuf> {
    let mut key = Vec::with_capacity(16 * 1024);
    key.extend_from_slice(b"ct-seccomp-cache\0");
    key.extend_from_slice(&FORMAT.to_le_bytes());
    key.extend_from_slice(std::env::consts::ARCH.as_bytes());
    key.push(0);
    if let Ok(v) = libseccomp::ScmpVersion::current() {
        key.extend_from_slice(format!("{}.{}.{}\0", v.major, v.minor, v.micro).as_bytes());
    }
    key.extend_from_slice(library_identity().as_bytes());
    key.push(0);
    // The program that compiles (ct-exec itself): a new build may compile differently.
    key.extend_from_slice(file_identity("/proc/self/exe").as_bytes());
    key.push(0);
    key.extend_from_slice(&serde_json::to_vec(profile).ok()?);
    let digest = ct_layout::Digest::of(&key);
    Some(dir.join(format!("{}.bpf", digest.hex())))
}

/// Path, size and mtime of the object that holds libseccomp's syscall tables (the shared
/// library, or the executable itself when linked statically).
fn library_identity() -> String {
    // SAFETY: dlsym with RTLD_DEFAULT and a NUL-terminated name only looks the symbol up;
    // an all-zero Dl_info is a valid value for dladdr to fill in, given an address inside a
    // loaded object and a valid out-pointer; dli_fname, when set, is a NUL-terminated string
    // owned by the loader, copied before the block ends.
    let name = unsafe {
        let sym = libc::dlsym(libc::RTLD_DEFAULT, c"seccomp_syscall_resolve_name".as_ptr());
        let mut info: libc::Dl_info = std::mem::zeroed();
        if sym.is_null() || libc::dladdr(sym, &mut info) == 0 || info.dli_fname.is_null() {
            return String::new();
        }
        CStr::from_ptr(info.dli_fname)
            .to_string_lossy()
            .into_owned()
    };
    let path = if name.is_empty() {
        "/proc/self/exe".to_string()
    } else {
        name
    };
    file_identity(&path)
}

/// `path:inode:size:mtime` (following symlinks), or just the path if it cannot be read.
fn file_identity(path: &str) -> String {
    match std::fs::metadata(path) {
        Ok(m) => format!(
            "{path}:{}:{}:{}.{}",
            m.ino(),
            m.size(),
            m.mtime(),
            m.mtime_nsec()
        ),
        Err(_) => path.to_string(),
    }
}

fn encode(p: &Program) -> Vec<u8> {
    // Skipped syscall names, NUL, skipped architectures; each list one per line.
    let skipped = format!("{}\0{}", p.skipped.join("\n"), p.skipped_arches.join("\n"));
    let mut out = Vec::with_capacity(HEADER + p.filter.len() * INSN + skipped.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT.to_le_bytes());
    out.extend_from_slice(&p.flags.to_le_bytes());
    out.extend_from_slice(&(p.rules as u64).to_le_bytes());
    out.extend_from_slice(&(p.filter.len() as u32).to_le_bytes());
    out.extend_from_slice(&(skipped.len() as u32).to_le_bytes());
    for i in &p.filter {
        out.extend_from_slice(&i.code.to_le_bytes());
        out.push(i.jt);
        out.push(i.jf);
        out.extend_from_slice(&i.k.to_le_bytes());
    }
    out.extend_from_slice(skipped.as_bytes());
    out
}

fn decode(b: &[u8]) -> Option<Program> {
    let u32_at = |o: usize| Some(u32::from_le_bytes(b.get(o..o + 4)?.try_into().ok()?));
    let u64_at = |o: usize| Some(u64::from_le_bytes(b.get(o..o + 8)?.try_into().ok()?));
    if b.get(..8)? != MAGIC || u32_at(8)? != FORMAT {
        return None;
    }
    let flags = u64_at(12)?;
    let rules = usize::try_from(u64_at(20)?).ok()?;
    let count = u32_at(28)? as usize;
    let skipped_len = u32_at(32)? as usize;
    if count == 0 || count > super::BPF_MAXINSNS || b.len() != HEADER + count * INSN + skipped_len {
        return None;
    }
    let filter = b[HEADER..HEADER + count * INSN]
        .chunks_exact(INSN)
        .map(|c| libc::sock_filter {
            code: u16::from_le_bytes([c[0], c[1]]),
            jt: c[2],
            jf: c[3],
            k: u32::from_le_bytes([c[4], c[5], c[6], c[7]]),
        })
        .collect();
    let text = std::str::from_utf8(&b[HEADER + count * INSN..]).ok()?;
    let (skipped, skipped_arches) = text.split_once('\0')?;
    let lines = |t: &str| -> Vec<String> {
        t.split('\n')
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect()
    };
    Some(Program {
        filter,
        flags,
        rules,
        skipped: lines(skipped),
        skipped_arches: lines(skipped_arches),
    })
}
