/*
 * example-deny-shadow: a wrun policy written in C (ABI v1, docs/policy-abi.md).
 *
 * Denies reading or writing /etc/shadow and anything under /root with
 * EACCES (audited), and any connect to port 25 (SMTP) with ECONNREFUSED;
 * allows the rest without auditing it.
 *
 * Build (clang's wasm32 target, no libc, no imports):
 *   scripts/build-c-policy.sh policies/example-deny-shadow.c
 * then: wrun run --policy policies/example-deny-shadow.wasm IMAGE ...
 */

typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef long long i64;

#define EXPORT(name) __attribute__((export_name(name)))

/* Operation codes (docs/policy-abi.md). */
enum { OP_OPEN = 1, OP_CREATE = 2, OP_LINK = 7, OP_CONNECT = 18 };

/* Answers: bit 0 deny, bit 8 audit, bits 16..27 errno. */
#define ALLOW 0LL
#define DENY_AUDIT(errno) (1LL | (1LL << 8) | ((i64)(errno) << 16))
#define EACCES 13
#define ECONNREFUSED 111

/* The request header, little-endian, 64 bytes, then the paths. */
struct request {
    u16 version, op;
    u32 flags, mode, uid, gid, pid, owner_uid, owner_gid;
    u16 family, port;
    u32 sock_type, protocol;
    u16 path_len, path2_len;
    u8 addr[16];
    u8 paths[];
};

/* REQUEST_MAX is 64 + 2 * 4096 = 8256 bytes. */
static u8 request_buffer[8256] __attribute__((aligned(8)));

EXPORT("wrun_abi_version") int wrun_abi_version(void) { return 1; }
EXPORT("wrun_request_buffer") int wrun_request_buffer(void) { return (int)(long)request_buffer; }
EXPORT("wrun_request_buffer_size") int wrun_request_buffer_size(void) { return sizeof request_buffer; }

/* open, create, link and connect; answers depend only on the request. */
EXPORT("wrun_interest") i64 wrun_interest(void) {
    return (1LL << OP_OPEN) | (1LL << OP_CREATE) | (1LL << OP_LINK) | (1LL << OP_CONNECT) | (1LL << 32);
}

static int equals(const u8 *p, u32 len, const char *s) {
    u32 i = 0;
    for (; i < len; i++)
        if (s[i] == 0 || s[i] != (char)p[i]) return 0;
    return s[i] == 0;
}

/* p is s, or lies beneath s (s without a trailing slash). */
static int under(const u8 *p, u32 len, const char *s) {
    u32 i = 0;
    for (; s[i]; i++)
        if (i >= len || s[i] != (char)p[i]) return 0;
    return i == len || p[i] == '/';
}

static int protected(const u8 *p, u32 len) {
    return equals(p, len, "/etc/shadow") || under(p, len, "/root");
}

EXPORT("decide") i64 decide(const struct request *req, u32 len) {
    (void)len;
    const u8 *path = req->paths;
    const u8 *path2 = req->paths + req->path_len;
    switch (req->op) {
    case OP_OPEN:
    case OP_CREATE:
        return protected(path, req->path_len) ? DENY_AUDIT(EACCES) : ALLOW;
    case OP_LINK: /* a new name for a protected file is refused too */
        return protected(path, req->path_len) || protected(path2, req->path2_len)
                   ? DENY_AUDIT(EACCES) : ALLOW;
    case OP_CONNECT:
        return req->port == 25 ? DENY_AUDIT(ECONNREFUSED) : ALLOW;
    default:
        return ALLOW;
    }
}
