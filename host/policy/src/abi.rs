//! ABI v1: the bytes exchanged between the host and a policy module.
//!
//! The layout is specified in `docs/policy-abi.md`; this module is its one
//! implementation on the host side. A request is a fixed 64-byte
//! little-endian header followed by up to two paths; an answer is one `i64`
//! whose every bit is checked, so a module cannot smuggle in a value the host
//! would misread (an errno of 0 on a deny, a negative errno, stray bits).

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::error::Error;

/// The ABI version this host speaks; `wrun_abi_version()` must return it.
pub const ABI_VERSION: i32 = 1;
/// Length of the fixed request header.
pub const HEADER_LEN: usize = 64;
/// Longest path the host sends (Linux `PATH_MAX`, without the NUL).
pub const PATH_MAX: usize = 4096;
/// Largest request: header plus two full paths. A module's request buffer
/// must hold at least this many bytes, so a request never fails to fit at
/// run time.
pub const REQUEST_MAX: usize = HEADER_LEN + 2 * PATH_MAX;

/// `AF_UNIX`, `AF_INET`, `AF_INET6`: the family numbers Linux uses, which the
/// ABI carries unchanged.
pub const AF_UNIX: u16 = 1;
/// IPv4.
pub const AF_INET: u16 = 2;
/// IPv6.
pub const AF_INET6: u16 = 10;

/// `EPERM`: the errno of every failure of the policy itself.
pub const EPERM: i32 = 1;
/// The highest errno Linux can return (`MAX_ERRNO`).
pub const MAX_ERRNO: i32 = 4095;

macro_rules! ops {
    ($($(#[$doc:meta])* $name:ident = $code:literal, $text:literal;)*) => {
        /// The operation a request is about. The code is the wire value and
        /// the bit number in the interest mask.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(u16)]
        pub enum Op {
            $($(#[$doc])* $name = $code,)*
        }

        impl Op {
            /// Every operation, in code order.
            pub const ALL: &'static [Op] = &[$(Op::$name,)*];

            /// The operation with wire code `code`.
            pub fn from_code(code: u16) -> Option<Op> {
                match code {
                    $($code => Some(Op::$name),)*
                    _ => None,
                }
            }

            /// The lower-case name used in docs, audit logs and rule files.
            pub fn name(self) -> &'static str {
                match self {
                    $(Op::$name => $text,)*
                }
            }
        }
    };
}

ops! {
    /// open/openat/openat2 without `O_CREAT` or `O_TMPFILE`.
    Open = 1, "open";
    /// creat, or an open with `O_CREAT` or `O_TMPFILE`.
    Create = 2, "create";
    /// unlink/unlinkat of a non-directory.
    Unlink = 3, "unlink";
    /// rename*: `path` is the old name, `path2` the new one.
    Rename = 4, "rename";
    /// mkdir/mkdirat.
    Mkdir = 5, "mkdir";
    /// rmdir, or unlinkat with `AT_REMOVEDIR`.
    Rmdir = 6, "rmdir";
    /// link/linkat: `path` is the new link, `path2` the existing file.
    Link = 7, "link";
    /// symlink/symlinkat: `path` is the new link, `path2` its target text.
    Symlink = 8, "symlink";
    /// chmod family.
    Chmod = 9, "chmod";
    /// chown family: the requested owner is in `owner_uid`/`owner_gid`.
    Chown = 10, "chown";
    /// truncate (by path).
    Truncate = 11, "truncate";
    /// mknod/mknodat.
    Mknod = 12, "mknod";
    /// execve/execveat (audited, never emulated).
    Exec = 13, "exec";
    /// stat family.
    Stat = 14, "stat";
    /// access/faccessat.
    Access = 15, "access";
    /// readlink/readlinkat.
    Readlink = 16, "readlink";
    /// socket: family, type and protocol.
    Socket = 17, "socket";
    /// connect.
    Connect = 18, "connect";
    /// bind.
    Bind = 19, "bind";
    /// listen.
    Listen = 20, "listen";
    /// sendto/sendmsg with a destination address.
    Sendto = 21, "sendto";
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Op {
    type Err = Error;
    fn from_str(s: &str) -> Result<Op, Error> {
        Op::ALL
            .iter()
            .copied()
            .find(|op| op.name() == s)
            .ok_or_else(|| Error::UnknownOp(s.to_owned()))
    }
}

/// A set of operations, as carried in the interest mask (bit `n` = op code
/// `n`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OpSet(u32);

impl OpSet {
    /// Every operation.
    pub fn all() -> OpSet {
        OpSet(Op::ALL.iter().fold(0, |m, op| m | 1 << *op as u16))
    }
    /// No operation.
    pub fn empty() -> OpSet {
        OpSet(0)
    }
    /// The set from a raw mask; `None` if it names codes that are no
    /// operation.
    pub fn from_bits(bits: u32) -> Option<OpSet> {
        (bits & !OpSet::all().0 == 0).then_some(OpSet(bits))
    }
    /// The raw mask.
    pub fn bits(self) -> u32 {
        self.0
    }
    /// Whether `op` is in the set.
    pub fn contains(self, op: Op) -> bool {
        self.0 & (1 << op as u16) != 0
    }
    /// The set with `op` added.
    pub fn with(self, op: Op) -> OpSet {
        OpSet(self.0 | 1 << op as u16)
    }
    /// The operations in the set, in code order.
    pub fn iter(self) -> impl Iterator<Item = Op> {
        Op::ALL.iter().copied().filter(move |op| self.contains(*op))
    }
}

/// What a policy asks for through `wrun_interest()`: the operations it wants
/// to see (the others never leave the kernel) and whether its answers depend
/// only on the request, so the host may cache them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interest {
    /// Operations the policy wants to decide.
    pub ops: OpSet,
    /// Answers depend only on the request's bytes and may be reused.
    pub cacheable: bool,
}

/// Bit 32 of `wrun_interest()`: answers may be cached.
pub const INTEREST_CACHEABLE: i64 = 1 << 32;

impl Interest {
    /// What a module without `wrun_interest` gets: everything, uncached.
    pub fn everything() -> Interest {
        Interest {
            ops: OpSet::all(),
            cacheable: false,
        }
    }

    /// Decodes the value returned by `wrun_interest()`, refusing unknown bits.
    pub fn decode(value: i64) -> Result<Interest, Error> {
        let known = i64::from(OpSet::all().bits()) | INTEREST_CACHEABLE;
        if value & !known != 0 {
            return Err(Error::BadInterest { value });
        }
        Ok(Interest {
            // The mask was checked against the known bits just above.
            ops: OpSet((value & 0xffff_ffff) as u32),
            cacheable: value & INTEREST_CACHEABLE != 0,
        })
    }

    /// The value a module returns for this interest.
    pub fn encode(self) -> i64 {
        i64::from(self.ops.bits())
            | if self.cacheable {
                INTEREST_CACHEABLE
            } else {
                0
            }
    }
}

/// One request, borrowing its paths. Fields a given operation does not use
/// are zero (see `docs/policy-abi.md` for which operation uses which).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request<'a> {
    /// The operation.
    pub op: Op,
    /// Open flags (`O_*`, Linux values) for open/create; `AT_*` flags for
    /// the others where the call has them.
    pub flags: u32,
    /// Mode for create/mkdir/mknod/chmod; access mode bits for access.
    pub mode: u32,
    /// Caller's effective uid (in the container's user namespace view).
    pub uid: u32,
    /// Caller's effective gid.
    pub gid: u32,
    /// Caller's pid, as seen from the container.
    pub pid: u32,
    /// Requested owner for chown (`u32::MAX` = unchanged).
    pub owner_uid: u32,
    /// Requested group for chown (`u32::MAX` = unchanged).
    pub owner_gid: u32,
    /// Socket family (`AF_*`), 0 if none.
    pub family: u16,
    /// Port in host order, for `AF_INET`/`AF_INET6`.
    pub port: u16,
    /// Socket type for socket (`SOCK_*`, flags included).
    pub sock_type: u32,
    /// Protocol for socket.
    pub protocol: u32,
    /// Address bytes in network order: IPv4 in the first 4, IPv6 all 16.
    pub addr: [u8; 16],
    /// The path the call touches (resolved, absolute), or the `AF_UNIX`
    /// socket path.
    pub path: &'a [u8],
    /// The second path of rename/link/symlink.
    pub path2: &'a [u8],
}

impl<'a> Request<'a> {
    /// A request for `op` with every other field zero.
    pub fn new(op: Op) -> Request<'a> {
        Request {
            op,
            flags: 0,
            mode: 0,
            uid: 0,
            gid: 0,
            pid: 0,
            owner_uid: 0,
            owner_gid: 0,
            family: 0,
            port: 0,
            sock_type: 0,
            protocol: 0,
            addr: [0; 16],
            path: b"",
            path2: b"",
        }
    }

    /// A request for `op` on `path`.
    pub fn path(op: Op, path: &'a [u8]) -> Request<'a> {
        Request {
            path,
            ..Request::new(op)
        }
    }

    /// Sets family, address and port from an IP socket address.
    pub fn with_socket_addr(mut self, sa: SocketAddr) -> Request<'a> {
        self.addr = [0; 16];
        match sa {
            SocketAddr::V4(v4) => {
                self.family = AF_INET;
                self.addr[..4].copy_from_slice(&v4.ip().octets());
            }
            SocketAddr::V6(v6) => {
                self.family = AF_INET6;
                self.addr = v6.ip().octets();
            }
        }
        self.port = sa.port();
        self
    }

    /// The IP socket address, for `AF_INET`/`AF_INET6` requests.
    pub fn socket_addr(&self) -> Option<SocketAddr> {
        match self.family {
            AF_INET => {
                let ip = Ipv4Addr::new(self.addr[0], self.addr[1], self.addr[2], self.addr[3]);
                Some(SocketAddr::from((ip, self.port)))
            }
            AF_INET6 => Some(SocketAddr::from((Ipv6Addr::from(self.addr), self.port))),
            _ => None,
        }
    }

    /// Encoded length of this request.
    pub fn encoded_len(&self) -> usize {
        HEADER_LEN + self.path.len() + self.path2.len()
    }

    /// Writes the request into `buf` and returns its length. Allocates
    /// nothing: this runs on the supervisor's hot path, straight into the
    /// module's memory.
    pub fn encode_into(&self, buf: &mut [u8]) -> Result<usize, Error> {
        for (which, p) in [("path", self.path), ("path2", self.path2)] {
            if p.len() > PATH_MAX {
                return Err(Error::PathTooLong {
                    which,
                    len: p.len(),
                });
            }
        }
        let len = self.encoded_len();
        if buf.len() < len {
            return Err(Error::BufferTooSmall {
                need: len,
                have: buf.len(),
            });
        }
        let h = &mut buf[..HEADER_LEN];
        h[0..2].copy_from_slice(&(ABI_VERSION as u16).to_le_bytes());
        h[2..4].copy_from_slice(&(self.op as u16).to_le_bytes());
        h[4..8].copy_from_slice(&self.flags.to_le_bytes());
        h[8..12].copy_from_slice(&self.mode.to_le_bytes());
        h[12..16].copy_from_slice(&self.uid.to_le_bytes());
        h[16..20].copy_from_slice(&self.gid.to_le_bytes());
        h[20..24].copy_from_slice(&self.pid.to_le_bytes());
        h[24..28].copy_from_slice(&self.owner_uid.to_le_bytes());
        h[28..32].copy_from_slice(&self.owner_gid.to_le_bytes());
        h[32..34].copy_from_slice(&self.family.to_le_bytes());
        h[34..36].copy_from_slice(&self.port.to_le_bytes());
        h[36..40].copy_from_slice(&self.sock_type.to_le_bytes());
        h[40..44].copy_from_slice(&self.protocol.to_le_bytes());
        // Both lengths are at most PATH_MAX (checked above), so they fit u16.
        h[44..46].copy_from_slice(&(self.path.len() as u16).to_le_bytes());
        h[46..48].copy_from_slice(&(self.path2.len() as u16).to_le_bytes());
        h[48..64].copy_from_slice(&self.addr);
        let p1 = HEADER_LEN + self.path.len();
        buf[HEADER_LEN..p1].copy_from_slice(self.path);
        buf[p1..len].copy_from_slice(self.path2);
        Ok(len)
    }

    /// Encodes into a new vector (tests, tools; not the hot path).
    pub fn to_vec(&self) -> Result<Vec<u8>, Error> {
        let mut v = vec![0; self.encoded_len()];
        self.encode_into(&mut v)?;
        Ok(v)
    }

    /// Decodes a request, checking version, operation and lengths; the
    /// inverse of [`Request::encode_into`] (used by tools that replay
    /// requests, and by the round-trip tests).
    pub fn decode(buf: &'a [u8]) -> Result<Request<'a>, Error> {
        if buf.len() < HEADER_LEN {
            return Err(Error::Truncated { len: buf.len() });
        }
        let u16_at = |o: usize| u16::from_le_bytes([buf[o], buf[o + 1]]);
        let u32_at = |o: usize| u32::from_le_bytes([buf[o], buf[o + 1], buf[o + 2], buf[o + 3]]);
        let version = u16_at(0);
        if i32::from(version) != ABI_VERSION {
            return Err(Error::RequestVersion { found: version });
        }
        let code = u16_at(2);
        let op = Op::from_code(code).ok_or(Error::UnknownOpCode { code })?;
        let (l1, l2) = (usize::from(u16_at(44)), usize::from(u16_at(46)));
        if l1 > PATH_MAX || l2 > PATH_MAX || buf.len() != HEADER_LEN + l1 + l2 {
            return Err(Error::Truncated { len: buf.len() });
        }
        let mut addr = [0; 16];
        addr.copy_from_slice(&buf[48..64]);
        Ok(Request {
            op,
            flags: u32_at(4),
            mode: u32_at(8),
            uid: u32_at(12),
            gid: u32_at(16),
            pid: u32_at(20),
            owner_uid: u32_at(24),
            owner_gid: u32_at(28),
            family: u16_at(32),
            port: u16_at(34),
            sock_type: u32_at(36),
            protocol: u32_at(40),
            addr,
            path: &buf[HEADER_LEN..HEADER_LEN + l1],
            path2: &buf[HEADER_LEN + l1..],
        })
    }
}

/// Bit layout of `decide`'s answer.
const ANSWER_DENY: i64 = 1;
const ANSWER_AUDIT: i64 = 1 << 8;
const ANSWER_ERRNO_SHIFT: u32 = 16;

/// A policy's answer as the module gave it (before any failure handling).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// Let the call proceed.
    Allow {
        /// Record it in the audit log.
        audit: bool,
    },
    /// Fail the call with `errno`.
    Deny {
        /// 1..=4095.
        errno: i32,
        /// Record it in the audit log.
        audit: bool,
    },
}

impl Answer {
    /// Encodes the answer as a module returns it.
    pub fn encode(self) -> i64 {
        match self {
            Answer::Allow { audit } => {
                if audit {
                    ANSWER_AUDIT
                } else {
                    0
                }
            }
            Answer::Deny { errno, audit } => {
                ANSWER_DENY
                    | if audit { ANSWER_AUDIT } else { 0 }
                    | i64::from(errno) << ANSWER_ERRNO_SHIFT
            }
        }
    }

    /// Decodes and validates `decide`'s return value: bit 0 deny, bit 8
    /// audit, bits 16..=27 errno, everything else zero; an allow carries no
    /// errno and a deny carries one in 1..=4095. `None` for anything else.
    pub fn decode(value: i64) -> Option<Answer> {
        const KNOWN: i64 = ANSWER_DENY | ANSWER_AUDIT | (0xfff << ANSWER_ERRNO_SHIFT);
        if value & !KNOWN != 0 {
            return None;
        }
        let audit = value & ANSWER_AUDIT != 0;
        // Masked to 12 bits, so the cast cannot truncate.
        let errno = ((value >> ANSWER_ERRNO_SHIFT) & 0xfff) as i32;
        match (value & ANSWER_DENY != 0, errno) {
            (false, 0) => Some(Answer::Allow { audit }),
            (true, 1..=MAX_ERRNO) => Some(Answer::Deny { errno, audit }),
            _ => None,
        }
    }
}
