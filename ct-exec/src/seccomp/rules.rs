//! From an OCI `linux.seccomp` profile to libseccomp's filter context: the default action,
//! the architectures, then one libseccomp rule per syscall name and argument branch, the way
//! runc reads the spec (seccomp_rule_add(3), seccomp_arch_add(3)).
//!
//! An OCI rule is `{names, action, errnoRet, args}`. Each name becomes its own libseccomp
//! rule; a name this libseccomp does not know on the native arch is skipped (and reported); an
//! action equal to the default is dropped; `args` are ANDed in one rule unless two test the
//! same argument index, which splits the rule into one branch per such condition (ORed). An
//! argument comparison names the index (0..5), the operator (`SCMP_CMP_EQ`, `_MASKED_EQ` …) and
//! one or two 64-bit values. Architectures of the other byte order than the host cannot share
//! one filter and are skipped.

use libseccomp::error::SeccompErrno;
use libseccomp::{ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext};
use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompFilterFlag,
    LinuxSeccompOperator, LinuxSyscall,
};

use super::{SeccompError, DEFAULT_ERRNO, FLAG_LOG, FLAG_SPEC_ALLOW, FLAG_TSYNC};
use super::{RET_DATA_MAX, SYSCALL_ARGS};

/// The filter context with its default action and architectures, but no rules yet; and the
/// architectures skipped because they have the other byte order.
pub(super) fn build_context(
    profile: &LinuxSeccomp,
) -> Result<(ScmpFilterContext, Vec<String>), SeccompError> {
    let default = action(
        profile.default_action(),
        profile.default_errno_ret(),
        "the default action",
    )?;
    let mut ctx = ScmpFilterContext::new(default).map_err(|source| SeccompError::Context {
        action: format!("{:?}", default),
        source,
    })?;
    // Dispatch on the syscall number as a binary tree, not libseccomp's default if-chain
    // (SCMP_FLTATR_CTL_OPTIMIZE level 2, libseccomp >= 2.5). Every syscall then passes ~10
    // comparisons instead of up to ~1000, and the kernel's install is ~4x cheaper: on load
    // it emulates the filter once per syscall number per arch to build its allow bitmap
    // (seccomp_cache_prepare), which walks the whole chain for late entries. Best effort: an
    // older libseccomp builds the chain, which behaves the same, only slower.
    let _ = ctx.set_ctl_optimize(2);
    let mut skipped = Vec::new();
    for arch in profile.architectures().iter().flatten() {
        let scmp = scmp_arch(*arch);
        // The native arch is already in a new context; adding it again is an error (EEXIST).
        let present = ctx
            .is_arch_present(scmp)
            .map_err(|source| SeccompError::Arch {
                arch: arch_name(*arch).to_string(),
                source,
            })?;
        if present {
            continue;
        }
        match ctx.add_arch(scmp) {
            Ok(_) => {}
            // One filter serves one byte order: an ABI of the other can never run here.
            Err(e) if e.errno() == Some(SeccompErrno::EDOM) => {
                skipped.push(arch_name(*arch).to_string());
            }
            Err(source) => {
                return Err(SeccompError::Arch {
                    arch: arch_name(*arch).to_string(),
                    source,
                })
            }
        }
    }
    Ok((ctx, skipped))
}

/// Add every rule of the profile, the way runc's `addSyscall` does.
pub(super) fn add_rules(
    ctx: &mut ScmpFilterContext,
    profile: &LinuxSeccomp,
    rules: &mut usize,
    skipped: &mut Vec<String>,
) -> Result<(), SeccompError> {
    let default = action(
        profile.default_action(),
        profile.default_errno_ret(),
        "the default action",
    )?;
    for rule in profile.syscalls().iter().flatten() {
        let what = rule
            .names()
            .first()
            .map_or_else(|| "an empty rule".to_string(), |n| format!("'{n}'"));
        let act = action(rule.action(), rule.errno_ret(), &what)?;
        if act == default {
            // libseccomp refuses a rule that repeats the default (EACCES); it changes nothing.
            continue;
        }
        let branches = conditions(rule)?;
        for name in rule.names() {
            let Ok(nr) = libseccomp::ScmpSyscall::from_name(name) else {
                skipped.push(name.clone());
                continue;
            };
            for branch in &branches {
                let added = if branch.is_empty() {
                    ctx.add_rule(act, nr)
                } else {
                    ctx.add_rule_conditional(act, nr, branch)
                };
                added.map_err(|source| SeccompError::Rule {
                    syscall: name.clone(),
                    action: rule.action().to_string(),
                    source,
                })?;
                *rules += 1;
            }
        }
    }
    Ok(())
}

/// The OR-branches of one rule, each an AND of comparisons (runc's semantics: all args ANDed,
/// unless an index repeats, then one branch per arg).
fn conditions(rule: &LinuxSyscall) -> Result<Vec<Vec<ScmpArgCompare>>, SeccompError> {
    let args: &[LinuxSeccompArg] = rule.args().as_deref().unwrap_or(&[]);
    let name = || rule.names().first().cloned().unwrap_or_default();
    let mut per_index = [0usize; SYSCALL_ARGS];
    let mut all = Vec::with_capacity(args.len());
    for arg in args {
        let index = arg.index();
        let slot = per_index
            .get_mut(index)
            .ok_or_else(|| SeccompError::ArgIndex {
                syscall: name(),
                index,
            })?;
        *slot += 1;
        all.push(compare(arg));
    }
    if per_index.iter().any(|&n| n > 1) {
        Ok(all.into_iter().map(|c| vec![c]).collect())
    } else {
        Ok(vec![all])
    }
}

/// One argument comparison. For SCMP_CMP_MASKED_EQ the spec's `value` is the mask and
/// `valueTwo` the expected result: `(arg & value) == valueTwo`.
fn compare(arg: &LinuxSeccompArg) -> ScmpArgCompare {
    let index = arg.index() as u32; // checked < 6 by the caller
    let (op, datum) = match arg.op() {
        LinuxSeccompOperator::ScmpCmpNe => (ScmpCompareOp::NotEqual, arg.value()),
        LinuxSeccompOperator::ScmpCmpLt => (ScmpCompareOp::Less, arg.value()),
        LinuxSeccompOperator::ScmpCmpLe => (ScmpCompareOp::LessOrEqual, arg.value()),
        LinuxSeccompOperator::ScmpCmpEq => (ScmpCompareOp::Equal, arg.value()),
        LinuxSeccompOperator::ScmpCmpGe => (ScmpCompareOp::GreaterEqual, arg.value()),
        LinuxSeccompOperator::ScmpCmpGt => (ScmpCompareOp::Greater, arg.value()),
        LinuxSeccompOperator::ScmpCmpMaskedEq => (
            ScmpCompareOp::MaskedEqual(arg.value()),
            arg.value_two().unwrap_or(0),
        ),
    };
    ScmpArgCompare::new(index, op, datum)
}

/// An OCI action with its errno/trace value as libseccomp's action.
pub(super) fn action(
    act: LinuxSeccompAction,
    errno_ret: Option<u32>,
    what: &str,
) -> Result<ScmpAction, SeccompError> {
    let data = || {
        let value = errno_ret.unwrap_or(DEFAULT_ERRNO);
        if value > RET_DATA_MAX {
            Err(SeccompError::RetData {
                what: what.to_string(),
                value,
            })
        } else {
            Ok(value)
        }
    };
    Ok(match act {
        // SCMP_ACT_KILL is the historical name of KILL_THREAD (seccomp(2): SECCOMP_RET_KILL).
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => {
            ScmpAction::KillThread
        }
        LinuxSeccompAction::ScmpActKillProcess => ScmpAction::KillProcess,
        LinuxSeccompAction::ScmpActTrap => ScmpAction::Trap,
        LinuxSeccompAction::ScmpActErrno => ScmpAction::Errno(data()? as i32),
        LinuxSeccompAction::ScmpActTrace => ScmpAction::Trace(data()? as u16),
        LinuxSeccompAction::ScmpActLog => ScmpAction::Log,
        LinuxSeccompAction::ScmpActAllow => ScmpAction::Allow,
        LinuxSeccompAction::ScmpActNotify => {
            return Err(SeccompError::NotifyUnsupported(what.to_string()))
        }
    })
}

pub(super) fn filter_flags(profile: &LinuxSeccomp) -> u64 {
    profile.flags().iter().flatten().fold(0, |bits, flag| {
        bits | match flag {
            LinuxSeccompFilterFlag::SeccompFilterFlagTsync => FLAG_TSYNC,
            LinuxSeccompFilterFlag::SeccompFilterFlagLog => FLAG_LOG,
            LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => FLAG_SPEC_ALLOW,
        }
    })
}

pub(super) fn scmp_arch(arch: Arch) -> ScmpArch {
    match arch {
        Arch::ScmpArchNative => ScmpArch::Native,
        Arch::ScmpArchX86 => ScmpArch::X86,
        Arch::ScmpArchX86_64 => ScmpArch::X8664,
        Arch::ScmpArchX32 => ScmpArch::X32,
        Arch::ScmpArchArm => ScmpArch::Arm,
        Arch::ScmpArchAarch64 => ScmpArch::Aarch64,
        Arch::ScmpArchMips => ScmpArch::Mips,
        Arch::ScmpArchMips64 => ScmpArch::Mips64,
        Arch::ScmpArchMips64n32 => ScmpArch::Mips64N32,
        Arch::ScmpArchMipsel => ScmpArch::Mipsel,
        Arch::ScmpArchMipsel64 => ScmpArch::Mipsel64,
        Arch::ScmpArchMipsel64n32 => ScmpArch::Mipsel64N32,
        Arch::ScmpArchPpc => ScmpArch::Ppc,
        Arch::ScmpArchPpc64 => ScmpArch::Ppc64,
        Arch::ScmpArchPpc64le => ScmpArch::Ppc64Le,
        Arch::ScmpArchS390 => ScmpArch::S390,
        Arch::ScmpArchS390x => ScmpArch::S390X,
        Arch::ScmpArchRiscv64 => ScmpArch::Riscv64,
    }
}

pub(super) fn arch_name(arch: Arch) -> &'static str {
    match arch {
        Arch::ScmpArchNative => "SCMP_ARCH_NATIVE",
        Arch::ScmpArchX86 => "SCMP_ARCH_X86",
        Arch::ScmpArchX86_64 => "SCMP_ARCH_X86_64",
        Arch::ScmpArchX32 => "SCMP_ARCH_X32",
        Arch::ScmpArchArm => "SCMP_ARCH_ARM",
        Arch::ScmpArchAarch64 => "SCMP_ARCH_AARCH64",
        Arch::ScmpArchMips => "SCMP_ARCH_MIPS",
        Arch::ScmpArchMips64 => "SCMP_ARCH_MIPS64",
        Arch::ScmpArchMips64n32 => "SCMP_ARCH_MIPS64N32",
        Arch::ScmpArchMipsel => "SCMP_ARCH_MIPSEL",
        Arch::ScmpArchMipsel64 => "SCMP_ARCH_MIPSEL64",
        Arch::ScmpArchMipsel64n32 => "SCMP_ARCH_MIPSEL64N32",
        Arch::ScmpArchPpc => "SCMP_ARCH_PPC",
        Arch::ScmpArchPpc64 => "SCMP_ARCH_PPC64",
        Arch::ScmpArchPpc64le => "SCMP_ARCH_PPC64LE",
        Arch::ScmpArchS390 => "SCMP_ARCH_S390",
        Arch::ScmpArchS390x => "SCMP_ARCH_S390X",
        Arch::ScmpArchRiscv64 => "SCMP_ARCH_RISCV64",
    }
}
