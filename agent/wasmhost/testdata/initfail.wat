;; initfail: _initialize traps once the host config has a "fail" key, and
;; sleeps 60 s (one poll_oneoff with a clock subscription) when it has a
;; "sleep" key; edge_handle always traps. Lets a test make every new
;; instance fail.
(module
  (import "edge" "config_get" (func $config_get (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll_oneoff (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "fail")
  (data (i32.const 32) "sleep")
  (func $has (param $key i32) (param $len i32) (result i32)
    (i32.ge_s (call $config_get (local.get $key) (local.get $len) (i32.const 64) (i32.const 16)) (i32.const 0)))
  (func (export "_initialize")
    (if (call $has (i32.const 16) (i32.const 4))
      (then unreachable))
    (if (call $has (i32.const 32) (i32.const 5))
      (then
        ;; the subscription at 128 (48 bytes, zeroed): tag 0 (clock) at
        ;; +8, clock 0, relative timeout in ns at +24; its event at 192,
        ;; the number of events at 240
        (i64.store (i32.const 152) (i64.const 60000000000))
        (drop (call $poll_oneoff (i32.const 128) (i32.const 192) (i32.const 1) (i32.const 240))))))
  (func (export "edge_abi_version") (result i32) (i32.const 1))
  (func (export "edge_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "edge_handle") (param i32 i32) (result i64) unreachable))
