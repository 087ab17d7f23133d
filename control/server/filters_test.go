package server

import (
	"slices"
	"testing"

	"github.com/edgeplane/edge/wire"
)

// TestIngestFilters: with an external broker (replicas) statuses, events
// and fetch requests come through shared subscriptions, log answers to
// every replica, metrics only while leading (not here); the embedded
// broker's single controller subscribes plainly to all of them.
func TestIngestFilters(t *testing.T) {
	share := func(k string) string { return "$share/edge-control/" + wire.DeviceWildcard(k) }
	for _, tt := range []struct {
		external bool
		want     []string
	}{
		{true, []string{share(wire.KindStatus), share(wire.KindEvents), share(wire.KindFetch), wire.DeviceWildcard(wire.KindLogs)}},
		{false, []string{wire.DeviceWildcard(wire.KindStatus), wire.DeviceWildcard(wire.KindEvents), wire.DeviceWildcard(wire.KindFetch),
			wire.DeviceWildcard(wire.KindLogs), wire.DeviceWildcard(wire.KindMetrics)}},
	} {
		if got := ingestFilters(tt.external); !slices.Equal(got, tt.want) {
			t.Errorf("external %v: filters %q, want %q", tt.external, got, tt.want)
		}
	}
}
