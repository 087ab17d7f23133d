//go:build !(linux || darwin || freebsd || netbsd)

package wasmhost

// compilerUsable: elsewhere the agent runs the interpreter.
func compilerUsable() bool { return false }
