;; Test policy: every file operation whose path (or second path) contains
;; "secret" is denied with EACCES; connect and bind to port 18499 are denied
;; with ECONNREFUSED (111). Everything is audited.
(module
  (memory (export "memory") 1)
  (func (export "wrun_abi_version") (result i32) (i32.const 1))
  (func (export "wrun_request_buffer") (result i32) (i32.const 1024))
  (func (export "wrun_request_buffer_size") (result i32) (i32.const 9216))
  ;; open..mknod (1..12), connect (18), bind (19).
  (func (export "wrun_interest") (result i64) (i64.const 0xc_1ffe))
  (func $contains_secret (param $p i32) (param $l i32) (result i32)
    (local $i i32)
    (block $done
      (loop $next
        (br_if $done (i32.gt_u (i32.add (local.get $i) (i32.const 6)) (local.get $l)))
        (if (i32.and
              (i32.eq (i32.load (i32.add (local.get $p) (local.get $i))) (i32.const 0x72636573))
              (i32.eq (i32.load16_u offset=4 (i32.add (local.get $p) (local.get $i))) (i32.const 0x7465)))
          (then (return (i32.const 1))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (i32.const 0))
  (func (export "decide") (param $ptr i32) (param $len i32) (result i64)
    (local $op i32)
    (local $l1 i32)
    (local.set $op (i32.load16_u offset=2 (local.get $ptr)))
    (if (i32.or (i32.eq (local.get $op) (i32.const 18)) (i32.eq (local.get $op) (i32.const 19)))
      (then
        (if (i32.eq (i32.load16_u offset=34 (local.get $ptr)) (i32.const 18499))
          (then (return (i64.const 0x006f_0101))))
        (return (i64.const 0x100))))
    (local.set $l1 (i32.load16_u offset=44 (local.get $ptr)))
    (if (call $contains_secret (i32.add (local.get $ptr) (i32.const 64)) (local.get $l1))
      (then (return (i64.const 0x000d_0101))))
    (if (call $contains_secret
          (i32.add (i32.add (local.get $ptr) (i32.const 64)) (local.get $l1))
          (i32.load16_u offset=46 (local.get $ptr)))
      (then (return (i64.const 0x000d_0101))))
    (i64.const 0x100)))
