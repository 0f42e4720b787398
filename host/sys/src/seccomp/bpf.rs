//! The BPF generator: an OCI seccomp table to a classic-BPF program.
//!
//! Shape of the program (see seccomp(2), "Pitfalls" and the example filter):
//!
//! 1. load `arch`; anything but `AUDIT_ARCH_X86_64` kills the process;
//! 2. load `nr`; numbers with the x32 bit set kill the process (the x32 ABI
//!    shares `AUDIT_ARCH_X86_64`, so only the number tells it apart);
//! 3. a binary search over *ranges* of syscall numbers that share an outcome
//!    (consecutive allowed calls collapse into one range), ≈ log2(ranges)
//!    compares instead of one per syscall;
//! 4. for the few syscalls whose action depends on arguments, a small block
//!    that loads the argument words and compares them.
//!
//! Calls whose action does not depend on their arguments never load an
//! argument, so the kernel can prove their result constant and cache it
//! (the per-syscall action bitmap, Linux 5.11+): they cost nothing after the
//! first call. Rules are evaluated in table order, the first match wins, and
//! rules after an unconditional one are dead. Argument values are 64-bit and
//! compared as two 32-bit halves (little-endian `seccomp_data`).
//!
//! The program is emitted back to front, so every jump target already exists
//! when the jump is written; a conditional jump farther than 255
//! instructions goes through an unconditional `JA` trampoline.

use std::collections::BTreeMap;

use libc::sock_filter;
use oci_spec::runtime::{
    LinuxSeccomp, LinuxSeccompAction, LinuxSeccompFilterFlag, LinuxSeccompOperator,
};

use super::{AUDIT_ARCH_X86_64, Error, X32_SYSCALL_BIT, ret, syscall_number};

/// The kernel's limit on a program's length (`BPF_MAXINSNS`).
pub const MAX_INSNS: usize = 4096;

// Classic BPF opcodes (linux/bpf_common.h, linux/filter.h).
const BPF_LD_W_ABS: u16 = 0x20; // BPF_LD (0) | BPF_W (0) | BPF_ABS
const BPF_ALU_AND_K: u16 = 0x04 | 0x50; // BPF_ALU | BPF_AND | BPF_K
const BPF_JMP_JA: u16 = 0x05; // BPF_JMP | BPF_JA
const BPF_JMP_JEQ_K: u16 = 0x05 | 0x10; // BPF_JMP | BPF_JEQ | BPF_K
const BPF_JMP_JGT_K: u16 = 0x05 | 0x20;
const BPF_JMP_JGE_K: u16 = 0x05 | 0x30;
const BPF_RET_K: u16 = 0x06;

// Offsets in `struct seccomp_data`.
const OFF_NR: u32 = 0;
const OFF_ARCH: u32 = 4;
const OFF_ARGS: u32 = 16;

/// One argument comparison, 64-bit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Cond {
    index: u32,
    op: LinuxSeccompOperator,
    value: u64,
    value_two: u64,
}

/// All conditions (ANDed) and the action taken when they hold.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Rule {
    conds: Vec<Cond>,
    action: u32,
}

/// What a syscall number leads to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    /// A return value, no argument inspected.
    Ret(u32),
    /// An argument-checking block (index into the deduplicated blocks).
    Check(usize),
}

/// The filter's return value for an OCI action.
fn action_value(action: LinuxSeccompAction, errno: Option<u32>, what: &str) -> Result<u32, Error> {
    let data = |errno: Option<u32>| -> Result<u32, Error> {
        let v = errno.unwrap_or(libc::EPERM as u32);
        if v == 0 || v > 4095 {
            return Err(Error::Errno {
                syscall: what.to_owned(),
                value: v,
            });
        }
        Ok(v)
    };
    Ok(match action {
        LinuxSeccompAction::ScmpActKillProcess => ret::KILL_PROCESS,
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => ret::KILL_THREAD,
        LinuxSeccompAction::ScmpActTrap => ret::TRAP,
        LinuxSeccompAction::ScmpActErrno => ret::ERRNO | data(errno)?,
        LinuxSeccompAction::ScmpActNotify => ret::USER_NOTIF,
        LinuxSeccompAction::ScmpActTrace => ret::TRACE | data(errno)?,
        LinuxSeccompAction::ScmpActLog => ret::LOG,
        LinuxSeccompAction::ScmpActAllow => ret::ALLOW,
    })
}

/// `seccomp(2)` flags requested by the table (`flags` field).
pub fn filter_flags(spec: &LinuxSeccomp) -> u32 {
    let mut f = 0;
    for flag in spec.flags().iter().flatten() {
        f |= match flag {
            LinuxSeccompFilterFlag::SeccompFilterFlagLog => super::flags::LOG,
            LinuxSeccompFilterFlag::SeccompFilterFlagTsync => super::flags::TSYNC,
            LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => super::flags::SPEC_ALLOW,
            LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv => {
                super::flags::WAIT_KILLABLE_RECV
            }
        };
    }
    f
}

/// Whether any rule (or the default) hands calls to a supervisor, so the
/// filter must be installed with [`super::flags::NEW_LISTENER`].
pub fn uses_notify(spec: &LinuxSeccomp) -> bool {
    spec.default_action() == LinuxSeccompAction::ScmpActNotify
        || spec
            .syscalls()
            .iter()
            .flatten()
            .any(|s| s.action() == LinuxSeccompAction::ScmpActNotify)
}

/// Compile an OCI seccomp table to a BPF program for x86_64.
///
/// Names unknown on x86_64 are skipped. Entries in `architectures` other
/// than x86_64 are not honoured: the program kills on any other ABI.
pub fn compile(spec: &LinuxSeccomp) -> Result<Vec<sock_filter>, Error> {
    let default = action_value(
        spec.default_action(),
        spec.default_errno_ret(),
        "default action",
    )?;

    // (number, entry) pairs in table order; each entry's conditions are
    // stored once. A stable sort groups them by number, keeping the order.
    let entries = spec.syscalls().as_deref().unwrap_or(&[]);
    let mut conds: Vec<Vec<Cond>> = Vec::with_capacity(entries.len());
    let mut actions: Vec<u32> = Vec::with_capacity(entries.len());
    let mut pairs: Vec<(u32, u32)> = Vec::with_capacity(512);
    for sc in entries {
        let first = sc.names().first().map(String::as_str).unwrap_or("");
        actions.push(action_value(sc.action(), sc.errno_ret(), first)?);
        let mut cs = Vec::new();
        for a in sc.args().iter().flatten() {
            if a.index() > 5 {
                return Err(Error::ArgIndex {
                    syscall: first.to_owned(),
                    index: a.index(),
                });
            }
            cs.push(Cond {
                index: a.index() as u32,
                op: a.op(),
                value: a.value(),
                value_two: a.value_two().unwrap_or(0),
            });
        }
        let entry = conds.len() as u32;
        conds.push(cs);
        pairs.extend(
            sc.names()
                .iter()
                .filter_map(|n| Some((syscall_number(n)?, entry))),
        );
    }
    pairs.sort_by_key(|p| p.0);

    // Simplify each syscall's rules to an outcome.
    let mut checks: Vec<(Vec<Rule>, u32)> = Vec::new();
    let mut outcome_of: Vec<(u32, Outcome)> = Vec::new();
    for group in pairs.chunk_by(|a, b| a.0 == b.0) {
        let nr = group[0].0;
        // Everything after the first unconditional rule is dead.
        let mut fallthrough = default;
        let mut live = group.len();
        if let Some(i) = group.iter().position(|p| conds[p.1 as usize].is_empty()) {
            fallthrough = actions[group[i].1 as usize];
            live = i;
        }
        // Trailing conditional rules that lead where falling through leads
        // anyway need not be tested.
        while live > 0 && actions[group[live - 1].1 as usize] == fallthrough {
            live -= 1;
        }
        let outcome = if live == 0 {
            Outcome::Ret(fallthrough)
        } else {
            let rules: Vec<Rule> = group[..live]
                .iter()
                .map(|p| Rule {
                    conds: conds[p.1 as usize].clone(),
                    action: actions[p.1 as usize],
                })
                .collect();
            let key = (rules, fallthrough);
            let i = match checks.iter().position(|c| *c == key) {
                Some(i) => i,
                None => {
                    checks.push(key);
                    checks.len() - 1
                }
            };
            Outcome::Check(i)
        };
        if outcome != Outcome::Ret(default) {
            outcome_of.push((nr, outcome));
        }
    }

    // Ranges [start, next start) of numbers below the x32 bit with one outcome.
    let mut ranges: Vec<(u32, Outcome)> = vec![(0, Outcome::Ret(default))];
    let set = |start: u32, o: Outcome, ranges: &mut Vec<(u32, Outcome)>| {
        if ranges.last().map(|r| r.1) != Some(o) {
            if ranges.last().map(|r| r.0) == Some(start) {
                ranges.pop();
                if ranges.last().map(|r| r.1) == Some(o) {
                    return;
                }
            }
            ranges.push((start, o));
        }
    };
    for &(nr, o) in &outcome_of {
        set(nr, o, &mut ranges);
        set(nr + 1, Outcome::Ret(default), &mut ranges);
    }

    let mut e = Emitter::default();
    let mut rets: BTreeMap<u32, usize> = BTreeMap::new();
    let kill = e.ret(&mut rets, ret::KILL_PROCESS);
    let check_labels: Vec<usize> = checks
        .iter()
        .map(|(rules, fallthrough)| e.check_block(&mut rets, rules, *fallthrough))
        .collect();
    let mut targets = Vec::with_capacity(ranges.len());
    for &(start, o) in &ranges {
        let label = match o {
            Outcome::Ret(v) => e.ret(&mut rets, v),
            Outcome::Check(i) => check_labels[i],
        };
        targets.push((start, label));
    }
    let tree = e.tree(&targets);
    let x32 = e.jump(BPF_JMP_JGE_K, X32_SYSCALL_BIT, kill, tree);
    let ld_nr = e.push(stmt(BPF_LD_W_ABS, OFF_NR));
    debug_assert_eq!(ld_nr, x32 + 1);
    e.jump(BPF_JMP_JEQ_K, AUDIT_ARCH_X86_64, ld_nr, kill);
    e.push(stmt(BPF_LD_W_ABS, OFF_ARCH));

    let mut prog = e.rev;
    prog.reverse();
    if prog.len() > MAX_INSNS {
        return Err(Error::TooLong { len: prog.len() });
    }
    Ok(prog)
}

fn stmt(code: u16, k: u32) -> sock_filter {
    sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

/// Builds the program back to front. A label is an index into `rev`; the
/// jump offset from a new instruction to label `t` is `rev.len() - t - 1`.
#[derive(Default)]
struct Emitter {
    rev: Vec<sock_filter>,
}

impl Emitter {
    fn push(&mut self, ins: sock_filter) -> usize {
        self.rev.push(ins);
        self.rev.len() - 1
    }

    fn distance(&self, target: usize) -> usize {
        self.rev.len() - target - 1
    }

    /// An unconditional jump to `target` (or nothing, if it is next).
    fn goto(&mut self, target: usize) -> usize {
        match self.distance(target) {
            0 => target,
            d => self.push(stmt(BPF_JMP_JA, d as u32)),
        }
    }

    /// A conditional jump on `A <op> k`.
    fn jump(&mut self, code: u16, k: u32, mut jt: usize, mut jf: usize) -> usize {
        if jt == jf {
            return self.goto(jt);
        }
        if self.distance(jt) > 255 {
            jt = self.push(stmt(BPF_JMP_JA, self.distance(jt) as u32));
        }
        if self.distance(jf) > 255 {
            jf = self.push(stmt(BPF_JMP_JA, self.distance(jf) as u32));
        }
        let ins = sock_filter {
            code,
            jt: self.distance(jt) as u8,
            jf: self.distance(jf) as u8,
            k,
        };
        self.push(ins)
    }

    /// The shared `RET` for a value.
    fn ret(&mut self, rets: &mut BTreeMap<u32, usize>, v: u32) -> usize {
        if let Some(&l) = rets.get(&v) {
            return l;
        }
        let l = self.push(stmt(BPF_RET_K, v));
        rets.insert(v, l);
        l
    }

    /// Binary search over range starts; `A` holds the syscall number.
    fn tree(&mut self, ranges: &[(u32, usize)]) -> usize {
        if ranges.len() == 1 {
            return ranges[0].1;
        }
        let mid = ranges.len() / 2;
        let right = self.tree(&ranges[mid..]);
        let left = self.tree(&ranges[..mid]);
        self.jump(BPF_JMP_JGE_K, ranges[mid].0, right, left)
    }

    /// Rules tried in order; if none matches, `fallthrough`.
    fn check_block(
        &mut self,
        rets: &mut BTreeMap<u32, usize>,
        rules: &[Rule],
        fallthrough: u32,
    ) -> usize {
        let mut next = self.ret(rets, fallthrough);
        for rule in rules.iter().rev() {
            let mut pass = self.ret(rets, rule.action);
            for c in rule.conds.iter().rev() {
                pass = self.cond(c, pass, next);
            }
            next = pass;
        }
        next
    }

    /// One 64-bit comparison; returns its entry label.
    fn cond(&mut self, c: &Cond, pass: usize, fail: usize) -> usize {
        let lo_off = OFF_ARGS + 8 * c.index;
        let hi_off = lo_off + 4;
        let (vhi, vlo) = ((c.value >> 32) as u32, c.value as u32);
        use LinuxSeccompOperator as Op;
        match c.op {
            Op::ScmpCmpEq => self.eq(hi_off, lo_off, vhi, vlo, pass, fail),
            Op::ScmpCmpNe => self.eq(hi_off, lo_off, vhi, vlo, fail, pass),
            Op::ScmpCmpGt => self.gt(hi_off, lo_off, vhi, vlo, BPF_JMP_JGT_K, pass, fail),
            Op::ScmpCmpGe => self.gt(hi_off, lo_off, vhi, vlo, BPF_JMP_JGE_K, pass, fail),
            // a < v  <=>  !(a >= v);  a <= v  <=>  !(a > v)
            Op::ScmpCmpLt => self.gt(hi_off, lo_off, vhi, vlo, BPF_JMP_JGE_K, fail, pass),
            Op::ScmpCmpLe => self.gt(hi_off, lo_off, vhi, vlo, BPF_JMP_JGT_K, fail, pass),
            Op::ScmpCmpMaskedEq => {
                // OCI: `value` is the mask, `valueTwo` the expected bits.
                let (mhi, mlo) = (vhi, vlo);
                let (dhi, dlo) = ((c.value_two >> 32) as u32, c.value_two as u32);
                self.jump(BPF_JMP_JEQ_K, dlo, pass, fail);
                self.push(stmt(BPF_ALU_AND_K, mlo));
                let lo = self.push(stmt(BPF_LD_W_ABS, lo_off));
                if mhi == 0 && dhi == 0 {
                    // The high half can only ever match: don't test it.
                    return lo;
                }
                self.jump(BPF_JMP_JEQ_K, dhi, lo, fail);
                self.push(stmt(BPF_ALU_AND_K, mhi));
                self.push(stmt(BPF_LD_W_ABS, hi_off))
            }
        }
    }

    /// `arg == v`: both halves equal.
    fn eq(&mut self, hi: u32, lo: u32, vhi: u32, vlo: u32, pass: usize, fail: usize) -> usize {
        self.jump(BPF_JMP_JEQ_K, vlo, pass, fail);
        let lo_entry = self.push(stmt(BPF_LD_W_ABS, lo));
        self.jump(BPF_JMP_JEQ_K, vhi, lo_entry, fail);
        self.push(stmt(BPF_LD_W_ABS, hi))
    }

    /// `arg > v` (`lo_code` JGT) or `arg >= v` (`lo_code` JGE): the high
    /// halves decide unless equal, then the low halves do (unsigned).
    #[allow(clippy::too_many_arguments, reason = "one comparison's operands")]
    fn gt(
        &mut self,
        hi: u32,
        lo: u32,
        vhi: u32,
        vlo: u32,
        lo_code: u16,
        pass: usize,
        fail: usize,
    ) -> usize {
        self.jump(lo_code, vlo, pass, fail);
        let lo_entry = self.push(stmt(BPF_LD_W_ABS, lo));
        let eq = self.jump(BPF_JMP_JEQ_K, vhi, lo_entry, fail);
        self.jump(BPF_JMP_JGT_K, vhi, pass, eq);
        self.push(stmt(BPF_LD_W_ABS, hi))
    }
}
