package buildinfo

import (
	"runtime"
	"testing"
)

func TestString(t *testing.T) {
	old := Version
	defer func() { Version = old }()
	Version = "1.2.3~rc1"
	want := "edgectl 1.2.3~rc1 " + runtime.GOOS + "/" + runtime.GOARCH + " " + runtime.Version()
	if got := String("edgectl"); got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
}
