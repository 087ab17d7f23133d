//go:build !linux

package wasmhost

import "math"

// reserveMemory allocates the whole reservation in the Go heap elsewhere:
// growing still never copies.
func reserveMemory(size uint64) ([]byte, func([]byte), error) {
	if size > math.MaxInt {
		return nil, nil, errTooBig
	}
	return make([]byte, size), nil, nil
}
