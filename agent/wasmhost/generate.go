package wasmhost

// The test guests in testdata/ are hand-written WebAssembly text; their
// .wasm files are committed. After editing a .wat, regenerate with
// `go generate ./agent/wasmhost` (needs wat2wasm from wabt: apt-get install wabt).
//go:generate sh -c "cd testdata && for f in *.wat; do wat2wasm $DOLLAR{f} -o $DOLLAR{f%.wat}.wasm || exit 1; done"
