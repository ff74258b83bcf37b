//! ENOSYS for syscalls newer than the profile: a few BPF instructions put in front of
//! libseccomp's program, the way runc does (its `patchbpf`).
//!
//! Why: docker's profile answers EPERM for anything it does not list. A syscall added to the
//! kernel after the profile was written (mseal, statmount, ...) would then say "not
//! permitted", and libc, which probes new syscalls and falls back only on ENOSYS, breaks. So a
//! syscall whose number is above the highest one the profile names, for that ABI, gets ENOSYS
//! ("this kernel has no such syscall"), which is what it would get from an older kernel.
//! libseccomp cannot express "number greater than N", hence hand-written BPF here.
//!
//! Steps of the stub (all jumps forward, well within BPF's 8-bit offsets):
//! 1. `ld [4]` (seccomp_data.arch); for each ABI in the filter `jeq AUDIT_ARCH_*`.
//! 2. `ld [0]` (seccomp_data.nr); on x86_64, `jset 0x40000000` tells x32 calls (same
//!    AUDIT_ARCH, syscall numbers with bit 30 set) from x86_64 ones.
//! 3. `jgt MAX` → `ret ERRNO(ENOSYS)`, otherwise `ja` into libseccomp's program, which
//!    decides everything else (arch checks, rules, default action).
//!
//! Only when the default action refuses (not ALLOW/LOG, and not already ERRNO(ENOSYS)).
//! ABIs handled: x86_64, i386, x32, aarch64, arm, riscv64, ppc64le; others have no stub (their
//! new syscalls get the default action), s390 among them because of its syscall multiplexer.

use libseccomp::{ScmpAction, ScmpArch, ScmpSyscall};

const AUDIT_ARCH_X86_64: u32 = 0xC000_003E;
const AUDIT_ARCH_I386: u32 = 0x4000_0003;
const AUDIT_ARCH_AARCH64: u32 = 0xC000_00B7;
const AUDIT_ARCH_ARM: u32 = 0x4000_0028;
const AUDIT_ARCH_RISCV64: u32 = 0xC000_00F3;
const AUDIT_ARCH_PPC64LE: u32 = 0xC000_0015;
/// x32 syscalls are x86_64's AUDIT_ARCH with this bit in the number.
const X32_SYSCALL_BIT: u32 = 0x4000_0000;
const RET_ERRNO_ENOSYS: u32 = 0x0005_0000 | libc::ENOSYS as u32;

// Classic BPF opcodes (<linux/filter.h>).
const LD_W_ABS: u16 = 0x20;
const JMP_JA: u16 = 0x05;
const JMP_JEQ_K: u16 = 0x15;
const JMP_JGT_K: u16 = 0x25;
const JMP_JSET_K: u16 = 0x45;
const RET_K: u16 = 0x06;

/// The highest syscall number the profile names, per ABI.
#[derive(Debug, Default, PartialEq)]
struct Limit {
    audit_arch: u32,
    /// For the plain ABI of `audit_arch`.
    plain: Option<u32>,
    /// For x32 (only with AUDIT_ARCH_X86_64); the number includes X32_SYSCALL_BIT.
    x32: Option<u32>,
}

/// Whether a profile with this default action gets the stub.
pub(super) fn wanted(default: ScmpAction) -> bool {
    !matches!(
        default,
        ScmpAction::Allow | ScmpAction::Log | ScmpAction::Errno(libc::ENOSYS)
    )
}

/// The stub for the ABIs in `arches` and the syscall `names` of the profile; empty when no
/// ABI is handled.
pub(super) fn stub<'a>(
    arches: &[ScmpArch],
    names: impl Iterator<Item = &'a str> + Clone,
) -> Vec<libc::sock_filter> {
    let mut limits: Vec<Limit> = Vec::new();
    for &arch in arches {
        let Some((audit_arch, is_x32)) = audit_arch(arch) else {
            continue;
        };
        let max = names
            .clone()
            .filter_map(|n| ScmpSyscall::from_name_by_arch(n, arch).ok())
            .map(i32::from)
            .filter(|&nr| nr >= 0) // negative: libseccomp's pseudo numbers for other ABIs
            .max()
            .and_then(|nr| u32::try_from(nr).ok());
        let Some(max) = max else { continue };
        let at = match limits.iter().position(|l| l.audit_arch == audit_arch) {
            Some(at) => at,
            None => {
                limits.push(Limit {
                    audit_arch,
                    ..Limit::default()
                });
                limits.len() - 1
            }
        };
        if is_x32 {
            limits[at].x32 = Some(max);
        } else {
            limits[at].plain = Some(max);
        }
    }
    assemble(&limits)
}

fn audit_arch(arch: ScmpArch) -> Option<(u32, bool)> {
    let arch = match arch {
        ScmpArch::Native => ScmpArch::native(),
        a => a,
    };
    Some(match arch {
        ScmpArch::X8664 => (AUDIT_ARCH_X86_64, false),
        ScmpArch::X32 => (AUDIT_ARCH_X86_64, true),
        ScmpArch::X86 => (AUDIT_ARCH_I386, false),
        ScmpArch::Aarch64 => (AUDIT_ARCH_AARCH64, false),
        ScmpArch::Arm => (AUDIT_ARCH_ARM, false),
        ScmpArch::Riscv64 => (AUDIT_ARCH_RISCV64, false),
        ScmpArch::Ppc64Le => (AUDIT_ARCH_PPC64LE, false),
        _ => return None,
    })
}

/// Jump targets before layout.
#[derive(Clone, Copy, PartialEq)]
enum To {
    Next,
    Enosys,
    Main,
    /// The first instruction after ABI block `n`.
    AfterBlock(usize),
    /// The x32 check of ABI block `n`.
    X32(usize),
}

struct Op {
    code: u16,
    k: u32,
    jt: To,
    jf: To,
    /// Labels that point at this instruction.
    marks: Vec<To>,
}

fn op(code: u16, k: u32, jt: To, jf: To) -> Op {
    Op {
        code,
        k,
        jt,
        jf,
        marks: Vec::new(),
    }
}

fn assemble(limits: &[Limit]) -> Vec<libc::sock_filter> {
    if limits.is_empty() {
        return Vec::new();
    }
    let mut ops = vec![op(LD_W_ABS, 4, To::Next, To::Next)];
    let mut pending: Vec<To> = Vec::new();
    let push = |ops: &mut Vec<Op>, mut o: Op, pending: &mut Vec<To>| {
        o.marks.append(pending);
        ops.push(o);
    };
    for (n, l) in limits.iter().enumerate() {
        // The arch is still in A here: every block ends in jumps, never falls through.
        push(
            &mut ops,
            op(JMP_JEQ_K, l.audit_arch, To::Next, To::AfterBlock(n)),
            &mut pending,
        );
        push(&mut ops, op(LD_W_ABS, 0, To::Next, To::Next), &mut pending);
        let check = |max: Option<u32>| match max {
            Some(max) => op(JMP_JGT_K, max, To::Enosys, To::Main),
            None => op(JMP_JA, 0, To::Main, To::Main),
        };
        if l.audit_arch == AUDIT_ARCH_X86_64 {
            push(
                &mut ops,
                op(JMP_JSET_K, X32_SYSCALL_BIT, To::X32(n), To::Next),
                &mut pending,
            );
            push(&mut ops, check(l.plain), &mut pending);
            pending.push(To::X32(n));
            push(&mut ops, check(l.x32), &mut pending);
        } else {
            push(&mut ops, check(l.plain), &mut pending);
        }
        pending.push(To::AfterBlock(n));
    }
    push(&mut ops, op(JMP_JA, 0, To::Main, To::Main), &mut pending);
    pending.push(To::Enosys);
    push(
        &mut ops,
        op(RET_K, RET_ERRNO_ENOSYS, To::Next, To::Next),
        &mut pending,
    );
    let main = ops.len();
    let at = |label: To, from: usize| -> usize {
        match label {
            To::Next => from + 1,
            To::Main => main,
            other => ops
                .iter()
                .position(|o| o.marks.contains(&other))
                .unwrap_or(main),
        }
    };
    // Offsets are relative to the next instruction; the stub is far shorter than 255.
    let rel = |to: usize, from: usize| to.saturating_sub(from + 1);
    ops.iter()
        .enumerate()
        .map(|(i, o)| {
            if o.code == JMP_JA {
                libc::sock_filter {
                    code: o.code,
                    jt: 0,
                    jf: 0,
                    k: rel(at(o.jt, i), i) as u32,
                }
            } else {
                libc::sock_filter {
                    code: o.code,
                    jt: rel(at(o.jt, i), i) as u8,
                    jf: rel(at(o.jf, i), i) as u8,
                    k: o.k,
                }
            }
        })
        .collect()
}
