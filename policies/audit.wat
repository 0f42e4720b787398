;; audit: allow every operation and audit every decision.
;;
;; The simplest complete ABI v1 policy (docs/policy-abi.md): it sees all
;; operations, never denies, and sets the audit bit so every trapped call is
;; written to the container's audit log. Its answers depend on nothing, so
;; the host may cache them.
(module
  (memory (export "memory") 1)
  (func (export "wrun_abi_version") (result i32) (i32.const 1))
  ;; Requests are written at 1024; 9216 bytes hold the largest (8256).
  (func (export "wrun_request_buffer") (result i32) (i32.const 1024))
  (func (export "wrun_request_buffer_size") (result i32) (i32.const 9216))
  ;; Bits 1..=21: every operation; bit 32: answers may be cached.
  (func (export "wrun_interest") (result i64) (i64.const 0x1_003f_fffe))
  ;; Allow (bit 0 clear), audit (bit 8).
  (func (export "decide") (param $ptr i32) (param $len i32) (result i64)
    (i64.const 0x100)))
