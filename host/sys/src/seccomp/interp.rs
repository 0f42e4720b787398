//! A classic-BPF interpreter for the subset the generator emits, used by the
//! unit tests to run generated programs on `seccomp_data` inputs, with the
//! checks the kernel's verifier makes (forward jumps in bounds, aligned
//! loads inside `seccomp_data`, a RET at the end of every path).

use libc::sock_filter;

/// The input of a seccomp filter (`struct seccomp_data`).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Data {
    pub nr: u32,
    pub arch: u32,
    pub ip: u64,
    pub args: [u64; 6],
}

impl Data {
    pub fn x86_64(nr: u32, args: &[u64]) -> Self {
        let mut a = [0u64; 6];
        a[..args.len()].copy_from_slice(args);
        Data {
            nr,
            arch: super::AUDIT_ARCH_X86_64,
            ip: 0x7fff_0000_1234,
            args: a,
        }
    }

    fn bytes(&self) -> [u8; 64] {
        let mut b = [0u8; 64];
        b[0..4].copy_from_slice(&self.nr.to_le_bytes());
        b[4..8].copy_from_slice(&self.arch.to_le_bytes());
        b[8..16].copy_from_slice(&self.ip.to_le_bytes());
        for (i, a) in self.args.iter().enumerate() {
            b[16 + 8 * i..24 + 8 * i].copy_from_slice(&a.to_le_bytes());
        }
        b
    }
}

/// The result of one run.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Outcome {
    /// The value returned.
    pub ret: u32,
    /// Whether any instruction loaded an argument or the instruction pointer
    /// (which defeats the kernel's per-syscall action cache).
    pub loaded_args: bool,
    /// Instructions executed.
    pub steps: usize,
}

pub(crate) fn run(prog: &[sock_filter], d: &Data) -> Outcome {
    let mem = d.bytes();
    let (mut a, mut pc, mut steps, mut loaded_args) = (0u32, 0usize, 0usize, false);
    loop {
        let ins = prog
            .get(pc)
            .unwrap_or_else(|| panic!("pc {pc} ran off the program"));
        steps += 1;
        let next = pc + 1;
        match ins.code {
            0x20 => {
                let k = ins.k as usize;
                assert!(
                    k.is_multiple_of(4) && k + 4 <= 64,
                    "bad load offset {k} at {pc}"
                );
                loaded_args |= k >= 8;
                a = u32::from_le_bytes(mem[k..k + 4].try_into().unwrap());
                pc = next;
            }
            0x54 => {
                a &= ins.k;
                pc = next;
            }
            0x05 => pc = next + ins.k as usize,
            0x15 | 0x25 | 0x35 | 0x45 => {
                let t = match ins.code {
                    0x15 => a == ins.k,
                    0x25 => a > ins.k,
                    0x35 => a >= ins.k,
                    _ => a & ins.k != 0,
                };
                pc = next + if t { ins.jt } else { ins.jf } as usize;
            }
            0x06 => {
                return Outcome {
                    ret: ins.k,
                    loaded_args,
                    steps,
                };
            }
            c => panic!("unexpected opcode {c:#x} at {pc}"),
        }
        assert!(pc < prog.len(), "jump out of the program");
    }
}
