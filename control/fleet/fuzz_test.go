package fleet

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/edgeplane/edge/wire"
)

// FuzzIngest feeds arbitrary metrics reports and log batches (bytes as
// they arrive from a device) through the controller's ingest, one fleet
// for the whole run so reports also follow each other: nothing panics,
// the bounds on what one device keeps hold, and the /metrics snapshot
// still builds. (Only memory is touched per input: the store is linked,
// but a query per input would make the run crawl under coverage.)
func FuzzIngest(f *testing.F) {
	good, _ := json.Marshal(report{seq: 1, at: t0, agentStart: t0.Add(-time.Hour), workerStart: t0.Add(-time.Hour), requests: 10}.metrics("pi-1"))
	f.Add(false, good)
	f.Add(false, []byte(`{"device":"pi-1","seq":2,"time":"2026-03-01T12:00:15Z","agent":{"start":"2026-03-01T11:00:05Z","cpu_seconds":-5},"modules":[{"name":"orders","version":"1.0.0","requests":1,"latency":{"counts":[0,0,0,0,0,0,0,0,0,0,0,0,0,0,18446744073709551615],"sum":1e308}}]}`))
	f.Add(false, []byte(`{"device":"pi-1","seq":18446744073709551615,"agent":{},"modules":[{"name":"a","version":"9.9.9-x","latency":{"counts":[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15]}},{"name":"a","version":"9.9.9-x","latency":{"counts":[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15]}}]}`))
	f.Add(true, []byte(`{"device":"pi-1","id":"x","lines":[{"time":"2026-03-01T12:00:00Z","level":"INFO","msg":"\xff"}]}`))
	f.Add(false, []byte(`null`))
	f.Add(false, []byte(`{}`))
	fl, st, c := newTestFleet(f, f.TempDir())
	if err := st.SetCredential(context.Background(), "pi-1", []byte("h"), t0); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, logs bool, payload []byte) {
		if len(payload) > maxReportSize {
			return // dropped before parsing
		}
		c.add(time.Second)
		if logs {
			fl.handleLogs(fl.log, "pi-1", payload)
			return
		}
		fl.ingestMetrics(context.Background(), rawReport{device: "pi-1", payload: payload, received: fl.now()})
		fl.metrics.mu.RLock()
		if d := fl.metrics.devices["pi-1"]; d != nil {
			names := map[string]int{}
			for k := range d.series {
				names[k.module]++
				if names[k.module] > versionsPerModule {
					t.Fatalf("module %s: more than %d versions kept", k.module, versionsPerModule)
				}
			}
			if len(names) > wire.MaxModules {
				t.Fatalf("%d modules kept", len(names))
			}
		}
		fl.metrics.mu.RUnlock()
		fl.Snapshot()
	})
}
