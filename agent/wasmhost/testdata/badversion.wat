;; badversion: a well-formed guest that speaks ABI version 63,
;; which no host speaks (hosts run abi.MinVersion..abi.Version).
(module
  (memory (export "memory") 1)
  (func (export "edge_abi_version") (result i32) (i32.const 63))
  (func (export "edge_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "edge_handle") (param i32 i32) (result i64) (i64.const 0)))
