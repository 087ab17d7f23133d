//go:build wasip1

package sdk

import "unsafe"

// Log sends msg to the host's log at level. The host tags it with the
// module's name and version.
func Log(level Level, msg string) {
	hostLog(int32(level), unsafe.Pointer(unsafe.StringData(msg)), uint32(len(msg)))
}
