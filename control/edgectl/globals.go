package edgectl

import "strings"

// globalValueFlags and globalBoolFlags are the flags every command that
// talks to the controller takes (apiFlags), which may also come before the
// command: `edgectl --control URL push ...`.
var (
	globalValueFlags = []string{"control", "ca-file", "token-file"}
	globalBoolFlags  = []string{"json"}
)

// hoistGlobals moves the controller flags written before the command to
// just after its words ("--control U push m.wasm" → "push --control U
// m.wasm"), where the command's own parser reads them as usual. A command
// that does not take a flag then refuses it, naming it. It returns an
// error message for a flag before the command that is not a global one,
// or one missing its value.
func hoistGlobals(args []string) ([]string, string) {
	var globals []string
	i := 0
	for i < len(args) && strings.HasPrefix(args[i], "-") && args[i] != "-" && args[i] != "--" &&
		args[i] != "--version" && args[i] != "-version" {
		name, _, hasValue := strings.Cut(strings.TrimLeft(args[i], "-"), "=")
		switch {
		case contains(globalBoolFlags, name):
			globals = append(globals, args[i])
			i++
		case contains(globalValueFlags, name) && hasValue:
			globals = append(globals, args[i])
			i++
		case contains(globalValueFlags, name):
			if i+1 >= len(args) {
				return nil, "flag needs an argument: " + args[i]
			}
			globals = append(globals, args[i], args[i+1])
			i += 2
		default:
			return nil, "unknown flag before the command: " + args[i] + " (global flags: --control, --ca-file, --token-file, --json)"
		}
	}
	if len(globals) == 0 {
		return args, ""
	}
	rest := args[i:]
	if len(rest) > 0 && (rest[0] == "--version" || rest[0] == "-version") {
		rest = append([]string{"version"}, rest[1:]...)
	}
	c := lookup(rest)
	if c == nil {
		return rest, "" // the caller reports the unknown command
	}
	n := len(strings.Fields(c.name))
	out := append([]string{}, rest[:n]...)
	out = append(out, globals...)
	return append(out, rest[n:]...), ""
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
