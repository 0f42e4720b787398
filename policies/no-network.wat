;; no-network: network calls may reach only the host itself.
;;
;; connect, bind and sendto are allowed for AF_UNIX sockets and for the
;; loopback addresses (127.0.0.0/8, ::1, and ::ffff:127.0.0.0/104, the
;; IPv4-mapped loopback); anything else is denied and audited: ENETUNREACH
;; for connect and sendto (what a container without a network sees), EACCES
;; for bind. Other operations are not asked for, so they never leave the
;; kernel. Request layout: docs/policy-abi.md.
(module
  (memory (export "memory") 1)
  (func (export "wrun_abi_version") (result i32) (i32.const 1))
  (func (export "wrun_request_buffer") (result i32) (i32.const 1024))
  (func (export "wrun_request_buffer_size") (result i32) (i32.const 9216))
  ;; connect (18), bind (19), sendto (21); cacheable (bit 32).
  (func (export "wrun_interest") (result i64) (i64.const 0x1_002c_0000))

  ;; Whether the request's address is local: AF_UNIX, or a loopback IP.
  (func $local (param $ptr i32) (result i32)
    (local $family i32)
    (local.set $family (i32.load16_u offset=32 (local.get $ptr)))
    ;; AF_UNIX
    (if (i32.eq (local.get $family) (i32.const 1))
      (then (return (i32.const 1))))
    ;; AF_INET: first octet 127.
    (if (i32.eq (local.get $family) (i32.const 2))
      (then (return (i32.eq (i32.load8_u offset=48 (local.get $ptr)) (i32.const 127)))))
    ;; AF_INET6: bytes 0..=7 zero, then either ::1 or ::ffff:127.x.x.x.
    (if (i32.eq (local.get $family) (i32.const 10))
      (then
        (if (i64.ne (i64.load offset=48 (local.get $ptr)) (i64.const 0))
          (then (return (i32.const 0))))
        ;; ::1 — bytes 8..=15 are 0,0,0,0,0,0,0,1 (little-endian i64: 1 << 56).
        (if (i64.eq (i64.load offset=56 (local.get $ptr)) (i64.const 0x0100_0000_0000_0000))
          (then (return (i32.const 1))))
        ;; ::ffff:127.x.x.x — bytes 8..=11 are 0,0,ff,ff and byte 12 is 127.
        (return
          (i32.and
            (i32.eq (i32.load offset=56 (local.get $ptr)) (i32.const 0xffff_0000))
            (i32.eq (i32.load8_u offset=60 (local.get $ptr)) (i32.const 127))))))
    (i32.const 0))

  (func (export "decide") (param $ptr i32) (param $len i32) (result i64)
    (local $op i32)
    (local.set $op (i32.load16_u offset=2 (local.get $ptr)))
    ;; Not a connect/bind/sendto, or a local address: allow, no audit.
    (if (i32.and
          (i32.ne (local.get $op) (i32.const 18))
          (i32.and
            (i32.ne (local.get $op) (i32.const 19))
            (i32.ne (local.get $op) (i32.const 21))))
      (then (return (i64.const 0))))
    (if (call $local (local.get $ptr))
      (then (return (i64.const 0))))
    ;; Deny + audit: EACCES (13) for bind, ENETUNREACH (101) otherwise.
    (if (result i64) (i32.eq (local.get $op) (i32.const 19))
      (then (i64.const 0x000d_0101))
      (else (i64.const 0x0065_0101)))))
