//! Unit tests for the seccomp compiler: the BPF that [`super::compile`] produces is run through
//! the test interpreter in [`super::bpf_eval`] on made-up syscalls, so every action, errno and
//! argument operator is checked on the very instructions the kernel would get.

use super::bpf_eval::{run, run_counted, SeccompData};
use super::*;

const AUDIT_ARCH_X86_64: u32 = 0xC000_003E;
const AUDIT_ARCH_I386: u32 = 0x4000_0003;
const AUDIT_ARCH_AARCH64: u32 = 0xC000_00B7;

const RET_KILL_PROCESS: u32 = 0x8000_0000;
const RET_KILL_THREAD: u32 = 0x0000_0000;
const RET_TRAP: u32 = 0x0003_0000;
const RET_ERRNO: u32 = 0x0005_0000;
const RET_TRACE: u32 = 0x7ff0_0000;
const RET_LOG: u32 = 0x7ffc_0000;
const RET_ALLOW: u32 = 0x7fff_0000;

fn profile(json: &str) -> LinuxSeccomp {
    match serde_json::from_str(json) {
        Ok(p) => p,
        Err(e) => panic!("test profile does not parse: {e}\n{json}"),
    }
}

fn program(json: &str) -> Program {
    match compile(&profile(json)) {
        Ok(p) => p,
        Err(e) => panic!("compile failed: {e}"),
    }
}

fn native_arch() -> u32 {
    if cfg!(target_arch = "x86_64") {
        AUDIT_ARCH_X86_64
    } else if cfg!(target_arch = "aarch64") {
        AUDIT_ARCH_AARCH64
    } else {
        panic!("these unit tests know x86_64 and aarch64")
    }
}

/// What the filter answers for syscall `nr` with `args` on the native architecture.
fn verdict(p: &Program, nr: libc::c_long, args: [u64; 6]) -> u32 {
    verdict_on(p, native_arch(), nr, args)
}

fn verdict_on(p: &Program, arch: u32, nr: libc::c_long, args: [u64; 6]) -> u32 {
    let data = SeccompData {
        nr: nr as i32,
        arch,
        instruction_pointer: 0x7fff_0000_1000,
        args,
    };
    match run(p.instructions(), &data) {
        Ok(v) => v,
        Err(e) => panic!("BPF interpreter: {e}"),
    }
}

#[test]
fn default_errno_and_per_rule_errno() {
    let p = program(
        r#"{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":13,"syscalls":[
            {"names":["getpid","getppid"],"action":"SCMP_ACT_ALLOW"},
            {"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO","errnoRet":38},
            {"names":["rmdir"],"action":"SCMP_ACT_ERRNO"}]}"#,
    );
    assert_eq!(p.rule_count(), 5);
    assert_eq!(verdict(&p, libc::SYS_getpid, [0; 6]), RET_ALLOW);
    assert_eq!(verdict(&p, libc::SYS_mkdirat, [0; 6]), RET_ERRNO | 38);
    // errnoRet absent on an ERRNO rule: EPERM, as runc does.
    assert_eq!(verdict(&p, libc::SYS_rmdir, [0; 6]), RET_ERRNO | 1);
    // Not listed: the default action with defaultErrnoRet.
    assert_eq!(verdict(&p, libc::SYS_chdir, [0; 6]), RET_ERRNO | 13);
}

#[test]
fn default_errno_without_errno_ret_is_eperm() {
    let p = program(r#"{"defaultAction":"SCMP_ACT_ERRNO"}"#);
    assert_eq!(p.rule_count(), 0);
    assert_eq!(
        verdict(&p, libc::SYS_getpid, [0; 6]),
        RET_ERRNO | libc::EPERM as u32
    );
}

#[test]
fn every_action_maps_to_its_kernel_return_value() {
    let p = program(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
            {"names":["getpid"],"action":"SCMP_ACT_KILL"},
            {"names":["getppid"],"action":"SCMP_ACT_KILL_THREAD"},
            {"names":["getuid"],"action":"SCMP_ACT_KILL_PROCESS"},
            {"names":["getgid"],"action":"SCMP_ACT_TRAP"},
            {"names":["geteuid"],"action":"SCMP_ACT_TRACE","errnoRet":7},
            {"names":["getegid"],"action":"SCMP_ACT_LOG"},
            {"names":["gettid"],"action":"SCMP_ACT_ERRNO","errnoRet":95}]}"#,
    );
    assert_eq!(verdict(&p, libc::SYS_getpid, [0; 6]), RET_KILL_THREAD);
    assert_eq!(verdict(&p, libc::SYS_getppid, [0; 6]), RET_KILL_THREAD);
    assert_eq!(verdict(&p, libc::SYS_getuid, [0; 6]), RET_KILL_PROCESS);
    assert_eq!(verdict(&p, libc::SYS_getgid, [0; 6]), RET_TRAP);
    assert_eq!(verdict(&p, libc::SYS_geteuid, [0; 6]), RET_TRACE | 7);
    assert_eq!(verdict(&p, libc::SYS_getegid, [0; 6]), RET_LOG);
    assert_eq!(verdict(&p, libc::SYS_gettid, [0; 6]), RET_ERRNO | 95);
    assert_eq!(verdict(&p, libc::SYS_chdir, [0; 6]), RET_ALLOW);
}

/// Each operator against a 64-bit constant whose high and low words both matter, probed with
/// values below, equal to and above it in either word.
#[test]
fn every_operator_on_64_bit_arguments() {
    const V: u64 = 0x0000_0001_8000_0005;
    let probes = [
        0,
        V - 1,
        V,
        V + 1,
        V & 0xffff_ffff,           // same low word, high word smaller
        V | 0x0000_0002_0000_0000, // same low word, high word larger
        u64::MAX,
    ];
    type Expected = fn(u64) -> bool;
    let cases: [(&str, Expected); 6] = [
        ("SCMP_CMP_NE", |a| a != V),
        ("SCMP_CMP_LT", |a| a < V),
        ("SCMP_CMP_LE", |a| a <= V),
        ("SCMP_CMP_EQ", |a| a == V),
        ("SCMP_CMP_GE", |a| a >= V),
        ("SCMP_CMP_GT", |a| a > V),
    ];
    for (op, expected) in cases {
        let p = program(&format!(
            r#"{{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{{"names":["read"],
                "action":"SCMP_ACT_ALLOW","args":[{{"index":2,"value":{V},"op":"{op}"}}]}}]}}"#
        ));
        for probe in probes {
            let got = verdict(&p, libc::SYS_read, [0, 0, probe, 0, 0, 0]) == RET_ALLOW;
            assert_eq!(
                got,
                expected(probe),
                "{op} with arg {probe:#x} against {V:#x}"
            );
        }
    }
}

#[test]
fn masked_eq_uses_value_as_mask_and_value_two_as_result() {
    // Docker's clone rule: no namespace flags, i.e. (flags & 0x7E020000) == 0.
    let p = program(
        r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["clone"],
            "action":"SCMP_ACT_ALLOW",
            "args":[{"index":0,"value":2114060288,"op":"SCMP_CMP_MASKED_EQ"}]},
            {"names":["write"],"action":"SCMP_ACT_ALLOW",
            "args":[{"index":0,"value":255,"valueTwo":2,"op":"SCMP_CMP_MASKED_EQ"}]}]}"#,
    );
    let thread_flags = (libc::CLONE_VM | libc::CLONE_THREAD | libc::SIGCHLD) as u64;
    let user_ns = (libc::CLONE_NEWUSER | libc::SIGCHLD) as u64;
    assert_eq!(
        verdict(&p, libc::SYS_clone, [thread_flags, 0, 0, 0, 0, 0]),
        RET_ALLOW
    );
    assert_eq!(
        verdict(&p, libc::SYS_clone, [user_ns, 0, 0, 0, 0, 0]),
        RET_ERRNO | 1
    );
    assert_eq!(
        verdict(&p, libc::SYS_write, [0x102, 0, 0, 0, 0, 0]),
        RET_ALLOW
    );
    assert_eq!(
        verdict(&p, libc::SYS_write, [0x103, 0, 0, 0, 0, 0]),
        RET_ERRNO | 1
    );
}

#[test]
fn args_of_one_rule_are_anded() {
    let p = program(
        r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["kill"],
            "action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":1,"op":"SCMP_CMP_EQ"},
            {"index":1,"value":15,"op":"SCMP_CMP_EQ"}]}]}"#,
    );
    assert_eq!(p.rule_count(), 1);
    assert_eq!(verdict(&p, libc::SYS_kill, [1, 15, 0, 0, 0, 0]), RET_ALLOW);
    assert_eq!(
        verdict(&p, libc::SYS_kill, [1, 9, 0, 0, 0, 0]),
        RET_ERRNO | 1
    );
    assert_eq!(
        verdict(&p, libc::SYS_kill, [2, 15, 0, 0, 0, 0]),
        RET_ERRNO | 1
    );
}

#[test]
fn args_repeating_an_index_become_separate_rules_ored() {
    let p = program(
        r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["personality"],
            "action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":0,"op":"SCMP_CMP_EQ"},
            {"index":0,"value":8,"op":"SCMP_CMP_EQ"}]}]}"#,
    );
    assert_eq!(p.rule_count(), 2);
    assert_eq!(verdict(&p, libc::SYS_personality, [0; 6]), RET_ALLOW);
    assert_eq!(
        verdict(&p, libc::SYS_personality, [8, 0, 0, 0, 0, 0]),
        RET_ALLOW
    );
    assert_eq!(
        verdict(&p, libc::SYS_personality, [0x40000, 0, 0, 0, 0, 0]),
        RET_ERRNO | 1
    );
}

#[test]
fn unknown_syscall_names_are_skipped_and_reported() {
    let p = program(
        r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["getpid",
            "no_such_syscall_ct","getppid"],"action":"SCMP_ACT_ALLOW"}]}"#,
    );
    assert_eq!(p.skipped_syscalls(), ["no_such_syscall_ct"]);
    assert_eq!(p.rule_count(), 2);
    assert_eq!(verdict(&p, libc::SYS_getppid, [0; 6]), RET_ALLOW);
}

#[test]
fn a_rule_repeating_the_default_action_is_dropped() {
    let p = program(
        r#"{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":1,"syscalls":[
            {"names":["mkdir"],"action":"SCMP_ACT_ERRNO","errnoRet":1},
            {"names":["rmdir"],"action":"SCMP_ACT_ERRNO","errnoRet":2}]}"#,
    );
    assert_eq!(p.rule_count(), 1);
    assert_eq!(verdict(&p, libc::SYS_rmdir, [0; 6]), RET_ERRNO | 2);
}

#[cfg(target_arch = "x86_64")]
#[test]
fn listed_architectures_get_their_own_syscall_numbers_and_others_are_killed() {
    let json = r#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86_64",
        "SCMP_ARCH_X86"],"syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO"}]}"#;
    let p = program(json);
    // mkdir is 83 on x86_64 and 39 on i386; 39 on x86_64 is getpid.
    assert_eq!(verdict_on(&p, AUDIT_ARCH_X86_64, 83, [0; 6]), RET_ERRNO | 1);
    assert_eq!(verdict_on(&p, AUDIT_ARCH_I386, 39, [0; 6]), RET_ERRNO | 1);
    assert_eq!(verdict_on(&p, AUDIT_ARCH_X86_64, 39, [0; 6]), RET_ALLOW);
    // An ABI the profile does not list cannot dodge the filter.
    assert_eq!(
        verdict_on(&p, AUDIT_ARCH_AARCH64, 34, [0; 6]),
        RET_KILL_THREAD
    );
    // Without SCMP_ARCH_X86 in the list, i386 calls are killed too.
    let native_only = program(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],
            "action":"SCMP_ACT_ERRNO"}]}"#,
    );
    assert_eq!(
        verdict_on(&native_only, AUDIT_ARCH_I386, 39, [0; 6]),
        RET_KILL_THREAD
    );
}

#[test]
fn flags_are_passed_through() {
    let p = program(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","flags":["SECCOMP_FILTER_FLAG_LOG",
            "SECCOMP_FILTER_FLAG_SPEC_ALLOW"]}"#,
    );
    assert_eq!(p.flags(), 2 | 4);
    let p = program(r#"{"defaultAction":"SCMP_ACT_ALLOW","flags":["SECCOMP_FILTER_FLAG_TSYNC"]}"#);
    assert_eq!(p.flags(), 1);
}

#[test]
fn notify_is_an_error_naming_it() {
    let err = compile(&profile(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],
            "action":"SCMP_ACT_NOTIFY"}]}"#,
    ));
    let msg = err
        .map(|_| ())
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        msg.contains("SCMP_ACT_NOTIFY") && msg.contains("'mkdir'"),
        "{msg}"
    );
    let err = compile(&profile(r#"{"defaultAction":"SCMP_ACT_NOTIFY"}"#));
    assert!(matches!(err, Err(SeccompError::NotifyUnsupported(_))));
}

#[test]
fn bad_argument_index_and_errno_are_errors() {
    let err = compile(&profile(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],
            "action":"SCMP_ACT_ERRNO","args":[{"index":6,"value":0,"op":"SCMP_CMP_EQ"}]}]}"#,
    ));
    let msg = err
        .map(|_| ())
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert_eq!(
        msg,
        "seccomp rule for 'mkdir': argument index 6 is out of range (0-5)"
    );
    let err = compile(&profile(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],
            "action":"SCMP_ACT_ERRNO","errnoRet":70000}]}"#,
    ));
    assert!(matches!(
        err,
        Err(SeccompError::RetData { value: 70000, .. })
    ));
}

#[test]
fn unknown_action_and_operator_names_are_rejected_when_parsing() {
    let err = serde_json::from_str::<LinuxSeccomp>(r#"{"defaultAction":"SCMP_ACT_FROBNICATE"}"#)
        .map(|_| ())
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("SCMP_ACT_FROBNICATE"), "{err}");
    let err = serde_json::from_str::<LinuxSeccomp>(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],
            "action":"SCMP_ACT_ERRNO","args":[{"index":0,"value":1,"op":"SCMP_CMP_ALMOST"}]}]}"#,
    )
    .map(|_| ())
    .err()
    .map(|e| e.to_string())
    .unwrap_or_default();
    assert!(err.contains("SCMP_CMP_ALMOST"), "{err}");
}

#[test]
fn pseudo_code_shows_the_rules() {
    let text = match pseudo_code(&profile(
        r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["mkdir"],
            "action":"SCMP_ACT_ERRNO","errnoRet":38}]}"#,
    )) {
        Ok(t) => t,
        Err(e) => panic!("{e}"),
    };
    assert!(
        text.contains("\"mkdir\"") && text.contains("ERRNO(38)"),
        "{text}"
    );
}

/// Every syscall a process makes runs the filter, and the kernel emulates it once per syscall
/// number and arch when it is installed (its allow bitmap): the dispatch on the number must be
/// a search, not a chain. libseccomp's default chain takes up to ~1000 instructions for
/// docker's profile (the last syscalls listed); its binary tree (optimize level 2) ~20-40.
#[test]
fn default_profile_decides_any_syscall_in_few_instructions() {
    let p = compile(&ct_unpack::seccomp_default::profile()).expect("default profile");
    let mut longest = (0, 0);
    for nr in 0..=470 {
        let data = SeccompData {
            nr,
            arch: native_arch(),
            instruction_pointer: 0x7fff_0000_1000,
            args: [0; 6],
        };
        let (_, steps) = run_counted(p.instructions(), &data).expect("BPF interpreter");
        longest = longest.max((steps, nr));
    }
    assert!(
        longest.0 <= 64,
        "syscall {} runs {} BPF instructions before a verdict (want a binary search)",
        longest.1,
        longest.0
    );
}

/// The default profile (ct_unpack::seccomp_default) as the kernel will see it.
#[test]
fn docker_default_profile_compiles_and_behaves() {
    let p = match compile(&ct_unpack::seccomp_default::profile()) {
        Ok(p) => p,
        Err(e) => panic!("default profile: {e}"),
    };
    assert!(p.instructions().len() <= BPF_MAXINSNS);
    let eperm = RET_ERRNO | 1;
    for nr in [
        libc::SYS_execve,
        libc::SYS_openat,
        libc::SYS_wait4,
        libc::SYS_mkdir,
    ] {
        assert_eq!(verdict(&p, nr, [0; 6]), RET_ALLOW, "syscall {nr}");
    }
    for nr in [
        libc::SYS_mount,
        libc::SYS_unshare,
        libc::SYS_setns,
        libc::SYS_keyctl,
        libc::SYS_add_key,
        libc::SYS_bpf,
        libc::SYS_init_module,
        libc::SYS_reboot,
    ] {
        assert_eq!(verdict(&p, nr, [0; 6]), eperm, "syscall {nr}");
    }
    assert_eq!(verdict(&p, libc::SYS_clone3, [0; 6]), RET_ERRNO | 38);
    let fork_flags = libc::SIGCHLD as u64;
    let newns = (libc::CLONE_NEWNS | libc::SIGCHLD) as u64;
    assert_eq!(
        verdict(&p, libc::SYS_clone, [fork_flags, 0, 0, 0, 0, 0]),
        RET_ALLOW
    );
    assert_eq!(verdict(&p, libc::SYS_clone, [newns, 0, 0, 0, 0, 0]), eperm);
    assert_eq!(
        verdict(&p, libc::SYS_personality, [0xffff_ffff, 0, 0, 0, 0, 0]),
        RET_ALLOW
    );
    // ADDR_NO_RANDOMIZE would switch ASLR off.
    assert_eq!(
        verdict(&p, libc::SYS_personality, [0x0040000, 0, 0, 0, 0, 0]),
        eperm
    );
    assert_eq!(
        verdict(&p, libc::SYS_socket, [libc::AF_INET as u64, 1, 0, 0, 0, 0]),
        RET_ALLOW
    );
    assert_eq!(
        verdict(&p, libc::SYS_socket, [libc::AF_VSOCK as u64, 1, 0, 0, 0, 0]),
        eperm
    );
}

fn insns(p: &Program) -> Vec<(u16, u8, u8, u32)> {
    p.instructions()
        .iter()
        .map(|i| (i.code, i.jt, i.jf, i.k))
        .collect()
}

#[test]
fn cache_returns_the_same_program_and_is_really_read() {
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => panic!("tempdir: {e}"),
    };
    let cache = dir.path().join("seccomp");
    let default = ct_unpack::seccomp_default::profile();
    let fresh = compile(&default).unwrap_or_else(|e| panic!("{e}"));
    let first = compile_cached(&default, &cache).unwrap_or_else(|e| panic!("{e}"));
    let path = cache_path(&default, &cache).unwrap_or_else(|| panic!("no cache path"));
    assert!(path.is_file(), "a miss writes {}", path.display());
    let second = compile_cached(&default, &cache).unwrap_or_else(|e| panic!("{e}"));
    for p in [&first, &second] {
        assert_eq!(insns(p), insns(&fresh));
        assert_eq!(p.flags(), fresh.flags());
        assert_eq!(p.rule_count(), fresh.rule_count());
        assert_eq!(p.skipped_syscalls(), fresh.skipped_syscalls());
    }

    // A hit is served from the file: plant another valid program under this profile's key.
    let other = program(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["a_name_ct_skips","mkdir"],
            "action":"SCMP_ACT_ERRNO"}]}"#,
    );
    let other_json = r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":
        ["a_name_ct_skips","mkdir"],"action":"SCMP_ACT_ERRNO"}]}"#;
    compile_cached(&profile(other_json), &cache).unwrap_or_else(|e| panic!("{e}"));
    let other_path = cache_path(&profile(other_json), &cache).unwrap_or_else(|| panic!("path"));
    assert_ne!(other_path, path, "different profiles have different keys");
    std::fs::copy(&other_path, &path).unwrap_or_else(|e| panic!("{e}"));
    let planted = compile_cached(&default, &cache).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(insns(&planted), insns(&other));
    assert_eq!(planted.skipped_syscalls(), ["a_name_ct_skips"]);

    // A damaged entry is a miss: recompiled and replaced.
    std::fs::write(&path, b"CTSECCMP garbage").unwrap_or_else(|e| panic!("{e}"));
    let repaired = compile_cached(&default, &cache).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(insns(&repaired), insns(&fresh));
    let again = std::fs::read(&path).unwrap_or_default();
    assert!(again.len() > 8 * fresh.instructions().len());
}

#[test]
fn a_miss_bounds_the_cache_oldest_written_first() {
    use std::time::{Duration, SystemTime};
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let cache = dir.path().join("seccomp");
    std::fs::create_dir(&cache).unwrap_or_else(|e| panic!("{e}"));
    let keep = super::bpf_cache::KEEP;
    let now = SystemTime::now();
    let aged = |path: &std::path::Path, secs: u64| {
        let f = std::fs::File::create(path).unwrap_or_else(|e| panic!("{e}"));
        f.set_modified(now - Duration::from_secs(secs))
            .unwrap_or_else(|e| panic!("{e}"));
    };
    // Entries of older builds: old-0.bpf the oldest.
    let olds = keep + 3;
    for i in 0..olds {
        aged(&cache.join(format!("old-{i}.bpf")), 10_000 - i as u64);
    }
    aged(&cache.join(".tmp-00-crashed.bpf"), 120);
    aged(&cache.join(".tmp-01-writing.bpf"), 1);
    let outside = dir.path().join("not-in-the-cache");
    aged(&outside, 20_000);
    std::os::unix::fs::symlink(&outside, cache.join("link.bpf")).unwrap_or_else(|e| panic!("{e}"));

    let default = ct_unpack::seccomp_default::profile();
    compile_cached(&default, &cache).unwrap_or_else(|e| panic!("{e}"));
    let new = cache_path(&default, &cache).unwrap_or_else(|| panic!("no cache path"));
    assert!(new.is_file(), "the miss's own entry is kept");
    let programs = std::fs::read_dir(&cache)
        .unwrap_or_else(|e| panic!("{e}"))
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter(|e| e.file_name().to_string_lossy().ends_with(".bpf"))
        .filter(|e| !e.file_name().to_string_lossy().starts_with(".tmp-"))
        .count();
    assert_eq!(programs, keep);
    // The new entry and keep - 1 of the olds stay: the 4 oldest went.
    for i in 0..olds {
        let there = cache.join(format!("old-{i}.bpf")).exists();
        assert_eq!(there, i >= 4, "old-{i}.bpf");
    }
    assert!(
        !cache.join(".tmp-00-crashed.bpf").exists(),
        "a crash's temp file goes"
    );
    assert!(
        cache.join(".tmp-01-writing.bpf").exists(),
        "a young temp file stays"
    );
    assert!(
        cache.join("link.bpf").is_symlink() && outside.exists(),
        "symlinks are left alone"
    );

    // A hit writes nothing and removes nothing.
    aged(&cache.join(".tmp-02-crashed.bpf"), 120);
    compile_cached(&default, &cache).unwrap_or_else(|e| panic!("{e}"));
    assert!(cache.join(".tmp-02-crashed.bpf").exists());
}

#[test]
fn install_errors_read_as_one_line_with_a_hint() {
    let e = SeccompError::Install(io::Error::from_raw_os_error(libc::EACCES));
    assert_eq!(
        ct_layout::pipe::chain(&e),
        "cannot install the seccomp filter: Permission denied (os error 13)"
    );
    assert!(e.hint().is_some_and(|h| h.contains("noNewPrivileges")));
    let e = SeccompError::Install(io::Error::from_raw_os_error(libc::EINVAL));
    assert!(e.hint().is_some_and(|h| h.contains("linux.seccomp.flags")));
    assert!(SeccompError::TooLong(5000).hint().is_none());
}

#[cfg(target_arch = "x86_64")]
#[test]
fn syscalls_newer_than_the_profile_get_enosys_on_every_abi() {
    const X32: i64 = 0x4000_0000;
    let p = match compile(&ct_unpack::seccomp_default::profile()) {
        Ok(p) => p,
        Err(e) => panic!("{e}"),
    };
    let eperm = RET_ERRNO | 1;
    let enosys = RET_ERRNO | libc::ENOSYS as u32;
    // The highest x86_64 syscall docker's profile names is futex_requeue (456).
    assert_eq!(verdict(&p, 456, [0; 6]), RET_ALLOW);
    for nr in [457, 462, 999, 0x3fff_ffff] {
        assert_eq!(verdict(&p, nr, [0; 6]), enosys, "x86_64 syscall {nr}");
    }
    // Unlisted but older than the profile: the default action.
    assert_eq!(verdict(&p, libc::SYS_mount, [0; 6]), eperm);
    // i386: mkdir is 39; 999 is past anything.
    assert_eq!(verdict_on(&p, AUDIT_ARCH_I386, 39, [0; 6]), RET_ALLOW);
    assert_eq!(verdict_on(&p, AUDIT_ARCH_I386, 999, [0; 6]), enosys);
    assert_eq!(
        verdict_on(&p, AUDIT_ARCH_I386, 21, [0; 6]),
        eperm,
        "i386 mount"
    );
    // x32: the x86_64 arch with bit 30 in the number.
    assert_eq!(
        verdict_on(&p, AUDIT_ARCH_X86_64, X32, [0; 6]),
        RET_ALLOW,
        "x32 read"
    );
    assert_eq!(verdict_on(&p, AUDIT_ARCH_X86_64, X32 | 999, [0; 6]), enosys);
    assert_eq!(
        verdict_on(&p, AUDIT_ARCH_X86_64, X32 | 165, [0; 6]),
        eperm,
        "x32 mount"
    );
    // An ABI the profile does not list is still killed.
    assert_eq!(
        verdict_on(&p, AUDIT_ARCH_AARCH64, 999, [0; 6]),
        RET_KILL_THREAD
    );
}

#[test]
fn no_enosys_stub_when_the_default_allows_or_is_enosys() {
    let allow = program(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],
            "action":"SCMP_ACT_ERRNO"}]}"#,
    );
    assert_eq!(verdict(&allow, 999, [0; 6]), RET_ALLOW);
    let with_stub = program(
        r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["mkdir"],
            "action":"SCMP_ACT_ALLOW"}]}"#,
    );
    let enosys_default = program(
        r#"{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":38,"syscalls":[{"names":["mkdir"],
            "action":"SCMP_ACT_ALLOW"}]}"#,
    );
    assert!(with_stub.instructions().len() > enosys_default.instructions().len());
    assert_eq!(
        verdict(&with_stub, 999, [0; 6]),
        RET_ERRNO | libc::ENOSYS as u32
    );
    assert_eq!(
        verdict(&enosys_default, 999, [0; 6]),
        RET_ERRNO | libc::ENOSYS as u32
    );
}

#[cfg(target_arch = "x86_64")]
#[test]
fn architectures_of_the_other_byte_order_are_skipped_and_reported() {
    let p = program(
        r#"{"defaultAction":"SCMP_ACT_ERRNO","architectures":["SCMP_ARCH_X86_64",
            "SCMP_ARCH_S390X","SCMP_ARCH_AARCH64","SCMP_ARCH_PPC64","SCMP_ARCH_RISCV64"],
            "syscalls":[{"names":["mkdirat"],"action":"SCMP_ACT_ALLOW"}]}"#,
    );
    assert_eq!(
        p.skipped_architectures(),
        ["SCMP_ARCH_S390X", "SCMP_ARCH_PPC64"]
    );
    // The little-endian ones are in the filter: mkdirat is 34 on aarch64 and riscv64.
    assert_eq!(verdict_on(&p, AUDIT_ARCH_AARCH64, 34, [0; 6]), RET_ALLOW);
    assert_eq!(verdict_on(&p, 0xC000_00F3, 34, [0; 6]), RET_ALLOW);
    assert_eq!(
        verdict_on(&p, AUDIT_ARCH_AARCH64, 33, [0; 6]),
        RET_ERRNO | 1
    );
    // mknodat (33) is older than mkdirat: the default; unlinkat (35) is newer: ENOSYS.
    assert_eq!(
        verdict_on(&p, AUDIT_ARCH_AARCH64, 35, [0; 6]),
        RET_ERRNO | libc::ENOSYS as u32
    );
    // The cache keeps the list.
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let json = r#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_S390"]}"#;
    for _ in 0..2 {
        let c = compile_cached(&profile(json), dir.path()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.skipped_architectures(), ["SCMP_ARCH_S390"]);
    }
}
