//! seccomp against the real kernel: each test compiles a profile in the test process, forks,
//! installs the filter in the child with `ct_exec::seccomp::install` (after setting
//! no_new_privs, as a container's init does), makes real syscalls there and reports through
//! its exit status (or dies by SIGSYS). The parent checks the status and what changed on disk.
//!
//! Between fork and exit the child only makes raw syscalls (no allocation, no locks), because
//! the test harness is multi-threaded. Every wait is bounded.

use std::ffi::CString;
use std::io::Read;
use std::os::fd::FromRawFd;
use std::path::Path;
use std::time::{Duration, Instant};

use ct_exec::seccomp::{compile, install, Program};
use oci_spec::runtime::LinuxSeccomp;

/// How a child ended.
#[derive(Debug, PartialEq)]
enum End {
    Exited(i32),
    Signaled(i32),
}

/// Exit code the child uses when installing the filter failed.
const INSTALL_FAILED: i32 = 100;

fn profile(json: &str) -> LinuxSeccomp {
    match serde_json::from_str(json) {
        Ok(p) => p,
        Err(e) => panic!("test profile does not parse: {e}"),
    }
}

fn program(json: &str) -> Program {
    match compile(&profile(json)) {
        Ok(p) => p,
        Err(e) => panic!("compile: {e}"),
    }
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// Fork; in the child set no_new_privs and RLIMIT_CORE=0 (a SIGSYS death must not dump core),
/// optionally enter a private mount namespace, install `program`, run `body` and exit with
/// its result. Returns how the child ended (killed after 20 s if it hangs).
fn in_child(program: &Program, private_mounts: bool, body: impl FnOnce() -> i32) -> End {
    // SAFETY: the child only makes async-signal-safe syscalls and leaves with _exit.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork: {}", std::io::Error::last_os_error());
    if pid == 0 {
        // SAFETY: plain syscalls on values we own; the child never returns into the harness.
        unsafe {
            let no_core = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            libc::setrlimit(libc::RLIMIT_CORE, &no_core);
            if private_mounts
                && (libc::unshare(libc::CLONE_NEWNS) != 0
                    || libc::mount(
                        std::ptr::null(),
                        c"/".as_ptr(),
                        std::ptr::null(),
                        libc::MS_REC | libc::MS_PRIVATE,
                        std::ptr::null(),
                    ) != 0)
            {
                libc::_exit(INSTALL_FAILED + 1);
            }
            if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
                libc::_exit(INSTALL_FAILED + 2);
            }
            if install(program).is_err() {
                libc::_exit(INSTALL_FAILED);
            }
            libc::_exit(body());
        }
    }
    wait(pid)
}

fn wait(pid: libc::pid_t) -> End {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mut status = 0;
        // SAFETY: waitpid on our own child with a valid status pointer.
        let rc = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        assert!(rc >= 0, "waitpid: {}", std::io::Error::last_os_error());
        if rc == pid {
            if libc::WIFSIGNALED(status) {
                return End::Signaled(libc::WTERMSIG(status));
            }
            return End::Exited(libc::WEXITSTATUS(status));
        }
        if Instant::now() > deadline {
            // SAFETY: signalling and reaping our own child.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, &mut status, 0);
            }
            panic!("child {pid} did not finish in 20 s");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The digit after "Seccomp:\t" in /proc/self/status (2 = filter), read with raw syscalls
/// into a stack buffer so a forked child may call it.
fn seccomp_mode_of_self() -> Option<u8> {
    let mut buf = [0u8; 4096];
    // SAFETY: open/read/close into a buffer we own; the length passed is the buffer's.
    let n = unsafe {
        let fd = libc::open(c"/proc/self/status".as_ptr(), libc::O_RDONLY);
        if fd < 0 {
            return None;
        }
        let n = libc::read(fd, buf.as_mut_ptr().cast(), buf.len());
        libc::close(fd);
        n
    };
    let text = buf.get(..usize::try_from(n).ok()?)?;
    let key = b"Seccomp:\t";
    let at = text.windows(key.len()).position(|w| w == key)?;
    text.get(at + key.len()).copied()
}

fn c_path(p: &Path) -> CString {
    match CString::new(p.as_os_str().as_encoded_bytes()) {
        Ok(c) => c,
        Err(e) => panic!("path with NUL: {e}"),
    }
}

fn tempdir() -> tempfile::TempDir {
    match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => panic!("tempdir: {e}"),
    }
}

#[test]
fn denied_mkdir_fails_with_the_profiles_errno_and_allowed_syscalls_work() {
    let dir = tempdir();
    let denied = c_path(&dir.path().join("denied"));
    let file = c_path(&dir.path().join("allowed-file"));
    let p = program(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
            {"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO","errnoRet":1},
            {"names":["rmdir"],"action":"SCMP_ACT_ERRNO","errnoRet":122}]}"#,
    );
    let end = in_child(&p, false, || {
        // SAFETY: raw syscalls on NUL-terminated paths owned by the parent's stack frame.
        unsafe {
            if libc::mkdir(denied.as_ptr(), 0o755) != -1 || errno() != libc::EPERM {
                return 1;
            }
            if libc::rmdir(denied.as_ptr()) != -1 || errno() != libc::EDQUOT {
                return 2;
            }
            let fd = libc::open(file.as_ptr(), libc::O_CREAT | libc::O_WRONLY, 0o644);
            if fd < 0 || libc::write(fd, b"ok".as_ptr().cast(), 2) != 2 {
                return 3;
            }
            libc::close(fd);
        }
        0
    });
    assert_eq!(end, End::Exited(0));
    assert!(!dir.path().join("denied").exists());
    assert_eq!(
        std::fs::read(dir.path().join("allowed-file")).ok(),
        Some(b"ok".to_vec())
    );
}

#[test]
fn default_errno_applies_to_unlisted_syscalls() {
    let p = program(
        r#"{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":13,"syscalls":[
            {"names":["exit","exit_group","getpid"],"action":"SCMP_ACT_ALLOW"}]}"#,
    );
    let end = in_child(&p, false, || {
        // SAFETY: raw syscalls without pointers.
        unsafe {
            if libc::syscall(libc::SYS_getppid) != -1 || errno() != libc::EACCES {
                return 1;
            }
            if libc::syscall(libc::SYS_getpid) <= 0 {
                return 2;
            }
        }
        0
    });
    assert_eq!(end, End::Exited(0));
}

#[test]
fn syscalls_newer_than_the_profile_fail_with_enosys_not_the_default_errno() {
    // The highest syscall named is exit_group (231 on x86_64, 252 on i386).
    let p = program(
        r#"{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":1,"syscalls":[
            {"names":["exit","exit_group","getpid"],"action":"SCMP_ACT_ALLOW"}]}"#,
    );
    let end = in_child(&p, false, || {
        // SAFETY: raw syscalls; fanotify_init(0, 0) and times(NULL) write nothing.
        unsafe {
            // Older than the profile's newest syscall: the default errno.
            if libc::syscall(libc::SYS_times, 0) != -1 || errno() != libc::EPERM {
                return 1;
            }
            // Newer: ENOSYS, as from a kernel that lacks it (glibc then falls back).
            if libc::syscall(libc::SYS_fanotify_init, 0, 0) != -1 || errno() != libc::ENOSYS {
                return 2;
            }
            if libc::syscall(libc::SYS_getpid) <= 0 {
                return 3;
            }
        }
        0
    });
    assert_eq!(end, End::Exited(0));
}

#[test]
fn personality_argument_condition_is_honoured() {
    // Only the query form personality(0xffffffff) passes; switching ASLR off is refused.
    let p = program(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["personality"],
            "action":"SCMP_ACT_ERRNO","errnoRet":1,
            "args":[{"index":0,"value":4294967295,"op":"SCMP_CMP_NE"}]}]}"#,
    );
    let end = in_child(&p, false, || {
        // SAFETY: raw syscalls without pointers.
        unsafe {
            if libc::syscall(libc::SYS_personality, 0xffff_ffffu64) == -1 {
                return 1;
            }
            if libc::syscall(libc::SYS_personality, 0x0040000u64) != -1 || errno() != libc::EPERM {
                return 2;
            }
        }
        0
    });
    assert_eq!(end, End::Exited(0));
}

#[test]
fn sixty_four_bit_argument_comparison_in_the_kernel() {
    // lseek offsets at or above 4 GiB are refused: the high word of arg 1 decides.
    let dir = tempdir();
    let path = c_path(&dir.path().join("f"));
    let p = program(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["lseek"],
            "action":"SCMP_ACT_ERRNO","errnoRet":122,
            "args":[{"index":1,"value":4294967296,"op":"SCMP_CMP_GE"}]}]}"#,
    );
    let end = in_child(&p, false, || {
        // SAFETY: raw syscalls on a NUL-terminated path owned by the parent's frame.
        unsafe {
            let fd = libc::open(path.as_ptr(), libc::O_CREAT | libc::O_RDWR, 0o644);
            if fd < 0 {
                return 1;
            }
            if libc::syscall(libc::SYS_lseek, fd, 0xffff_fff0u64, libc::SEEK_SET) == -1 {
                return 2;
            }
            if libc::syscall(libc::SYS_lseek, fd, 0x1_0000_0005u64, libc::SEEK_SET) != -1
                || errno() != libc::EDQUOT
            {
                return 3;
            }
        }
        0
    });
    assert_eq!(end, End::Exited(0));
}

#[test]
fn kill_actions_kill_with_sigsys() {
    for action in [
        "SCMP_ACT_KILL",
        "SCMP_ACT_KILL_THREAD",
        "SCMP_ACT_KILL_PROCESS",
        "SCMP_ACT_TRAP",
    ] {
        let p = program(&format!(
            r#"{{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{{"names":["getppid"],
                "action":"{action}"}}]}}"#
        ));
        let end = in_child(&p, false, || {
            // SAFETY: a raw syscall without pointers.
            unsafe { libc::syscall(libc::SYS_getppid) };
            7
        });
        assert_eq!(end, End::Signaled(libc::SIGSYS), "{action}");
    }
}

#[test]
fn log_action_allows_and_flags_are_accepted_by_the_kernel() {
    let p = program(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","flags":["SECCOMP_FILTER_FLAG_TSYNC",
            "SECCOMP_FILTER_FLAG_LOG"],"syscalls":[{"names":["getppid"],"action":"SCMP_ACT_LOG"}]}"#,
    );
    let end = in_child(&p, false, || {
        // SAFETY: a raw syscall without pointers.
        if unsafe { libc::syscall(libc::SYS_getppid) } <= 0 {
            return 1;
        }
        if seccomp_mode_of_self() != Some(b'2') {
            return 2;
        }
        0
    });
    assert_eq!(end, End::Exited(0));
}

#[test]
fn install_reports_the_kernels_refusal() {
    // Without no_new_privs and without CAP_SYS_ADMIN the kernel refuses a filter (EACCES).
    let p = program(r#"{"defaultAction":"SCMP_ACT_ALLOW"}"#);
    // SAFETY: the child makes raw syscalls only and leaves with _exit.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0);
    if pid == 0 {
        // SAFETY: capset with a zeroed v3 header/data drops every capability of this child.
        unsafe {
            let mut header = [0x2008_0522u32, 0];
            let data = [0u32; 6];
            if libc::syscall(libc::SYS_capset, header.as_mut_ptr(), data.as_ptr()) != 0 {
                libc::_exit(3);
            }
            let code = match install(&p) {
                Err(ct_exec::seccomp::SeccompError::Install(e))
                    if e.raw_os_error() == Some(libc::EACCES) =>
                {
                    0
                }
                Ok(()) => 1,
                Err(_) => 2,
            };
            libc::_exit(code);
        }
    }
    assert_eq!(wait(pid), End::Exited(0));
}

/// Run busybox under docker's default profile (ct_unpack::seccomp_default) and return its end
/// and stdout.
fn busybox_under_default_profile(script: &str) -> (End, String) {
    let p = match compile(&ct_unpack::seccomp_default::profile()) {
        Ok(p) => p,
        Err(e) => panic!("default profile: {e}"),
    };
    let busybox = c"/usr/bin/busybox";
    let args = [
        c"sh".to_owned(),
        c"-c".to_owned(),
        CString::new(script).unwrap_or_default(),
    ];
    let argv: Vec<*const libc::c_char> = args
        .iter()
        .map(|a| a.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect();
    let envp = [c"PATH=/usr/bin:/bin".as_ptr(), std::ptr::null()];
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills two descriptors that we own from here on.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    let (read_end, write_end) = (fds[0], fds[1]);
    // SAFETY: the child makes raw syscalls only (dup2, the install, execve) and leaves with
    // execve or _exit.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0);
    if pid == 0 {
        // SAFETY: as above; argv/envp are NUL-terminated arrays built before fork.
        unsafe {
            libc::dup2(write_end, 1);
            libc::dup2(write_end, 2);
            // A private mount namespace, so that a mount the filter failed to stop would vanish
            // with the child instead of landing on the host.
            if libc::unshare(libc::CLONE_NEWNS) != 0
                || libc::mount(
                    std::ptr::null(),
                    c"/".as_ptr(),
                    std::ptr::null(),
                    libc::MS_REC | libc::MS_PRIVATE,
                    std::ptr::null(),
                ) != 0
                || libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0
            {
                libc::_exit(INSTALL_FAILED + 1);
            }
            if install(&p).is_err() {
                libc::_exit(INSTALL_FAILED);
            }
            libc::execve(busybox.as_ptr(), argv.as_ptr(), envp.as_ptr());
            libc::_exit(127);
        }
    }
    // SAFETY: closing our copy of the write end so that read sees EOF when the child is done.
    unsafe { libc::close(write_end) };
    // SAFETY: read_end is ours and nothing else wraps it.
    let mut reader = unsafe { std::fs::File::from_raw_fd(read_end) };
    let mut out = String::new();
    let _ = reader.read_to_string(&mut out);
    (wait(pid), out)
}

#[test]
fn default_profile_runs_a_busybox_shell() {
    let dir = tempdir();
    let made = dir.path().join("made");
    let script = format!(
        "echo hello; ls / >/dev/null && echo ls-ok; busybox true && echo fork-ok; \
         x=$(echo sub); echo \"subshell-$x\"; mkdir {} && echo mkdir-ok; \
         grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status",
        made.display()
    );
    let (end, out) = busybox_under_default_profile(&script);
    assert_eq!(end, End::Exited(0), "{out}");
    assert_eq!(
        out,
        "hello\nls-ok\nfork-ok\nsubshell-sub\nmkdir-ok\nNoNewPrivs:\t1\nSeccomp:\t2\n"
    );
    assert!(made.is_dir());
}

#[test]
fn default_profile_blocks_unshare_and_mount() {
    let dir = tempdir();
    let script = format!(
        "unshare -m true; echo unshare=$?; mount -t tmpfs none {0}; echo mount=$?; \
         grep -c ' {0} ' /proc/self/mountinfo",
        dir.path().display()
    );
    let (end, out) = busybox_under_default_profile(&script);
    assert!(out.contains("unshare=1"), "{out}");
    assert!(out.contains("Operation not permitted"), "{out}");
    assert!(
        out.contains("mount=255") || out.contains("mount=1"),
        "{out}"
    );
    assert!(out.ends_with("0\n"), "the tmpfs must not be mounted: {out}");
    // grep -c exits 1 when it counted nothing.
    assert_eq!(end, End::Exited(1), "{out}");
}

#[test]
fn default_profile_refuses_keyctl_namespaces_and_clone3() {
    let p = match compile(&ct_unpack::seccomp_default::profile()) {
        Ok(p) => p,
        Err(e) => panic!("default profile: {e}"),
    };
    let end = in_child(&p, false, || {
        // SAFETY: raw syscalls; the clone calls pass no stack, so a child they might create
        // (if the filter failed) continues here and leaves at once with _exit.
        unsafe {
            // KEYCTL_GET_KEYRING_ID of the session keyring.
            if libc::syscall(libc::SYS_keyctl, 0, -3i64, 0) != -1 || errno() != libc::EPERM {
                return 1;
            }
            if libc::syscall(libc::SYS_add_key, 0, 0, 0, 0, 0) != -1 || errno() != libc::EPERM {
                return 2;
            }
            if libc::unshare(libc::CLONE_NEWUTS) != -1 || errno() != libc::EPERM {
                return 3;
            }
            let flags = (libc::CLONE_NEWUSER | libc::SIGCHLD) as u64;
            match libc::syscall(libc::SYS_clone, flags, 0, 0, 0, 0) {
                0 => libc::_exit(0),
                -1 if errno() == libc::EPERM => {}
                _ => return 4,
            }
            if libc::syscall(libc::SYS_clone3, 0, 0) != -1 || errno() != libc::ENOSYS {
                return 5;
            }
            if libc::syscall(libc::SYS_personality, 0x0040000u64) != -1 || errno() != libc::EPERM {
                return 6;
            }
            // A plain fork (clone without namespace flags) is allowed.
            match libc::syscall(libc::SYS_clone, libc::SIGCHLD as u64, 0, 0, 0, 0) {
                0 => libc::_exit(0),
                -1 => return 7,
                child => {
                    let mut status = 0;
                    libc::waitpid(child as libc::pid_t, &mut status, 0);
                }
            }
        }
        0
    });
    assert_eq!(end, End::Exited(0));
}
