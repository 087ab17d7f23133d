;; initfail: _initialize traps once the host config has a "fail" key;
;; edge_handle always traps. Lets a test make every new instance fail.
(module
  (import "edge" "config_get" (func $config_get (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "fail")
  (func (export "_initialize")
    (if (i32.ge_s (call $config_get (i32.const 16) (i32.const 4) (i32.const 64) (i32.const 16)) (i32.const 0))
      (then unreachable)))
  (func (export "edge_abi_version") (result i32) (i32.const 1))
  (func (export "edge_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "edge_handle") (param i32 i32) (result i64) unreachable))
