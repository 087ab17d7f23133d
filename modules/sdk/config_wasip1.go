//go:build wasip1

package sdk

import (
	"unsafe"

	"github.com/edgeplane/edge/modules/abi"
)

// Config returns the configuration value of key that the agent grants this
// module, and whether it is set.
func Config(key string) (string, bool) {
	buf := make([]byte, 256)
	n := hostConfigGet(unsafe.Pointer(unsafe.StringData(key)), uint32(len(key)),
		unsafe.Pointer(unsafe.SliceData(buf)), uint32(len(buf)))
	switch {
	case n == abi.ErrNotFound:
		return "", false
	case n < 0:
		Log(LevelError, callError("config_get", n).Error())
		return "", false
	case int(n) <= len(buf):
		return string(buf[:n]), true
	}
	buf = make([]byte, n)
	m := hostResultRead(unsafe.Pointer(unsafe.SliceData(buf)), uint32(len(buf)))
	if m < 0 || int(m) > len(buf) {
		Log(LevelError, callError("config_get result_read", m).Error())
		return "", false
	}
	return string(buf[:m]), true
}
