;; hostcalls: runs the commands in the request body against the host
;; imports and answers 200 with one result record per command:
;;   i32 rc, u32 len, len bytes of result data.
;; A command is
;;   op u8, cap u32, len u32, payload[len]    op 1 log (cap is the level),
;;        2 config_get(payload), 3 sql(payload), 4 http_fetch(payload),
;;        5 result_read: each with a result buffer of cap bytes; a larger
;;        result is fetched with result_read; 6 fd_write(fd=cap, payload)
;;        (WASI: stdout is 1, stderr 2); 7 trap (unreachable).
;;   op u8, a u32, b u32, c u32, d u32        raw calls with the given
;;        pointers and lengths: 0x11 log(a,b,c), 0x12 config_get,
;;        0x13 sql, 0x14 http_fetch (a,b,c,d), 0x15 result_read(a,b).
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "edge" "log" (func $log (param i32 i32 i32)))
  (import "edge" "config_get" (func $config_get (param i32 i32 i32 i32) (result i32)))
  (import "edge" "sql" (func $sql (param i32 i32 i32 i32) (result i32)))
  (import "edge" "http_fetch" (func $fetch (param i32 i32 i32 i32) (result i32)))
  (import "edge" "result_read" (func $result_read (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 4096))

  (func $ensure (param $end i32)
    (local $need i32)
    (local.set $need (i32.shr_u (i32.add (local.get $end) (i32.const 65535)) (i32.const 16)))
    (if (i32.gt_u (local.get $need) (memory.size))
      (then
        (if (i32.eq (memory.grow (i32.sub (local.get $need) (memory.size))) (i32.const -1))
          (then unreachable)))))

  (func $bump (param $n i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $heap))
    (global.set $heap (i32.add (local.get $p) (local.get $n)))
    (call $ensure (global.get $heap))
    (local.get $p))

  (func $skip (param $off i32) (result i32)
    (i32.add (i32.add (local.get $off) (i32.const 4)) (i32.load (local.get $off))))

  (func (export "edge_abi_version") (result i32) (i32.const 1))
  (func (export "edge_alloc") (param $n i32) (result i32)
    (global.set $heap (i32.const 4096))
    (call $bump (local.get $n)))

  (func (export "edge_handle") (param $p i32) (param $n i32) (result i64)
    (local $off i32) (local $cnt i32) (local $end i32) (local $out i32) (local $w i32)
    (local $op i32) (local $cap i32) (local $plen i32) (local $pp i32) (local $buf i32)
    (local $rc i32) (local $rc2 i32) (local $buf2 i32) (local $data i32) (local $dlen i32)
    (local $a i32) (local $b i32) (local $c i32) (local $d i32)
    (local.set $off (call $skip (call $skip (call $skip (local.get $p)))))
    (local.set $cnt (i32.mul (i32.load16_u (local.get $off)) (i32.const 2)))
    (local.set $off (i32.add (local.get $off) (i32.const 2)))
    (block $done
      (loop $next
        (br_if $done (i32.eqz (local.get $cnt)))
        (local.set $off (call $skip (local.get $off)))
        (local.set $cnt (i32.sub (local.get $cnt) (i32.const 1)))
        (br $next)))
    (local.set $end (i32.add (i32.add (local.get $off) (i32.const 4)) (i32.load (local.get $off))))
    (local.set $off (i32.add (local.get $off) (i32.const 4)))
    (local.set $out (call $bump (i32.const 1048576)))
    (local.set $w (i32.add (local.get $out) (i32.const 8)))
    (block $finished
      (loop $cmd
        (br_if $finished (i32.ge_u (local.get $off) (local.get $end)))
        (local.set $op (i32.load8_u (local.get $off)))
        (local.set $rc (i32.const 0))
        (local.set $dlen (i32.const 0))
        (local.set $data (i32.const 0))
        (if (i32.ge_u (local.get $op) (i32.const 0x10))
          (then
            (local.set $a (i32.load offset=1 (local.get $off)))
            (local.set $b (i32.load offset=5 (local.get $off)))
            (local.set $c (i32.load offset=9 (local.get $off)))
            (local.set $d (i32.load offset=13 (local.get $off)))
            (local.set $off (i32.add (local.get $off) (i32.const 17)))
            (block $raw
              (if (i32.eq (local.get $op) (i32.const 0x11))
                (then (call $log (local.get $a) (local.get $b) (local.get $c)) (br $raw)))
              (if (i32.eq (local.get $op) (i32.const 0x12))
                (then (local.set $rc (call $config_get (local.get $a) (local.get $b) (local.get $c) (local.get $d))) (br $raw)))
              (if (i32.eq (local.get $op) (i32.const 0x13))
                (then (local.set $rc (call $sql (local.get $a) (local.get $b) (local.get $c) (local.get $d))) (br $raw)))
              (if (i32.eq (local.get $op) (i32.const 0x14))
                (then (local.set $rc (call $fetch (local.get $a) (local.get $b) (local.get $c) (local.get $d))) (br $raw)))
              (if (i32.eq (local.get $op) (i32.const 0x15))
                (then (local.set $rc (call $result_read (local.get $a) (local.get $b))) (br $raw)))
              unreachable))
          (else
            (local.set $cap (i32.load offset=1 (local.get $off)))
            (local.set $plen (i32.load offset=5 (local.get $off)))
            (local.set $pp (i32.add (local.get $off) (i32.const 9)))
            (local.set $off (i32.add (local.get $pp) (local.get $plen)))
            (local.set $buf (call $bump (local.get $cap)))
            (block $call
              (if (i32.eq (local.get $op) (i32.const 1))
                (then (call $log (local.get $cap) (local.get $pp) (local.get $plen)) (br $call)))
              (if (i32.eq (local.get $op) (i32.const 2))
                (then (local.set $rc (call $config_get (local.get $pp) (local.get $plen) (local.get $buf) (local.get $cap))) (br $call)))
              (if (i32.eq (local.get $op) (i32.const 3))
                (then (local.set $rc (call $sql (local.get $pp) (local.get $plen) (local.get $buf) (local.get $cap))) (br $call)))
              (if (i32.eq (local.get $op) (i32.const 4))
                (then (local.set $rc (call $fetch (local.get $pp) (local.get $plen) (local.get $buf) (local.get $cap))) (br $call)))
              (if (i32.eq (local.get $op) (i32.const 5))
                (then (local.set $rc (call $result_read (local.get $buf) (local.get $cap))) (br $call)))
              (if (i32.eq (local.get $op) (i32.const 6))
                (then
                  (local.set $a (call $bump (i32.const 12)))
                  (i32.store (local.get $a) (local.get $pp))
                  (i32.store offset=4 (local.get $a) (local.get $plen))
                  (local.set $rc (call $fd_write (local.get $cap) (local.get $a) (i32.const 1) (i32.add (local.get $a) (i32.const 8))))
                  (local.set $cap (i32.const 0))
                  (br $call)))
              unreachable)
            (if (i32.ge_s (local.get $rc) (i32.const 0))
              (then
                (if (i32.le_u (local.get $rc) (local.get $cap))
                  (then
                    (local.set $data (local.get $buf))
                    (local.set $dlen (local.get $rc)))
                  (else
                    (local.set $buf2 (call $bump (local.get $rc)))
                    (local.set $rc2 (call $result_read (local.get $buf2) (local.get $rc)))
                    (if (i32.ne (local.get $rc2) (local.get $rc))
                      (then (local.set $rc (local.get $rc2)))
                      (else
                        (local.set $data (local.get $buf2))
                        (local.set $dlen (local.get $rc))))))))))
        (i32.store (local.get $w) (local.get $rc))
        (i32.store offset=4 (local.get $w) (local.get $dlen))
        (memory.copy (i32.add (local.get $w) (i32.const 8)) (local.get $data) (local.get $dlen))
        (local.set $w (i32.add (local.get $w) (i32.add (local.get $dlen) (i32.const 8))))
        (br $cmd)))
    (i32.store16 (local.get $out) (i32.const 200))
    (i32.store16 offset=2 (local.get $out) (i32.const 0))
    (i32.store offset=4 (local.get $out) (i32.sub (i32.sub (local.get $w) (local.get $out)) (i32.const 8)))
    (i64.or (i64.shl (i64.extend_i32_u (local.get $out)) (i64.const 32))
            (i64.extend_i32_u (i32.sub (local.get $w) (local.get $out)))))
)
