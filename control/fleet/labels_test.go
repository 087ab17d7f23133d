package fleet

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/edgeplane/edge/control/store"
	"github.com/edgeplane/edge/wire"
)

// TestStatusLabelsChecked: the labels a status carries are held to the
// rules of central labels; the invalid ones are dropped, the valid kept,
// and the drop is logged once per device, not at every status (F17: an
// agent's labels reached selectors, --json and scrapers unchecked).
func TestStatusLabelsChecked(t *testing.T) {
	st, err := store.Open(context.Background(), t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	var logs bytes.Buffer
	f := New(Config{Store: st, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err := f.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		b, _ := json.Marshal(wire.Status{Device: "pi-5", Online: true, Time: time.Now(),
			Labels: map[string]string{"site": "north", "x": "<img src=x onerror=alert(1)>", "bad key": "v"}})
		f.HandleMessage(wire.DeviceTopic("pi-5", wire.KindStatus), b)
		f.storeReports(context.Background())
	}
	l, err := f.Labels(context.Background(), "pi-5")
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"site": "north"}; !reflect.DeepEqual(l.Agent, want) || !reflect.DeepEqual(l.Effective, want) {
		t.Errorf("agent labels %v, effective %v; want %v", l.Agent, l.Effective, want)
	}
	if n := strings.Count(logs.String(), "agent labels dropped"); n != 1 {
		t.Errorf("logged the drop %d times, want once:\n%s", n, logs.String())
	}
}
