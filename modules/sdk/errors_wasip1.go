//go:build wasip1

package sdk

// isNativeUnavailable has nothing to add in a guest: the host classifies.
func isNativeUnavailable(error) bool { return false }
