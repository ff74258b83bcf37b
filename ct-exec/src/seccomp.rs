//! seccomp: the OCI `linux.seccomp` profile compiled to a classic BPF program and installed
//! with seccomp(2) — see seccomp(2), seccomp_rule_add(3), and the runtime spec's
//! `config-linux.md#seccomp`.
//!
//! The kernel runs the filter on every syscall the process makes. Its input is
//! `struct seccomp_data { nr, arch, instruction_pointer, args[6] }`; its output is one 32-bit
//! action (`SECCOMP_RET_KILL_PROCESS`, `..._TRAP`, `..._ERRNO | errno`, `..._TRACE | value`,
//! `..._LOG`, `..._ALLOW`). A filter is inherited across fork and execve and can never be
//! removed, only stacked, so it is the very last thing a runtime adds before execve.
//!
//! Steps, in order:
//! 1. [`compile`] (in ct-exec's parent, before clone, so the child allocates nothing):
//!    libseccomp builds the filter. It checks `seccomp_data.arch` first (the native
//!    architecture plus each one in `architectures`; any other arch is killed), dispatches on
//!    the syscall number *for that arch* (syscall numbers differ between x86_64, i386 and x32,
//!    which is why names are resolved per architecture), and splits every 64-bit argument
//!    comparison into two 32-bit BPF comparisons (BPF registers are 32-bit).
//!    The rules follow runc's reading of the spec: a name this libseccomp does not know on the
//!    native arch is skipped (listed in [`Program::skipped_syscalls`]); a rule whose action
//!    equals the default action is redundant and dropped; the `args` of one rule are ANDed,
//!    unless two of them test the same argument index — then each becomes its own rule (ORed),
//!    which is how docker's profile writes "personality(0) or personality(8) or ...".
//!    The program is then exported as raw BPF (`seccomp_export_bpf`) into memory, and, when
//!    the default action refuses, a short stub goes in front that answers ENOSYS for syscalls
//!    newer than any the profile names (runc does the same; see `seccomp/enosys_stub.rs`).
//!    The translation of the profile's rules is in `seccomp/rules.rs`.
//!    [`compile_cached`] does the same through a cache of compiled programs (a file per
//!    profile under `$CT_RUN/seccomp`), because libseccomp needs milliseconds for a big profile.
//! 2. [`install`] (in the child, after everything else and just before execve):
//!    `seccomp(SECCOMP_SET_MODE_FILTER, flags, &sock_fprog)` with the profile's `flags`, or
//!    `prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER)` on a kernel without seccomp(2) (only when no
//!    flag is asked for: prctl cannot carry flags). The kernel accepts a filter only from a
//!    task with `no_new_privs` set or `CAP_SYS_ADMIN` in its user namespace.
//!
//! Why libseccomp (the `libseccomp` crate over Debian's `libseccomp-dev`) and not firecracker's
//! pure-Rust `seccompiler`: seccompiler has one match action per filter and only the native
//! x86_64/aarch64 arch, while OCI profiles give every rule its own action and errno (docker's
//! profile returns ENOSYS for clone3 and EPERM by default) and list extra architectures (i386,
//! x32). libseccomp is what runc and crun use, so our BPF matches theirs.
//!
//! Supported: every action except `SCMP_ACT_NOTIFY` (which needs a seccomp agent on
//! `listenerPath`; it is an error naming it), every `SCMP_CMP_*` operator, the flags
//! `SECCOMP_FILTER_FLAG_TSYNC`, `_LOG` and `_SPEC_ALLOW`, and every architecture in the runtime
//! spec of the host's byte order (on x86_64: X86_64, X86, X32, ARM, AARCH64, MIPSEL*, PPC64LE,
//! RISCV64). An architecture of the other byte order (MIPS, MIPS64*, PPC, PPC64, S390, S390X on
//! x86_64) cannot be in the same filter; it can never run here either, so it is skipped and
//! listed in [`Program::skipped_architectures`] for a warning. Unknown action/operator/arch/flag
//! *names* never reach this module: the typed `oci_spec` parser rejects the config with
//! "unknown variant `NAME`".

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};

use libseccomp::{ScmpArch, ScmpFilterContext};
use oci_spec::runtime::LinuxSeccomp;

use rules::{action, add_rules, arch_name, build_context, filter_flags, scmp_arch};

/// The kernel's limit on a classic BPF program (`BPF_MAXINSNS`).
const BPF_MAXINSNS: usize = 4096;
/// A syscall has at most six arguments (`seccomp_data.args[6]`).
const SYSCALL_ARGS: usize = 6;
/// `SECCOMP_RET_DATA` is 16 bits wide: the errno (or trace value) must fit.
const RET_DATA_MAX: u32 = 0xffff;
/// seccomp(2) `SECCOMP_FILTER_FLAG_*` bits (<linux/seccomp.h>).
const FLAG_TSYNC: u64 = 1;
const FLAG_LOG: u64 = 1 << 1;
const FLAG_SPEC_ALLOW: u64 = 1 << 2;
/// EPERM, the errno runc and docker use when a profile gives none.
const DEFAULT_ERRNO: u32 = libc::EPERM as u32;

/// Everything that can go wrong compiling or installing a profile. Compile errors name the
/// syscall, action or architecture at fault; install errors carry the kernel's errno.
#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    #[error(
        "seccomp action SCMP_ACT_NOTIFY (for {0}) is not supported: it needs a seccomp agent \
         on linux.seccomp.listenerPath, which ct-exec does not run"
    )]
    NotifyUnsupported(String),
    #[error("seccomp rule for '{syscall}': argument index {index} is out of range (0-5)")]
    ArgIndex { syscall: String, index: usize },
    #[error("seccomp errno/trace value {value} for {what} does not fit in 16 bits")]
    RetData { what: String, value: u32 },
    #[error("cannot create a seccomp filter with default action {action}")]
    Context {
        action: String,
        #[source]
        source: libseccomp::error::SeccompError,
    },
    #[error("cannot add seccomp architecture {arch}")]
    Arch {
        arch: String,
        #[source]
        source: libseccomp::error::SeccompError,
    },
    #[error("cannot add seccomp rule {action} for syscall '{syscall}'")]
    Rule {
        syscall: String,
        action: String,
        #[source]
        source: libseccomp::error::SeccompError,
    },
    #[error("cannot create a memfd to export the seccomp BPF program")]
    Memfd(#[source] io::Error),
    #[error("cannot export the seccomp filter as BPF")]
    Export(#[source] libseccomp::error::SeccompError),
    #[error("cannot read back the exported seccomp BPF program")]
    ReadBack(#[source] io::Error),
    #[error("seccomp BPF program has {0} instructions; the kernel accepts at most 4096")]
    TooLong(usize),
    #[error("cannot install the seccomp filter")]
    Install(#[source] io::Error),
    #[error("cannot install the seccomp filter: thread {0} could not be synchronized (TSYNC)")]
    Tsync(i64),
    #[error(
        "cannot install the seccomp filter: seccomp(2) is missing and prctl cannot pass flags"
    )]
    FlagsNeedSeccompSyscall,
}

impl SeccompError {
    /// A `hint:` line for the kernel gotchas behind an install error, if one applies.
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            SeccompError::Install(e) if e.raw_os_error() == Some(libc::EACCES) => Some(
                "the kernel accepts a seccomp filter only with no_new_privs or CAP_SYS_ADMIN: \
                 set process.noNewPrivileges, or install the filter before dropping CAP_SYS_ADMIN",
            ),
            SeccompError::Install(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                Some("this kernel does not know a flag in linux.seccomp.flags")
            }
            SeccompError::Tsync(_) | SeccompError::FlagsNeedSeccompSyscall => {
                Some("drop linux.seccomp.flags, which this kernel cannot apply")
            }
            _ => None,
        }
    }
}

/// A compiled filter: classic BPF ready for seccomp(2), plus the flags to pass with it.
///
/// Cheap to move into a child: installing it ([`install`]) allocates nothing.
#[derive(Clone)]
pub struct Program {
    filter: Vec<libc::sock_filter>,
    flags: u64,
    rules: usize,
    skipped: Vec<String>,
    skipped_arches: Vec<String>,
}

impl Program {
    /// The BPF instructions, in the order the kernel runs them.
    pub fn instructions(&self) -> &[libc::sock_filter] {
        &self.filter
    }

    /// `SECCOMP_FILTER_FLAG_*` bits that [`install`] passes to seccomp(2).
    pub fn flags(&self) -> u64 {
        self.flags
    }

    /// How many libseccomp rules were added (one per resolved syscall name and OR-branch).
    pub fn rule_count(&self) -> usize {
        self.rules
    }

    /// Syscall names the profile lists that this libseccomp does not know on the native
    /// architecture; skipped like runc does (print them at debug level if you like).
    pub fn skipped_syscalls(&self) -> &[String] {
        &self.skipped
    }

    /// Architectures from `architectures` that cannot share a filter with this host's (an ABI
    /// of the other byte order, e.g. SCMP_ARCH_S390X on x86_64: libseccomp refuses it with
    /// EDOM). No process of that ABI can run here, so nothing is lost; print a warning.
    pub fn skipped_architectures(&self) -> &[String] {
        &self.skipped_arches
    }
}

impl std::fmt::Debug for Program {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Program")
            .field("instructions", &self.filter.len())
            .field("flags", &self.flags)
            .field("rules", &self.rules)
            .field("skipped", &self.skipped)
            .field("skipped_arches", &self.skipped_arches)
            .finish()
    }
}

/// Compile an OCI seccomp profile to BPF. Call it in the parent, before clone/fork.
///
/// Errors: `SCMP_ACT_NOTIFY`, an argument index above 5, an errno above 65535, a rule
/// libseccomp refuses (each naming the syscall), or a program longer than the kernel accepts.
pub fn compile(profile: &LinuxSeccomp) -> Result<Program, SeccompError> {
    let (mut ctx, skipped_arches) = build_context(profile)?;
    let (mut rules, mut skipped) = (0usize, Vec::new());
    add_rules(&mut ctx, profile, &mut rules, &mut skipped)?;
    let mut filter = export_bpf(&ctx)?;
    let default = action(
        profile.default_action(),
        profile.default_errno_ret(),
        "the default action",
    )?;
    if enosys_stub::wanted(default) {
        let mut arches = vec![ScmpArch::native()];
        arches.extend(
            profile
                .architectures()
                .iter()
                .flatten()
                .filter(|a| !skipped_arches.iter().any(|s| s == arch_name(**a)))
                .map(|a| scmp_arch(*a)),
        );
        let names = profile
            .syscalls()
            .iter()
            .flatten()
            .flat_map(|r| r.names().iter().map(String::as_str));
        let mut stub = enosys_stub::stub(&arches, names);
        stub.append(&mut filter);
        filter = stub;
    }
    if filter.len() > BPF_MAXINSNS {
        return Err(SeccompError::TooLong(filter.len()));
    }
    Ok(Program {
        filter,
        flags: filter_flags(profile),
        rules,
        skipped,
        skipped_arches,
    })
}

/// libseccomp's own text rendering of the filter ("pseudo filter code", seccomp_export_pfc(3)):
/// for humans and tests reading what [`compile`] builds. Not needed to run a container.
pub fn pseudo_code(profile: &LinuxSeccomp) -> Result<String, SeccompError> {
    let (mut ctx, _) = build_context(profile)?;
    let (mut rules, mut skipped) = (0, Vec::new());
    add_rules(&mut ctx, profile, &mut rules, &mut skipped)?;
    let mut file = memfd()?;
    ctx.export_pfc(&file).map_err(SeccompError::Export)?;
    let mut text = String::new();
    file.seek(SeekFrom::Start(0))
        .and_then(|_| file.read_to_string(&mut text))
        .map_err(SeccompError::ReadBack)?;
    Ok(text)
}

/// Install a compiled filter on the calling thread. Call it in the container's child as the
/// LAST step before execve (after pivot_root, mounts, setuid/setgid, capabilities and
/// `prctl(PR_SET_NO_NEW_PRIVS)`), because from here on every syscall passes the filter.
///
/// The kernel requires `no_new_privs` or `CAP_SYS_ADMIN` (in the current user namespace). When
/// the config has `noNewPrivileges: false` and the process drops CAP_SYS_ADMIN, call this
/// before dropping capabilities instead (as runc does); the remaining syscalls (capset,
/// setresuid, execve, ...) must then be allowed by the profile — docker's default allows them.
///
/// Async-signal-safe: makes one syscall (two on a kernel without seccomp(2)) and allocates
/// nothing, so it is fine after clone in a multi-threaded parent.
pub fn install(program: &Program) -> Result<(), SeccompError> {
    let prog = libc::sock_fprog {
        // compile() refused programs longer than BPF_MAXINSNS, so this fits a u16.
        len: program.filter.len() as libc::c_ushort,
        filter: program.filter.as_ptr().cast_mut(),
    };
    // SAFETY: `prog` points at `program.filter`, which outlives the call; the kernel copies the
    // program and only reads through the pointer.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            // Only the three SECCOMP_FILTER_FLAG_* bits: fits a c_ulong everywhere.
            program.flags as libc::c_ulong,
            &prog as *const libc::sock_fprog,
        )
    };
    if rc == 0 {
        return Ok(());
    }
    if rc > 0 {
        // With TSYNC the kernel returns the id of the thread it could not synchronize.
        return Err(SeccompError::Tsync(rc));
    }
    let err = io::Error::last_os_error();
    if err.raw_os_error() != Some(libc::ENOSYS) {
        return Err(SeccompError::Install(err));
    }
    // A kernel before 3.17 has no seccomp(2): prctl installs the same program, without flags.
    if program.flags != 0 {
        return Err(SeccompError::FlagsNeedSeccompSyscall);
    }
    // SAFETY: as above; PR_SET_SECCOMP reads the sock_fprog and copies the program.
    let rc = unsafe {
        libc::prctl(
            libc::PR_SET_SECCOMP,
            libc::SECCOMP_MODE_FILTER,
            &prog as *const libc::sock_fprog,
            0,
            0,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(SeccompError::Install(io::Error::last_os_error()))
    }
}

/// An anonymous in-memory file: libseccomp 2.5 exports only to a file descriptor
/// (seccomp_export_bpf_mem arrived in 2.6), and a pipe could fill up and block.
fn memfd() -> Result<File, SeccompError> {
    let fd = rustix::fs::memfd_create("ct-seccomp", rustix::fs::MemfdFlags::CLOEXEC)
        .map_err(|e| SeccompError::Memfd(e.into()))?;
    Ok(File::from(fd))
}

/// seccomp_export_bpf(3) writes `struct sock_filter` records in host byte order.
fn export_bpf(ctx: &ScmpFilterContext) -> Result<Vec<libc::sock_filter>, SeccompError> {
    let mut file = memfd()?;
    ctx.export_bpf(&file).map_err(SeccompError::Export)?;
    let mut bytes = Vec::new();
    file.seek(SeekFrom::Start(0))
        .and_then(|_| file.read_to_end(&mut bytes))
        .map_err(SeccompError::ReadBack)?;
    let size = std::mem::size_of::<libc::sock_filter>();
    if bytes.len() % size != 0 {
        return Err(SeccompError::ReadBack(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "{} bytes is not a whole number of BPF instructions",
                bytes.len()
            ),
        )));
    }
    Ok(bytes
        .chunks_exact(size)
        .map(|c| libc::sock_filter {
            code: u16::from_ne_bytes([c[0], c[1]]),
            jt: c[2],
            jf: c[3],
            k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
        })
        .collect())
}

mod bpf_cache;
mod enosys_stub;
mod rules;
pub use bpf_cache::{cache_path, compile_cached};

#[cfg(test)]
mod bpf_eval;

#[cfg(test)]
mod tests;
