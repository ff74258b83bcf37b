//! The default seccomp profile: docker's (moby `profiles/seccomp/default.json`) semantics,
//! written out as an OCI runtime-spec `linux.seccomp` value for ct-unpack's default config.
//!
//! How docker's profile reads, and how it is resolved here:
//! 1. `defaultAction: SCMP_ACT_ERRNO` with `defaultErrnoRet: 1`: any syscall not listed fails
//!    with EPERM (the program sees "not permitted", never a kill).
//! 2. An allowlist of about 360 syscall names that ordinary programs need (docker's, plus the
//!    newer harmless ones recent moby added: cachestat, fchmodat2, futex_wait/wake/requeue,
//!    map_shadow_stack). A syscall newer than all of them gets ENOSYS from ct-exec's filter
//!    (as from runc), so libc falls back instead of failing with EPERM. Names of other
//!    architectures (`chown32`, `_llseek`, `socketcall`, ...) stay in: the filter also covers the
//!    32-bit ABIs of the host (an x86_64 host runs i386 and x32 binaries), and a runtime skips
//!    a name its libseccomp does not know.
//! 3. Argument-conditioned rules: `personality` only with the five harmless personas (so
//!    nobody turns ASLR off), `socket` with any family but AF_VSOCK, and `clone` only without
//!    namespace-creating flags (`(flags & 0x7E020000) == 0`); `clone3` answers ENOSYS (its
//!    flags live in a struct that BPF cannot read, so libc falls back to `clone`).
//! 4. docker's format has `includes`/`excludes` on capabilities, architectures and kernel
//!    versions, which the OCI format lacks. They are resolved here for docker's default
//!    capability set (CHOWN DAC_OVERRIDE FSETID FOWNER MKNOD NET_RAW SETGID SETUID SETFCAP
//!    SETPCAP NET_BIND_SERVICE SYS_CHROOT KILL AUDIT_WRITE): of the capability-gated rules only
//!    `chroot` (SYS_CHROOT) is in; `mount`, `unshare`, `setns`, `bpf`, `kcmp`,
//!    `open_by_handle_at`, module loading, `reboot`, clock setting and so on stay out. The
//!    architecture-gated names are those of the architecture ct is built for, and the
//!    minimum-kernel rule (`ptrace` since 4.8) is in, as ct needs newer kernels anyway.
//!    `keyctl`, `add_key` and `request_key` are not in docker's list either (the keyring is not
//!    namespaced).
//!
//! Pure data: no syscalls, so it can be computed anywhere (and compared in tests).

use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompArgBuilder,
    LinuxSeccompOperator, LinuxSyscall,
};

/// EPERM: what a syscall outside the profile returns.
const EPERM: u32 = 1;
/// ENOSYS: what clone3 returns, so that libc falls back to clone (which BPF can inspect).
const ENOSYS: u32 = 38;
/// CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID
/// | CLONE_NEWNET: clone may create threads and processes, not namespaces.
const CLONE_NAMESPACE_FLAGS: u64 = 0x7E02_0000;
/// AF_VSOCK: sockets to the hypervisor are not for containers.
const AF_VSOCK: u64 = 40;
/// personality(2) values that keep the process' normal behaviour: PER_LINUX, PER_LINUX32,
/// UNAME26, PER_LINUX32|UNAME26, and 0xffffffff (query the current persona).
const PERSONAS: [u64; 5] = [0x0, 0x8, 0x20000, 0x20008, 0xffff_ffff];

/// Files, directories, links, attributes and file descriptors.
#[rustfmt::skip]
const FILES: &[&str] = &[
    "access", "chdir", "chmod", "chown", "chown32", "close", "close_range", "copy_file_range",
    "creat", "dup", "dup2", "dup3", "faccessat", "faccessat2", "fadvise64", "fadvise64_64",
    "fallocate", "fchdir", "fchmod", "fchmodat", "fchmodat2", "fchown", "fchown32", "fchownat",
    "fcntl", "fcntl64", "fdatasync", "fgetxattr", "flistxattr", "flock", "fremovexattr",
    "fsetxattr", "fstat", "fstat64", "fstatat64", "fstatfs", "fstatfs64", "fsync", "ftruncate",
    "ftruncate64", "futimesat", "getcwd", "getdents", "getdents64", "getxattr", "lchown",
    "lchown32", "lgetxattr", "link", "linkat", "listxattr", "llistxattr", "_llseek",
    "lremovexattr", "lseek", "lsetxattr", "lstat", "lstat64", "mkdir", "mkdirat", "mknod",
    "mknodat", "name_to_handle_at", "newfstatat", "open", "openat", "openat2", "pread64",
    "preadv", "preadv2", "pwrite64", "pwritev", "pwritev2", "read", "readahead", "readlink",
    "readlinkat", "readv", "removexattr", "rename", "renameat", "renameat2", "rmdir",
    "sendfile", "sendfile64", "setxattr", "splice", "stat", "stat64", "statfs", "statfs64",
    "statx", "symlink", "symlinkat", "sync", "sync_file_range", "syncfs", "tee", "truncate",
    "truncate64", "umask", "unlink", "unlinkat", "utime", "utimensat", "utimensat_time64",
    "utimes", "vmsplice", "write", "writev",
];

/// Waiting on many descriptors, event and notification descriptors, asynchronous I/O.
#[rustfmt::skip]
const EVENTS: &[&str] = &[
    "epoll_create", "epoll_create1", "epoll_ctl", "epoll_ctl_old", "epoll_pwait",
    "epoll_pwait2", "epoll_wait", "epoll_wait_old", "eventfd", "eventfd2", "fanotify_mark",
    "inotify_add_watch", "inotify_init", "inotify_init1", "inotify_rm_watch", "io_cancel",
    "io_destroy", "io_getevents", "io_pgetevents", "io_pgetevents_time64", "io_setup",
    "io_submit", "io_uring_enter", "io_uring_register", "io_uring_setup", "ioctl", "_newselect",
    "pipe", "pipe2", "poll", "ppoll", "ppoll_time64", "pselect6", "pselect6_time64", "select",
    "signalfd", "signalfd4", "timerfd_create", "timerfd_gettime", "timerfd_gettime64",
    "timerfd_settime", "timerfd_settime64", "cachestat",
];

/// Processes, threads, identities, limits, scheduling and the sandboxing a process may add
/// on itself (landlock, seccomp, prctl).
#[rustfmt::skip]
const PROCESSES: &[&str] = &[
    "capget", "capset", "execve", "execveat", "exit", "exit_group", "fork", "futex",
    "futex_requeue", "futex_time64", "futex_wait", "futex_waitv", "futex_wake", "getcpu",
    "getegid", "getegid32", "geteuid", "geteuid32", "getgid", "getgid32", "getgroups",
    "getgroups32", "getpgid", "getpgrp", "getpid", "getppid", "getpriority", "getrandom",
    "getresgid", "getresgid32", "getresuid", "getresuid32", "getrlimit", "get_robust_list",
    "getrusage", "getsid", "get_thread_area", "gettid", "getuid", "getuid32", "ioprio_get",
    "ioprio_set", "kill", "landlock_add_rule", "landlock_create_ruleset",
    "landlock_restrict_self", "membarrier", "pidfd_open", "pidfd_send_signal", "prctl",
    "prlimit64", "process_mrelease", "restart_syscall", "rseq", "sched_getaffinity",
    "sched_getattr", "sched_getparam", "sched_get_priority_max", "sched_get_priority_min",
    "sched_getscheduler", "sched_rr_get_interval", "sched_rr_get_interval_time64",
    "sched_setaffinity", "sched_setattr", "sched_setparam", "sched_setscheduler",
    "sched_yield", "seccomp", "setfsgid", "setfsgid32", "setfsuid", "setfsuid32", "setgid",
    "setgid32", "setgroups", "setgroups32", "setpgid", "setpriority", "setregid", "setregid32",
    "setresgid", "setresgid32", "setresuid", "setresuid32", "setreuid", "setreuid32",
    "setrlimit", "set_robust_list", "setsid", "set_thread_area", "set_tid_address", "setuid",
    "setuid32", "sysinfo", "tgkill", "times", "tkill", "ugetrlimit", "uname", "vfork", "wait4",
    "waitid", "waitpid",
    // Tracing one's own children: harmless since kernel 4.8 (seccomp is re-checked after a
    // tracer changes a syscall), so docker allows it there.
    "process_vm_readv", "process_vm_writev", "ptrace",
];

/// Memory mappings and memory locking.
#[rustfmt::skip]
const MEMORY: &[&str] = &[
    "brk", "madvise", "map_shadow_stack", "memfd_create", "memfd_secret", "mincore", "mlock",
    "mlock2", "mlockall", "mmap", "mmap2", "mprotect", "mremap", "msync", "munlock",
    "munlockall", "munmap", "pkey_alloc", "pkey_free", "pkey_mprotect", "remap_file_pages",
];

/// Signals.
#[rustfmt::skip]
const SIGNALS: &[&str] = &[
    "alarm", "pause", "rt_sigaction", "rt_sigpending", "rt_sigprocmask", "rt_sigqueueinfo",
    "rt_sigreturn", "rt_sigsuspend", "rt_sigtimedwait", "rt_sigtimedwait_time64",
    "rt_tgsigqueueinfo", "sigaltstack", "sigprocmask", "sigreturn",
];

/// Clocks and timers (reading them; setting the clock needs CAP_SYS_TIME, not granted).
#[rustfmt::skip]
const TIME: &[&str] = &[
    "adjtimex", "clock_adjtime", "clock_adjtime64", "clock_getres", "clock_getres_time64",
    "clock_gettime", "clock_gettime64", "clock_nanosleep", "clock_nanosleep_time64",
    "getitimer", "gettimeofday", "nanosleep", "setitimer", "time", "timer_create",
    "timer_delete", "timer_getoverrun", "timer_gettime", "timer_gettime64", "timer_settime",
    "timer_settime64",
];

/// Sockets (`socket` itself is conditioned, see the module note).
#[rustfmt::skip]
const NETWORK: &[&str] = &[
    "accept", "accept4", "bind", "connect", "getpeername", "getsockname", "getsockopt",
    "listen", "recv", "recvfrom", "recvmmsg", "recvmmsg_time64", "recvmsg", "send", "sendmmsg",
    "sendmsg", "sendto", "setsockopt", "shutdown", "socketcall", "socketpair",
];

/// System V and POSIX IPC (namespaced by the container's IPC namespace).
#[rustfmt::skip]
const IPC: &[&str] = &[
    "ipc", "mq_getsetattr", "mq_notify", "mq_open", "mq_timedreceive", "mq_timedreceive_time64",
    "mq_timedsend", "mq_timedsend_time64", "mq_unlink", "msgctl", "msgget", "msgrcv", "msgsnd",
    "semctl", "semget", "semop", "semtimedop", "semtimedop_time64", "shmat", "shmctl", "shmdt",
    "shmget",
];

/// Allowed because docker's default capability set includes the capability that guards them.
#[rustfmt::skip]
const CAPABILITY_GATED: &[&str] = &[
    // CAP_SYS_CHROOT
    "chroot",
];

/// Names that exist only on the architecture ct is built for.
#[rustfmt::skip]
#[cfg(target_arch = "x86_64")]
const ARCH_SPECIFIC: &[&str] = &["arch_prctl", "modify_ldt"];
#[cfg(target_arch = "aarch64")]
#[rustfmt::skip]
const ARCH_SPECIFIC: &[&str] = &[
    "arm_fadvise64_64", "arm_sync_file_range", "sync_file_range2", "breakpoint", "cacheflush",
    "set_tls",
];
#[cfg(target_arch = "riscv64")]
#[rustfmt::skip]
const ARCH_SPECIFIC: &[&str] = &["riscv_flush_icache"];
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64", target_arch = "riscv64")))]
#[rustfmt::skip]
const ARCH_SPECIFIC: &[&str] = &[];

/// The ABIs the filter accepts: the host's and the 32-bit ones it can run. Any other
/// `seccomp_data.arch` is killed by the filter, so a container cannot dodge it by switching ABI.
fn architectures() -> Vec<Arch> {
    if cfg!(target_arch = "x86_64") {
        vec![Arch::ScmpArchX86_64, Arch::ScmpArchX86, Arch::ScmpArchX32]
    } else if cfg!(target_arch = "aarch64") {
        vec![Arch::ScmpArchAarch64, Arch::ScmpArchArm]
    } else if cfg!(target_arch = "riscv64") {
        vec![Arch::ScmpArchRiscv64]
    } else {
        vec![Arch::ScmpArchNative]
    }
}

/// docker's default seccomp profile for docker's default capabilities, as `linux.seccomp`.
pub fn profile() -> LinuxSeccomp {
    let allowed: Vec<&str> = [
        FILES,
        EVENTS,
        PROCESSES,
        MEMORY,
        SIGNALS,
        TIME,
        NETWORK,
        IPC,
        CAPABILITY_GATED,
        ARCH_SPECIFIC,
    ]
    .concat();

    let mut syscalls = vec![rule(
        &allowed,
        LinuxSeccompAction::ScmpActAllow,
        None,
        vec![],
    )];
    syscalls.push(rule(
        &["socket"],
        LinuxSeccompAction::ScmpActAllow,
        None,
        vec![arg(0, LinuxSeccompOperator::ScmpCmpNe, AF_VSOCK, None)],
    ));
    // One rule per persona: conditions inside one rule are ANDed, separate rules are ORed.
    for persona in PERSONAS {
        syscalls.push(rule(
            &["personality"],
            LinuxSeccompAction::ScmpActAllow,
            None,
            vec![arg(0, LinuxSeccompOperator::ScmpCmpEq, persona, None)],
        ));
    }
    // s390 passes clone's flags as the second argument.
    let flags_index = if cfg!(target_arch = "s390x") { 1 } else { 0 };
    syscalls.push(rule(
        &["clone"],
        LinuxSeccompAction::ScmpActAllow,
        None,
        vec![arg(
            flags_index,
            LinuxSeccompOperator::ScmpCmpMaskedEq,
            CLONE_NAMESPACE_FLAGS,
            Some(0),
        )],
    ));
    syscalls.push(rule(
        &["clone3"],
        LinuxSeccompAction::ScmpActErrno,
        Some(ENOSYS),
        vec![],
    ));

    let mut seccomp = LinuxSeccomp::default();
    seccomp.set_default_action(LinuxSeccompAction::ScmpActErrno);
    seccomp.set_default_errno_ret(Some(EPERM));
    seccomp.set_architectures(Some(architectures()));
    seccomp.set_syscalls(Some(syscalls));
    seccomp
}

fn rule(
    names: &[&str],
    action: LinuxSeccompAction,
    errno_ret: Option<u32>,
    args: Vec<LinuxSeccompArg>,
) -> LinuxSyscall {
    let mut rule = LinuxSyscall::default();
    rule.set_names(names.iter().map(|n| n.to_string()).collect());
    rule.set_action(action);
    rule.set_errno_ret(errno_ret);
    rule.set_args((!args.is_empty()).then_some(args));
    rule
}

fn arg(
    index: usize,
    op: LinuxSeccompOperator,
    value: u64,
    value_two: Option<u64>,
) -> LinuxSeccompArg {
    let builder = LinuxSeccompArgBuilder::default()
        .index(index)
        .op(op)
        .value(value);
    let builder = match value_two {
        Some(two) => builder.value_two(two),
        None => builder,
    };
    // Every field has a value (or a default), so the builder has nothing to refuse; the unit
    // tests below check the resulting conditions.
    builder.build().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn allowed_unconditionally(p: &LinuxSeccomp) -> HashSet<String> {
        p.syscalls()
            .iter()
            .flatten()
            .filter(|r| r.action() == LinuxSeccompAction::ScmpActAllow && r.args().is_none())
            .flat_map(|r| r.names().iter().cloned())
            .collect()
    }

    #[test]
    fn default_action_is_eperm() {
        let p = profile();
        assert_eq!(p.default_action(), LinuxSeccompAction::ScmpActErrno);
        assert_eq!(p.default_errno_ret(), Some(1));
    }

    #[test]
    fn allowlist_has_what_a_shell_needs_and_no_duplicates() {
        let all: Vec<&str> = [
            FILES, EVENTS, PROCESSES, MEMORY, SIGNALS, TIME, NETWORK, IPC,
        ]
        .concat();
        let unique: HashSet<&str> = all.iter().copied().collect();
        assert_eq!(unique.len(), all.len(), "a name is listed twice");
        let allowed = allowed_unconditionally(&profile());
        for name in [
            "execve",
            "openat",
            "read",
            "write",
            "wait4",
            "mkdir",
            "chroot",
            "exit_group",
        ] {
            assert!(allowed.contains(name), "{name} must be allowed");
        }
    }

    #[test]
    fn privileged_syscalls_are_left_to_the_default_action() {
        let p = profile();
        let listed: HashSet<String> = p
            .syscalls()
            .iter()
            .flatten()
            .flat_map(|r| r.names().iter().cloned())
            .collect();
        for name in [
            "mount",
            "umount2",
            "unshare",
            "setns",
            "keyctl",
            "add_key",
            "request_key",
            "bpf",
            "init_module",
            "reboot",
            "kexec_load",
            "open_by_handle_at",
            "settimeofday",
            "swapon",
            "pivot_root",
            "sethostname",
            "perf_event_open",
            "kcmp",
            "userfaultfd",
        ] {
            assert!(!listed.contains(name), "{name} must not be in the profile");
        }
    }

    #[test]
    fn clone_may_not_create_namespaces_and_clone3_says_enosys() {
        let p = profile();
        let rules = p.syscalls().as_ref().map(Vec::as_slice).unwrap_or(&[]);
        let clone = rules
            .iter()
            .find(|r| r.names() == &["clone"])
            .map(|r| r.args().clone());
        let args = clone.flatten().unwrap_or_default();
        assert_eq!(args.len(), 1);
        assert_eq!(args[0].op(), LinuxSeccompOperator::ScmpCmpMaskedEq);
        assert_eq!(args[0].value(), 0x7E02_0000);
        assert_eq!(args[0].value_two(), Some(0));
        let clone3 = rules.iter().find(|r| r.names() == &["clone3"]);
        assert_eq!(
            clone3.map(|r| (r.action(), r.errno_ret())),
            Some((LinuxSeccompAction::ScmpActErrno, Some(38)))
        );
        assert!(!allowed_unconditionally(&p).contains("clone"));
    }

    #[test]
    fn personality_is_one_rule_per_persona() {
        let p = profile();
        let values: Vec<u64> = p
            .syscalls()
            .iter()
            .flatten()
            .filter(|r| r.names() == &["personality"])
            .flat_map(|r| r.args().iter().flatten().map(|a| a.value()))
            .collect();
        assert_eq!(values, PERSONAS);
    }

    #[test]
    fn serializes_as_runtime_spec_json() {
        let json = serde_json::to_value(profile()).unwrap_or_default();
        assert_eq!(json["defaultAction"], "SCMP_ACT_ERRNO");
        assert_eq!(json["defaultErrnoRet"], 1);
        #[cfg(target_arch = "x86_64")]
        assert_eq!(
            json["architectures"],
            serde_json::json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"])
        );
        let back: LinuxSeccomp = serde_json::from_value(json).unwrap_or_default();
        assert_eq!(back, profile());
    }
}
