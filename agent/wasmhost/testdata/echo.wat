;; echo: answers 200 with the request body. The first body byte selects a
;; misbehaviour instead:
;;   0x01 trap (unreachable)          0x02 infinite loop
;;   0x03 memory.grow until failure, then trap
;;   0x04 a fixed 201 response with hop-by-hop and invalid headers
;;   0x05 spin u32(body[1:5]) iterations, then echo
;;   0x06 return an out-of-bounds ptr/len     0x07 return a malformed frame
;;   0x08 M: echo, and make every later edge_alloc misbehave by M:
;;        1 return 0 (refuse), 2 return a pointer past memory,
;;        3 return a pointer whose request would cross the end of memory
;;   0x09 return a valid frame at address 0
(module
  (memory (export "memory") 1)
  (data (i32.const 1024) "\c9\00\06\00\0a\00\00\00\43\6f\6e\6e\65\63\74\69\6f\6e\05\00\00\00\63\6c\6f\73\65\11\00\00\00\54\72\61\6e\73\66\65\72\2d\45\6e\63\6f\64\69\6e\67\07\00\00\00\63\68\75\6e\6b\65\64\0e\00\00\00\43\6f\6e\74\65\6e\74\2d\4c\65\6e\67\74\68\03\00\00\00\39\39\39\07\00\00\00\58\2d\47\75\65\73\74\03\00\00\00\79\65\73\08\00\00\00\42\61\64\20\4e\61\6d\65\01\00\00\00\78\07\00\00\00\58\2d\53\70\6c\69\74\0e\00\00\00\61\0d\0a\49\6e\6a\65\63\74\65\64\3a\20\31\02\00\00\00\68\69")
  (data (i32.const 2048) "\00\00\00\00\00\00\00\00")
  (global $heap (mut i32) (i32.const 4096))
  (global $allocMode (mut i32) (i32.const 0))

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

  (func $pack (param $p i32) (param $n i32) (result i64)
    (i64.or (i64.shl (i64.extend_i32_u (local.get $p)) (i64.const 32))
            (i64.extend_i32_u (local.get $n))))

  (func (export "_initialize"))
  (func (export "edge_abi_version") (result i32) (i32.const 1))
  (func (export "edge_alloc") (param $n i32) (result i32)
    (if (i32.eq (global.get $allocMode) (i32.const 1)) (then (return (i32.const 0))))
    (if (i32.eq (global.get $allocMode) (i32.const 2)) (then (return (i32.const 0xfffffff0))))
    (if (i32.eq (global.get $allocMode) (i32.const 3))
      (then (return (i32.sub (i32.shl (memory.size) (i32.const 16)) (i32.const 4)))))
    (global.set $heap (i32.const 4096))
    (call $bump (local.get $n)))

  (func (export "edge_handle") (param $p i32) (param $n i32) (result i64)
    (local $off i32) (local $cnt i32) (local $blen i32) (local $bptr i32)
    (local $out i32) (local $mode i32) (local $spin i32)
    ;; skip method, uri, remote address, then the headers
    (local.set $off (call $skip (call $skip (call $skip (local.get $p)))))
    (local.set $cnt (i32.mul (i32.load16_u (local.get $off)) (i32.const 2)))
    (local.set $off (i32.add (local.get $off) (i32.const 2)))
    (block $done
      (loop $next
        (br_if $done (i32.eqz (local.get $cnt)))
        (local.set $off (call $skip (local.get $off)))
        (local.set $cnt (i32.sub (local.get $cnt) (i32.const 1)))
        (br $next)))
    (local.set $blen (i32.load (local.get $off)))
    (local.set $bptr (i32.add (local.get $off) (i32.const 4)))
    (if (i32.gt_u (local.get $blen) (i32.const 0))
      (then
        (local.set $mode (i32.load8_u (local.get $bptr)))
        (if (i32.eq (local.get $mode) (i32.const 1)) (then unreachable))
        (if (i32.eq (local.get $mode) (i32.const 2)) (then (loop $forever (br $forever))))
        (if (i32.eq (local.get $mode) (i32.const 3))
          (then
            (loop $grow
              (br_if $grow (i32.ne (memory.grow (i32.const 16)) (i32.const -1))))
            unreachable))
        (if (i32.eq (local.get $mode) (i32.const 4))
          (then (return (call $pack (i32.const 1024) (i32.const 154)))))
        (if (i32.eq (local.get $mode) (i32.const 5))
          (then
            (local.set $spin (i32.load offset=1 (local.get $bptr)))
            (block $spun
              (loop $l
                (br_if $spun (i32.eqz (local.get $spin)))
                (local.set $spin (i32.sub (local.get $spin) (i32.const 1)))
                (br $l)))))
        (if (i32.eq (local.get $mode) (i32.const 6))
          (then (return (call $pack (i32.const 0xffffff00) (i32.const 4096)))))
        (if (i32.eq (local.get $mode) (i32.const 7))
          (then (return (call $pack (i32.const 2048) (i32.const 8)))))
        (if (i32.eq (local.get $mode) (i32.const 8))
          (then (global.set $allocMode (i32.load8_u offset=1 (local.get $bptr)))))
        (if (i32.eq (local.get $mode) (i32.const 9))
          (then
            (i32.store16 (i32.const 0) (i32.const 200))
            (i32.store16 (i32.const 2) (i32.const 0))
            (i32.store (i32.const 4) (i32.const 0))
            (return (call $pack (i32.const 0) (i32.const 8)))))))
    (local.set $out (call $bump (i32.add (local.get $blen) (i32.const 8))))
    (i32.store16 (local.get $out) (i32.const 200))
    (i32.store16 offset=2 (local.get $out) (i32.const 0))
    (i32.store offset=4 (local.get $out) (local.get $blen))
    (memory.copy (i32.add (local.get $out) (i32.const 8)) (local.get $bptr) (local.get $blen))
    (call $pack (local.get $out) (i32.add (local.get $blen) (i32.const 8))))
)
