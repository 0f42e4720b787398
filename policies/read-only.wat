;; read-only: the container may write only under /tmp.
;;
;; Every operation that changes the file system (an open for writing or with
;; O_TRUNC, create, unlink, rename, mkdir, rmdir, link, symlink, chmod, chown,
;; truncate, mknod) is allowed when the path it changes is /tmp or lies
;; beneath it, and denied with EROFS and audited otherwise. rename and link
;; need both of their paths under /tmp: renaming a file out of /tmp removes
;; it from there, and a hard link in /tmp to a file elsewhere would make that
;; file writable through /tmp. Paths are the resolved, absolute paths the
;; supervisor computed (no "..", no symlinks), so a prefix test is exact.
;; Reads are not asked for. Request layout: docs/policy-abi.md.
(module
  (memory (export "memory") 1)
  (func (export "wrun_abi_version") (result i32) (i32.const 1))
  (func (export "wrun_request_buffer") (result i32) (i32.const 1024))
  (func (export "wrun_request_buffer_size") (result i32) (i32.const 9216))
  ;; open (1) through mknod (12); cacheable (bit 32).
  (func (export "wrun_interest") (result i64) (i64.const 0x1_0000_1ffe))

  ;; Whether the path at $p of $l bytes is /tmp or beneath it.
  (func $under_tmp (param $p i32) (param $l i32) (result i32)
    (if (i32.lt_u (local.get $l) (i32.const 4))
      (then (return (i32.const 0))))
    ;; "/tmp" read as a little-endian i32.
    (if (i32.ne (i32.load (local.get $p)) (i32.const 0x706d_742f))
      (then (return (i32.const 0))))
    (if (i32.eq (local.get $l) (i32.const 4))
      (then (return (i32.const 1))))
    ;; "/tmpfoo" is not beneath /tmp.
    (i32.eq (i32.load8_u offset=4 (local.get $p)) (i32.const 0x2f)))

  (func (export "decide") (param $ptr i32) (param $len i32) (result i64)
    (local $op i32)
    (local $flags i32)
    (local $p1 i32)
    (local $l1 i32)
    (local.set $op (i32.load16_u offset=2 (local.get $ptr)))
    (local.set $flags (i32.load offset=4 (local.get $ptr)))
    ;; Anything but open..mknod is not a write.
    (if (i32.or (i32.eqz (local.get $op)) (i32.gt_u (local.get $op) (i32.const 12)))
      (then (return (i64.const 0))))
    ;; open: a write only with O_WRONLY/O_RDWR (O_ACCMODE = 3) or O_TRUNC (0x200).
    (if (i32.and
          (i32.eq (local.get $op) (i32.const 1))
          (i32.eqz (i32.and (local.get $flags) (i32.const 0x203))))
      (then (return (i64.const 0))))
    (local.set $p1 (i32.add (local.get $ptr) (i32.const 64)))
    (local.set $l1 (i32.load16_u offset=44 (local.get $ptr)))
    (if (i32.eqz (call $under_tmp (local.get $p1) (local.get $l1)))
      (then (return (i64.const 0x001e_0101))))
    ;; rename (4) and link (7): the second path too.
    (if (i32.or (i32.eq (local.get $op) (i32.const 4)) (i32.eq (local.get $op) (i32.const 7)))
      (then
        (if (i32.eqz
              (call $under_tmp
                (i32.add (local.get $p1) (local.get $l1))
                (i32.load16_u offset=46 (local.get $ptr))))
          (then (return (i64.const 0x001e_0101))))))
    (i64.const 0)))
