;; noexports: lacks edge_handle (and edge_alloc has the wrong signature).
(module
  (memory (export "memory") 1)
  (func (export "edge_abi_version") (result i32) (i32.const 1))
  (func (export "edge_alloc") (result i32) (i32.const 1024)))
