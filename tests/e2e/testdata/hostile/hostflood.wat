;; hostflood: calls the log, config_get and result_read imports forever.
(module
  (import "edge" "log" (func $log (param i32 i32 i32)))
  (import "edge" "config_get" (func $config_get (param i32 i32 i32 i32) (result i32)))
  (import "edge" "result_read" (func $result_read (param i32 i32) (result i32)))
  (memory (export "memory") 2)
  ;; Response frame: 200, no headers, body "ok"
  (data (i32.const 16) "\c8\00\00\00\02\00\00\00ok")

  (func $ensure (param $end i32)
    (local $need i32)
    (local.set $need (i32.shr_u (i32.add (local.get $end) (i32.const 65535)) (i32.const 16)))
    (if (i32.gt_u (local.get $need) (memory.size))
      (then
        (if (i32.eq (memory.grow (i32.sub (local.get $need) (memory.size))) (i32.const -1))
          (then unreachable)))))

  (func (export "edge_abi_version") (result i32) (i32.const 1))
  ;; the request frame goes at 64 KiB
  (func (export "edge_alloc") (param $n i32) (result i32)
    (call $ensure (i32.add (i32.const 65536) (local.get $n)))
    (i32.const 65536))
  ;; $root: is the request target "/"? (method, then the target)
  (func $root (param $p i32) (result i32)
    (i32.eq (i32.load (i32.add (i32.add (local.get $p) (i32.const 4)) (i32.load (local.get $p)))) (i32.const 1)))
  ;; $ok: the packed address of the "ok" frame (16 << 32 | 10)
  (func $ok (result i64) (i64.const 0x100000000a))

  (func (export "edge_handle") (param $p i32) (param $n i32) (result i64)
    (if (call $root (local.get $p)) (then (return (call $ok))))
    (loop $flood
      (call $log (i32.const 8) (i32.const 0) (i32.const 4096))
      (drop (call $config_get (i32.const 24) (i32.const 2) (i32.const 32768) (i32.const 1024)))
      (drop (call $result_read (i32.const 32768) (i32.const 1024)))
      (br $flood))
    unreachable))
