//! Device rules on cgroup v2 (kernel docs `admin-guide/cgroup-v2.rst`, "Device controller"):
//! v2 has no `devices.*` files; the kernel instead runs every `BPF_PROG_TYPE_CGROUP_DEVICE`
//! program attached to the cgroup (and, with `BPF_F_ALLOW_MULTI`, its ancestors') when a process
//! opens or mknods a device node. The program returns 1 to allow, 0 to refuse (EPERM). This
//! works on any cgroup2 directory, also on a hybrid host's `/sys/fs/cgroup/unified`, with no
//! controller enabled.
//!
//! The program reads its context `struct bpf_cgroup_dev_ctx { u32 access_type; u32 major;
//! u32 minor; }`, where `access_type` is `(access << 16) | type` (access bits
//! `BPF_DEVCG_ACC_MKNOD` 1, `READ` 2, `WRITE` 4; types `BPF_DEVCG_DEV_BLOCK` 1, `CHAR` 2), and
//! is generated from a [`Policy`] as runc and crun do:
//!
//! ```text
//!   w2 = type; w3 = access; w4 = major; w5 = minor
//!   for each exception:                       (skip a test where the rule has a wildcard)
//!     if w2 != TYPE goto next
//!     if (w3 & ACCESS) != w3 goto next        (allow exception: covers all that is asked)
//!     if (w3 & ACCESS) == 0  goto next        (deny exception: shares any of it)
//!     if w4 != MAJOR goto next
//!     if w5 != MINOR goto next
//!     return !default
//!   next: ...
//!   return default
//! ```
//!
//! Steps of [`attach`], with bpf(2): `BPF_PROG_LOAD` (the verifier's log is fetched only when
//! it refuses), open the cgroup directory, `BPF_PROG_QUERY` the programs already attached
//! there (ct's own from an earlier apply), `BPF_PROG_ATTACH` the new one with
//! `BPF_F_ALLOW_MULTI`, then `BPF_PROG_DETACH` the old ones, so the cgroup is never without
//! rules. The attachment holds the program: the fd is closed at once, and the kernel frees the
//! program when the cgroup is removed.

use std::ffi::CStr;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

use crate::device_rules::{Access, Kind, Policy};
use crate::error::CgroupError;

/// One BPF instruction (`struct bpf_insn`): opcode, dst/src registers, offset, immediate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct Insn {
    code: u8,
    regs: u8,
    off: i16,
    imm: i32,
}

// Opcode parts (linux/bpf_common.h, linux/bpf.h).
const LDX_MEM_W: u8 = 0x61; // BPF_LDX | BPF_MEM | BPF_W
const ALU32_AND_K: u8 = 0x54;
const ALU32_RSH_K: u8 = 0x74;
const ALU32_MOV_K: u8 = 0xb4;
const ALU32_MOV_X: u8 = 0xbc;
const JMP32_JNE_K: u8 = 0x56;
const JMP32_JEQ_K: u8 = 0x16;
const JMP32_JNE_X: u8 = 0x5e;
const EXIT: u8 = 0x95;

const fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: dst | (src << 4),
        off,
        imm,
    }
}

fn dev_type(k: Kind) -> i32 {
    match k {
        Kind::Block => 1,
        Kind::Char => 2,
    }
}

/// The program for `p` (see the module note).
pub fn program(p: &Policy) -> Vec<Insn> {
    let mut out = vec![
        insn(LDX_MEM_W, 2, 1, 0, 0),
        insn(ALU32_AND_K, 2, 0, 0, 0xffff),
        insn(LDX_MEM_W, 3, 1, 0, 0),
        insn(ALU32_RSH_K, 3, 0, 0, 16),
        insn(LDX_MEM_W, 4, 1, 4, 0),
        insn(LDX_MEM_W, 5, 1, 8, 0),
    ];
    let outcome = i32::from(!p.default_allow);
    for (d, a) in &p.exceptions {
        // The tests, each a jump to the end of this block when it does not match.
        let mut tests: Vec<(u8, u8, u8, i32)> = vec![(JMP32_JNE_K, 2, 0, dev_type(d.kind))];
        let mut access = Vec::new();
        if p.default_allow {
            // A deny exception refuses a request that shares any of its access bits.
            access.push(insn(ALU32_MOV_X, 1, 3, 0, 0));
            access.push(insn(ALU32_AND_K, 1, 0, 0, i32::from(a.0)));
        } else if *a != Access::ALL {
            // An allow exception allows a request it covers entirely.
            access.push(insn(ALU32_MOV_X, 1, 3, 0, 0));
            access.push(insn(ALU32_AND_K, 1, 0, 0, i32::from(a.0)));
        }
        if let Some(m) = d.major {
            tests.push((JMP32_JNE_K, 4, 0, m as i32));
        }
        if let Some(m) = d.minor {
            tests.push((JMP32_JNE_K, 5, 0, m as i32));
        }
        let access_jump = match (access.is_empty(), p.default_allow) {
            (true, _) => None,
            (false, true) => Some((JMP32_JEQ_K, 1, 0, 0)),
            (false, false) => Some((JMP32_JNE_X, 1, 3, 0)),
        };
        let len = tests.len() + access.len() + usize::from(access_jump.is_some()) + 2;
        let mut block: Vec<Insn> = Vec::with_capacity(len);
        let push_jump = |block: &mut Vec<Insn>, (code, dst, src, imm): (u8, u8, u8, i32)| {
            let off = (len - block.len() - 1) as i16;
            block.push(insn(code, dst, src, off, imm));
        };
        push_jump(&mut block, tests[0]);
        block.extend(&access);
        if let Some(j) = access_jump {
            push_jump(&mut block, j);
        }
        for t in &tests[1..] {
            push_jump(&mut block, *t);
        }
        block.push(insn(ALU32_MOV_K, 0, 0, 0, outcome));
        block.push(insn(EXIT, 0, 0, 0, 0));
        debug_assert_eq!(block.len(), len);
        out.extend(block);
    }
    out.push(insn(ALU32_MOV_K, 0, 0, 0, i32::from(p.default_allow)));
    out.push(insn(EXIT, 0, 0, 0, 0));
    out
}

// bpf(2) commands and constants (linux/bpf.h).
const BPF_PROG_LOAD: libc::c_int = 5;
const BPF_PROG_ATTACH: libc::c_int = 8;
const BPF_PROG_DETACH: libc::c_int = 9;
const BPF_PROG_GET_FD_BY_ID: libc::c_int = 13;
const BPF_PROG_QUERY: libc::c_int = 16;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
const BPF_F_ALLOW_MULTI: u32 = 2;

// Each struct below is the prefix of `union bpf_attr` that one command reads, with no
// implicit padding: every byte is written, as the kernel rejects non-zero unknown ones.

/// The `BPF_PROG_LOAD` part of `union bpf_attr`, up to `prog_name`.
#[repr(C, align(8))]
#[derive(Default)]
struct LoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
}

/// The `BPF_PROG_ATTACH`/`DETACH` part.
#[repr(C, align(8))]
#[derive(Default)]
struct AttachAttr {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
}

/// The `BPF_PROG_QUERY` part.
#[repr(C, align(8))]
#[derive(Default)]
struct QueryAttr {
    target_fd: u32,
    attach_type: u32,
    query_flags: u32,
    attach_flags: u32,
    prog_ids: u64,
    prog_cnt: u32,
    /// Explicit, so it is zero: the kernel refuses non-zero bytes past the fields it knows.
    _pad: u32,
}

/// The `BPF_PROG_GET_FD_BY_ID` part.
#[repr(C, align(8))]
#[derive(Default)]
struct GetFdAttr {
    prog_id: u32,
    next_id: u32,
    open_flags: u32,
    _pad: u32,
}

/// bpf(2) with one of the attribute structs above; a non-negative result or errno.
fn bpf<T>(cmd: libc::c_int, attr: &mut T) -> io::Result<libc::c_long> {
    // SAFETY: `attr` is a live, initialised #[repr(C)] prefix of `union bpf_attr` for `cmd`,
    // and its size is passed, so the kernel reads and writes only inside it; pointers inside
    // it (instructions, license, log buffer, id array) are set by the callers to buffers that
    // outlive this call.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *mut T as *mut libc::c_void,
            std::mem::size_of::<T>() as libc::c_uint,
        )
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// Take ownership of a descriptor bpf(2) returned.
fn owned(fd: libc::c_long) -> OwnedFd {
    // SAFETY: bpf(2) returned this new descriptor to us and nothing else owns it.
    unsafe { OwnedFd::from_raw_fd(fd as RawFd) }
}

fn bpf_err(what: &'static str, path: &Path, detail: String, source: io::Error) -> CgroupError {
    CgroupError::Bpf {
        what,
        path: path.to_path_buf(),
        detail,
        source,
    }
}

const LICENSE: &CStr = c"Apache-2.0";

/// `BPF_PROG_LOAD` the program for `p`.
pub fn load(p: &Policy, path: &Path) -> Result<OwnedFd, CgroupError> {
    let insns = program(p);
    let mut name = [0u8; 16];
    name[..10].copy_from_slice(b"ct_devices");
    let mut attr = LoadAttr {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: insns.len() as u32,
        insns: insns.as_ptr() as u64,
        license: LICENSE.as_ptr() as u64,
        prog_name: name,
        ..Default::default()
    };
    match bpf(BPF_PROG_LOAD, &mut attr) {
        Ok(fd) => Ok(owned(fd)),
        Err(e) => {
            // Again with the verifier's log, to say why.
            let mut log = vec![0u8; 64 * 1024];
            attr.log_level = 1;
            attr.log_size = log.len() as u32;
            attr.log_buf = log.as_mut_ptr() as u64;
            let _ = bpf(BPF_PROG_LOAD, &mut attr);
            let text = String::from_utf8_lossy(&log);
            let last = text
                .trim_end_matches('\0')
                .lines()
                .rfind(|l| !l.trim().is_empty())
                .unwrap_or_default()
                .to_string();
            Err(bpf_err("load the device program for", path, last, e))
        }
    }
}

/// The ids of the device programs attached to the cgroup `dir` itself.
fn attached(dir: &File, path: &Path) -> Result<Vec<u32>, CgroupError> {
    let mut ids = vec![0u32; 64];
    let mut attr = QueryAttr {
        target_fd: dir.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        prog_ids: ids.as_mut_ptr() as u64,
        prog_cnt: ids.len() as u32,
        ..Default::default()
    };
    bpf(BPF_PROG_QUERY, &mut attr)
        .map_err(|e| bpf_err("list the device programs of", path, String::new(), e))?;
    ids.truncate(attr.prog_cnt as usize);
    Ok(ids)
}

/// Load the program for `p` and make it the only ct device program on the cgroup `dir`.
pub fn attach(dir: &Path, p: &Policy) -> Result<(), CgroupError> {
    let prog = load(p, dir)?;
    let cg = File::open(dir).map_err(|source| CgroupError::Read {
        path: dir.to_path_buf(),
        source,
    })?;
    let old = attached(&cg, dir)?;
    let mut attr = AttachAttr {
        target_fd: cg.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI,
    };
    bpf(BPF_PROG_ATTACH, &mut attr)
        .map_err(|e| bpf_err("attach the device program to", dir, String::new(), e))?;
    for id in old {
        let mut by_id = GetFdAttr {
            prog_id: id,
            ..Default::default()
        };
        let old_prog = match bpf(BPF_PROG_GET_FD_BY_ID, &mut by_id) {
            Ok(fd) => owned(fd),
            // Gone meanwhile (its cgroup is being removed): nothing to detach.
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => continue,
            Err(e) => {
                return Err(bpf_err(
                    "open an old device program of",
                    dir,
                    String::new(),
                    e,
                ))
            }
        };
        let mut attr = AttachAttr {
            target_fd: cg.as_raw_fd() as u32,
            attach_bpf_fd: old_prog.as_raw_fd() as u32,
            attach_type: BPF_CGROUP_DEVICE,
            attach_flags: 0,
        };
        match bpf(BPF_PROG_DETACH, &mut attr) {
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
            Err(e) => {
                return Err(bpf_err(
                    "detach an old device program from",
                    dir,
                    String::new(),
                    e,
                ))
            }
        }
    }
    Ok(())
}

/// How many device programs are attached to the cgroup `dir` itself.
pub fn count_attached(dir: &Path) -> Result<usize, CgroupError> {
    let cg = File::open(dir).map_err(|source| CgroupError::Read {
        path: dir.to_path_buf(),
        source,
    })?;
    Ok(attached(&cg, dir)?.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device_rules::Devices;

    /// Run the generated program in a tiny interpreter of the instructions it uses, for every
    /// request against the policy's own answer.
    fn run(prog: &[Insn], ty: u32, access: u32, major: u32, minor: u32) -> u32 {
        let ctx = [(access << 16) | ty, major, minor];
        let mut r = [0u64; 11];
        let mut pc = 0usize;
        loop {
            let i = prog[pc];
            let (dst, src) = ((i.regs & 0xf) as usize, (i.regs >> 4) as usize);
            let mut jump = |cond: bool| {
                if cond {
                    pc = (pc as i64 + i64::from(i.off)) as usize;
                }
            };
            let k = i.imm as u32;
            match i.code {
                LDX_MEM_W => r[dst] = u64::from(ctx[(i.off / 4) as usize]),
                ALU32_AND_K => r[dst] = u64::from(r[dst] as u32 & k),
                ALU32_RSH_K => r[dst] = u64::from((r[dst] as u32) >> k),
                ALU32_MOV_K => r[dst] = u64::from(k),
                ALU32_MOV_X => r[dst] = u64::from(r[src] as u32),
                JMP32_JNE_K => jump(r[dst] as u32 != k),
                JMP32_JEQ_K => jump(r[dst] as u32 == k),
                JMP32_JNE_X => jump(r[dst] as u32 != r[src] as u32),
                EXIT => return r[0] as u32,
                c => panic!("unexpected opcode {c:#x}"),
            }
            pc += 1;
        }
    }

    fn agree(p: &Policy) {
        let prog = program(p);
        for kind in [Kind::Char, Kind::Block] {
            for (major, minor) in [(1, 3), (1, 4), (5, 2), (136, 9), (254, 0), (8, 0)] {
                for access in 1..8u8 {
                    let want = p.permits(kind, major, minor, Access(access));
                    let got = run(&prog, dev_type(kind) as u32, access.into(), major, minor);
                    assert_eq!(
                        got == 1,
                        want,
                        "{kind:?} {major}:{minor} {} in {p:?}",
                        Access(access)
                    );
                }
            }
        }
    }

    #[test]
    fn the_program_answers_as_the_policy() {
        agree(&Policy::for_container(&[]).unwrap());
        agree(&Policy::deny_all());
        let mut allow = Policy {
            default_allow: true,
            ..Default::default()
        };
        agree(&allow);
        allow.exceptions.insert(
            Devices {
                kind: Kind::Block,
                major: Some(254),
                minor: None,
            },
            Access(Access::READ),
        );
        allow.exceptions.insert(
            Devices {
                kind: Kind::Char,
                major: None,
                minor: Some(3),
            },
            Access(Access::WRITE | Access::MKNOD),
        );
        agree(&allow);
    }
}
