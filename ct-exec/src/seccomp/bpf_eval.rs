//! A classic BPF interpreter for seccomp programs, for tests only (see bpf(4)-era
//! `Documentation/networking/filter.rst` and seccomp(2)'s description of `seccomp_data`).
//!
//! It runs the exact instructions [`super::compile`] hands to the kernel against a made-up
//! `struct seccomp_data`, so unit tests can check every operator on 64-bit values (split into
//! two 32-bit words by libseccomp) without installing a filter. The kernel tests in
//! `ct-exec/tests/seccomp.rs` check the same programs against the real thing.
//!
//! Steps: load words from `seccomp_data` (little or big endian as the host), ALU on the
//! accumulator, conditional jumps forward, return the 32-bit action.

/// The input a seccomp filter sees (`struct seccomp_data` in <linux/seccomp.h>).
pub struct SeccompData {
    pub nr: i32,
    pub arch: u32,
    pub instruction_pointer: u64,
    pub args: [u64; 6],
}

impl SeccompData {
    fn bytes(&self) -> [u8; 64] {
        let mut out = [0u8; 64];
        out[0..4].copy_from_slice(&self.nr.to_ne_bytes());
        out[4..8].copy_from_slice(&self.arch.to_ne_bytes());
        out[8..16].copy_from_slice(&self.instruction_pointer.to_ne_bytes());
        for (i, arg) in self.args.iter().enumerate() {
            out[16 + 8 * i..24 + 8 * i].copy_from_slice(&arg.to_ne_bytes());
        }
        out
    }
}

/// Run `program` on `data`; `Err` names an instruction the interpreter does not know or a
/// program that misbehaves (reads out of bounds, jumps past the end, never returns).
pub fn run(program: &[libc::sock_filter], data: &SeccompData) -> Result<u32, String> {
    run_counted(program, data).map(|(action, _)| action)
}

/// [`run`], also returning how many instructions ran before the verdict: the cost the filter
/// adds to that syscall, and how far the kernel's emulation walks when it loads the filter.
pub fn run_counted(
    program: &[libc::sock_filter],
    data: &SeccompData,
) -> Result<(u32, usize), String> {
    let bytes = data.bytes();
    let mut steps = 0usize;
    let (mut a, mut x, mut mem) = (0u32, 0u32, [0u32; 16]);
    let mut pc = 0usize;
    while let Some(ins) = program.get(pc) {
        let k = ins.k;
        let word = |off: u32| -> Result<u32, String> {
            let off = off as usize;
            bytes
                .get(off..off + 4)
                .map(|b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
                .ok_or_else(|| format!("load at offset {off} is outside seccomp_data"))
        };
        let src = if ins.code & 0x08 != 0 { x } else { k };
        pc += 1;
        steps += 1;
        match ins.code & 0x07 {
            // BPF_LD: W|ABS, IMM, MEM
            0x00 => {
                a = match ins.code & 0xe0 {
                    0x20 => word(k)?,
                    0x00 => k,
                    0x60 => mem[(k & 15) as usize],
                    _ => return Err(format!("unsupported load {:#x}", ins.code)),
                }
            }
            // BPF_LDX: IMM, MEM
            0x01 => {
                x = match ins.code & 0xe0 {
                    0x00 => k,
                    0x60 => mem[(k & 15) as usize],
                    _ => return Err(format!("unsupported ldx {:#x}", ins.code)),
                }
            }
            0x02 => mem[(k & 15) as usize] = a,
            0x03 => mem[(k & 15) as usize] = x,
            // BPF_ALU
            0x04 => {
                a = match ins.code & 0xf0 {
                    0x00 => a.wrapping_add(src),
                    0x10 => a.wrapping_sub(src),
                    0x20 => a.wrapping_mul(src),
                    0x40 => a | src,
                    0x50 => a & src,
                    0x60 => a.wrapping_shl(src),
                    0x70 => a.wrapping_shr(src),
                    0x80 => a.wrapping_neg(),
                    0xa0 => a ^ src,
                    _ => return Err(format!("unsupported alu {:#x}", ins.code)),
                }
            }
            // BPF_JMP: offsets are relative to the next instruction
            0x05 => {
                let taken = match ins.code & 0xf0 {
                    0x00 => {
                        pc += k as usize;
                        continue;
                    }
                    0x10 => a == src,
                    0x20 => a > src,
                    0x30 => a >= src,
                    0x40 => a & src != 0,
                    _ => return Err(format!("unsupported jump {:#x}", ins.code)),
                };
                pc += usize::from(if taken { ins.jt } else { ins.jf });
            }
            // BPF_RET
            0x06 => return Ok((if ins.code & 0x18 == 0x10 { a } else { k }, steps)),
            // BPF_MISC: TAX / TXA
            _ => {
                if ins.code & 0xf8 == 0x80 {
                    a = x
                } else {
                    x = a
                }
            }
        }
    }
    Err(format!("program ran off its end at instruction {pc}"))
}
