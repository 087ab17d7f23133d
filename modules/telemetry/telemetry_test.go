//go:build !wasip1

package telemetry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgeplane/edge/modules/sdk"
)

// Bad payloads tried: words, empty, NaN, Inf, JSON without a value,
// JSON with a string value, a topic outside the readings namespace.
func TestParseReadingAndSensor(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want float64
		ok   bool
	}{
		{"21.5", 21.5, true}, {" -3 ", -3, true}, {`{"value": 30.25}`, 30.25, true}, {"1e2", 100, true},
		{"warm", 0, false}, {"", 0, false}, {"NaN", 0, false}, {"+Inf", 0, false},
		{`{"v": 1}`, 0, false}, {`{"value": "21"}`, 0, false}, {`{`, 0, false},
	} {
		v, err := ParseReading([]byte(tc.in))
		if (err == nil) != tc.ok || (tc.ok && v != tc.want) {
			t.Errorf("ParseReading(%q) = %v, %v; want %v ok=%v", tc.in, v, err, tc.want, tc.ok)
		}
	}
	for topic, want := range map[string]string{
		"edge/v1/dev/sensor-1/app/sensor/readings/t1":       "sensor-1/t1",
		"edge/v1/dev/sensor-1/app/sensor/readings/room/a/t": "sensor-1/room/a/t",
		"edge/v1/dev/sensor-1/app/sensor/readings":          "sensor-1/default",
		"edge/v1/dev/sensor-1/app/other/readings/t1":        "",
		"edge/v1/dev/pi-1/in/readings/t1":                   "",
	} {
		got, err := SensorOf(topic)
		if got != want || (want == "") != (err != nil) {
			t.Errorf("SensorOf(%q) = %q, %v; want %q", topic, got, err, want)
		}
	}
}

// The handlers in a native build: readings fill the window, a redelivered
// message is not counted twice, a reading over the threshold publishes an
// alert (and a failed publish asks for a retry that counts nothing
// twice), bad payloads are dropped, the timer publishes a retained summary
// and GET /summary adds the order service's count through a call.
func TestHandlersNative(t *testing.T) {
	t.Setenv("EDGE_KV", filepath.Join(t.TempDir(), "kv.db"))
	t.Setenv("EDGE_CONFIG_THRESHOLD", "30")
	// An order service whose full listing is over the host's result
	// limit (F18): the count comes from GET /orders/count.
	orders := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/orders/count":
			io.WriteString(w, `{"count":3}`)
		case "/orders":
			w.WriteHeader(507)
			io.WriteString(w, `{"error":"list orders: result over the host's limit of 4194304 bytes per SQL result"}`)
		default:
			http.NotFound(w, r)
		}
	}))
	defer orders.Close()
	t.Setenv("EDGE_CALL_ORDERS", orders.URL)
	var mu sync.Mutex
	type pub struct {
		topic   string
		payload string
		retain  bool
	}
	var pubs []pub
	failNext := false
	sdk.SetNativePublisher(func(topic string, payload []byte, qos byte, retain bool) error {
		mu.Lock()
		defer mu.Unlock()
		if failNext {
			failNext = false
			return sdk.ErrUnavailable
		}
		pubs = append(pubs, pub{topic, string(payload), retain})
		return nil
	})
	defer sdk.SetNativePublisher(nil)
	Register()

	deliver := func(id uint64, sensor, payload string) error {
		return sdk.DeliverNative(&sdk.Message{ID: id, Filter: ReadingsFilter,
			Topic: "edge/v1/dev/sensor-1/app/sensor/readings/" + sensor, Payload: []byte(payload), QoS: 1})
	}
	for i, v := range []string{"20", "22", "24"} {
		if err := deliver(uint64(i+1), "t1", v); err != nil {
			t.Fatalf("reading %s: %v", v, err)
		}
	}
	if err := deliver(3, "t1", "24"); err != nil { // redelivery of message 3
		t.Fatalf("redelivery: %v", err)
	}
	mu.Lock()
	failNext = true
	mu.Unlock()
	if err := deliver(4, "t1", "35.5"); !errors.Is(err, sdk.ErrRetry) {
		t.Fatalf("hot reading with the broker gone = %v, want a retry", err)
	}
	if err := deliver(4, "t1", "35.5"); err != nil { // the retry
		t.Fatalf("hot reading retried: %v", err)
	}
	for _, bad := range []string{"warm", "NaN", `{"v":1}`} {
		if err := deliver(9, "t1", bad); !errors.Is(err, sdk.ErrDrop) {
			t.Errorf("payload %q = %v, want dropped", bad, err)
		}
	}
	mu.Lock()
	if len(pubs) != 1 || pubs[0].topic != "alerts/sensor-1/t1" || !strings.Contains(pubs[0].payload, `"value":35.5`) {
		t.Errorf("published %+v, want one alert for 35.5 on alerts/sensor-1/t1", pubs)
	}
	mu.Unlock()

	rec := httptest.NewRecorder()
	sdk.NativeHandler(Handler()).ServeHTTP(rec, httptest.NewRequest("GET", "/summary", nil))
	var s Summary
	if err := json.Unmarshal(rec.Body.Bytes(), &s); err != nil || rec.Code != 200 {
		t.Fatalf("GET /summary = %d %s (%v)", rec.Code, rec.Body, err)
	}
	st := s.Sensors["sensor-1/t1"]
	if st.Count != 4 || st.Window != 4 || st.Min != 20 || st.Max != 35.5 || st.Last != 35.5 || st.Alerts != 1 ||
		st.Mean != (20+22+24+35.5)/4 {
		t.Errorf("sensor-1/t1 = %+v; want 4 readings 20..35.5 (the redelivery and the retry counted once), 1 alert", st)
	}
	if s.Orders == nil || *s.Orders != 3 || s.Threshold != 30 {
		t.Errorf("summary orders %v (%s), threshold %v; want 3 orders from the call, 30", s.Orders, s.OrdersError, s.Threshold)
	}

	if err := sdk.TickNative("summary", time.Now(), 0); err != nil {
		t.Fatalf("timer: %v", err)
	}
	mu.Lock()
	last := pubs[len(pubs)-1]
	mu.Unlock()
	if last.topic != "summary" || !last.retain || !strings.Contains(last.payload, `"sensor-1/t1"`) {
		t.Errorf("timer published %+v, want the retained summary", last)
	}
}

// The window keeps the latest WindowSize readings.
func TestWindowBounded(t *testing.T) {
	t.Setenv("EDGE_KV", filepath.Join(t.TempDir(), "kv.db"))
	Register()
	for i := range WindowSize + 15 {
		m := &sdk.Message{ID: uint64(i + 1), Filter: ReadingsFilter, Topic: "edge/v1/dev/s/app/sensor/readings/w", Payload: []byte("1")}
		if err := sdk.DeliverNative(m); err != nil {
			t.Fatal(err)
		}
	}
	rec := httptest.NewRecorder()
	sdk.NativeHandler(Handler()).ServeHTTP(rec, httptest.NewRequest("GET", "/summary", nil))
	var s Summary
	json.Unmarshal(rec.Body.Bytes(), &s)
	if st := s.Sensors["s/w"]; st.Window != WindowSize || st.Count != WindowSize+15 {
		t.Errorf("window %d of %d readings, want %d of %d", st.Window, st.Count, WindowSize, WindowSize+15)
	}
	if s.OrdersError == "" {
		t.Error("no order service: the summary should say why orders are missing")
	}
}

// An order service without GET /orders/count (404) is counted page by
// page, following each page's Link; a bad count body is an error.
func TestCountOrders(t *testing.T) {
	const total = 2345
	var calls []string
	orders := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls = append(calls, r.URL.RequestURI())
		if r.URL.Path != "/orders" || r.URL.Query().Get("limit") != "1000" {
			http.NotFound(w, r)
			return
		}
		after, _ := strconv.Atoi(r.URL.Query().Get("after")) // ids 1..total
		var ids []string
		for id := after + 1; id <= total && len(ids) < 1000; id++ {
			ids = append(ids, fmt.Sprintf(`{"order_id":%d}`, id))
		}
		if after+len(ids) < total {
			w.Header().Set("Link", fmt.Sprintf(`</orders?limit=1000&after=%d>; rel="next"`, after+len(ids)))
		}
		io.WriteString(w, "["+strings.Join(ids, ",")+"]")
	}))
	defer orders.Close()
	t.Setenv("EDGE_CALL_ORDERS", orders.URL)
	n, err := countOrders(context.Background())
	want := []string{"/orders/count", "/orders?limit=1000", "/orders?limit=1000&after=1000", "/orders?limit=1000&after=2000"}
	if n != total || err != nil || !slices.Equal(calls, want) {
		t.Errorf("countOrders = %d, %v after calls %q; want %d after %q", n, err, calls, total, want)
	}

	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"total":3}`)
	}))
	defer bad.Close()
	t.Setenv("EDGE_CALL_ORDERS", bad.URL)
	if n, err := countOrders(context.Background()); err == nil || !strings.Contains(err.Error(), `want {"count":N}`) {
		t.Errorf("countOrders of a bad body = %d, %v; want an error", n, err)
	}
}
