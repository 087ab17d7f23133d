//go:build long

package e2e

// The long run of TestKillTrials: go test -tags long -run TestKillTrials ./tests/e2e
func init() { killTrials = 1000 }
