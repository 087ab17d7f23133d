;; environ: answers 200 with the guest's WASI environment, each entry
;; followed by a NUL (what environ_get writes), so tests can check what a
;; guest's language runtime reads at start (GOGC, GOMEMLIMIT).
(module
  (import "wasi_snapshot_preview1" "environ_sizes_get" (func $sizes (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_get" (func $get (param i32 i32) (result i32)))
  (memory (export "memory") 1)

  (func (export "_initialize"))
  (func (export "edge_abi_version") (result i32) (i32.const 1))
  ;; requests go to 32768; the answer is built at 1024.
  (func (export "edge_alloc") (param $n i32) (result i32) (i32.const 32768))

  (func (export "edge_handle") (param $p i32) (param $n i32) (result i64)
    (local $count i32) (local $size i32)
    ;; counts at 0 and 4; pointers at 64..; the bytes after the 8-byte header at 1032.
    (drop (call $sizes (i32.const 0) (i32.const 4)))
    (local.set $count (i32.load (i32.const 0)))
    (local.set $size (i32.load (i32.const 4)))
    (if (i32.or (i32.gt_u (local.get $count) (i32.const 200))
                (i32.gt_u (local.get $size) (i32.const 30000)))
      (then unreachable))
    (drop (call $get (i32.const 64) (i32.const 1032)))
    (i32.store16 (i32.const 1024) (i32.const 200))
    (i32.store16 (i32.const 1026) (i32.const 0))
    (i32.store (i32.const 1028) (local.get $size))
    (i64.or (i64.shl (i64.const 1024) (i64.const 32))
            (i64.extend_i32_u (i32.add (local.get $size) (i32.const 8)))))
)
