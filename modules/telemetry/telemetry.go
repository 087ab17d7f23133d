// Package telemetry is the second real module, built on the platform
// capabilities of ABI version 2 (docs/ABI.md): it takes sensor readings
// from MQTT, keeps a rolling window per sensor in its key-value state,
// publishes an alert when a reading crosses a threshold, publishes a
// retained summary on a timer, and answers GET /summary over HTTP with the
// order service's order count fetched through a module call.
//
//	MQTT in   edge/v1/dev/+/app/sensor/readings/SENSOR   payload "21.5" or {"value":21.5}
//	MQTT out  edge/v1/dev/DEVICE/app/telemetry/alerts/SENSOR   {"sensor","value","threshold","time"} (QoS 1)
//	          edge/v1/dev/DEVICE/app/telemetry/summary          the summary, retained (timer "summary")
//	HTTP      GET /          the endpoints
//	          GET /summary   {"sensors":{...},"orders":N}   (orders: GET /orders/count of module "orders")
//
// Readings come from any device's "sensor" app (a sensor board publishing
// under its own id, which the broker's ACL lets every device read). A
// sensor's key is "DEVICE/SENSOR". Its window (the latest 60 values, the
// total count, the alerts, the id of the last message applied) is one
// key-value entry, changed with compare-and-set, so two instances or two
// versions side by side during a switch never lose an update. Delivery is
// at least once: a redelivered message (same id as the last applied) is
// not counted twice. A payload that is not a number is dropped at once as
// a dead letter (sdk.ErrDrop), never retried.
//
// Configuration (edgectl push --config): threshold (default 30), the value
// above which a reading raises an alert.
//
// The manifest it needs:
//
//	edgectl push telemetry.wasm --name telemetry --kv --call orders \
//	    --subscribe 'edge/v1/dev/+/app/sensor/readings/#' \
//	    --publish 'alerts/#' --publish summary --timer summary=10s --config threshold=30
package telemetry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/edgeplane/edge/modules/sdk"
)

// ReadingsFilter is the subscription the manifest declares.
const ReadingsFilter = "edge/v1/dev/+/app/sensor/readings/#"

// WindowSize is how many of a sensor's latest readings its window keeps.
const WindowSize = 60

// DefaultThreshold is the alert threshold without configuration.
const DefaultThreshold = 30.0

// window is a sensor's state, one key-value entry ("window/DEVICE/SENSOR").
type window struct {
	Values []float64 `json:"values"` // the latest WindowSize readings, oldest first
	Count  uint64    `json:"count"`  // readings ever applied
	Alerts uint64    `json:"alerts"` // alerts raised
	Last   float64   `json:"last"`
	LastAt int64     `json:"last_at"` // unix milliseconds, when it was applied
	LastID uint64    `json:"last_id"` // message id of the last reading applied
}

// Stats summarise a window.
type Stats struct {
	Count  uint64  `json:"count"`
	Window int     `json:"window"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
	Mean   float64 `json:"mean"`
	Last   float64 `json:"last"`
	LastAt string  `json:"last_at"`
	Alerts uint64  `json:"alerts"`
}

func (w *window) stats() Stats {
	s := Stats{Count: w.Count, Window: len(w.Values), Last: w.Last, Alerts: w.Alerts,
		Min: math.Inf(1), Max: math.Inf(-1)}
	if w.LastAt > 0 {
		s.LastAt = time.UnixMilli(w.LastAt).UTC().Format(time.RFC3339Nano)
	}
	sum := 0.0
	for _, v := range w.Values {
		s.Min, s.Max, sum = math.Min(s.Min, v), math.Max(s.Max, v), sum+v
	}
	if len(w.Values) == 0 {
		s.Min, s.Max = 0, 0
	} else {
		s.Mean = sum / float64(len(w.Values))
	}
	return s
}

// ParseReading reads a payload: a number as text, or {"value": number}.
func ParseReading(payload []byte) (float64, error) {
	text := strings.TrimSpace(string(payload))
	if strings.HasPrefix(text, "{") {
		var r struct {
			Value *float64 `json:"value"`
		}
		if err := json.Unmarshal([]byte(text), &r); err != nil || r.Value == nil {
			return 0, fmt.Errorf("reading %.64q: want a number or {\"value\": number}", text)
		}
		text = strconv.FormatFloat(*r.Value, 'g', -1, 64)
	}
	v, err := strconv.ParseFloat(text, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("reading %.64q: want a finite number", text)
	}
	return v, nil
}

// SensorOf names the sensor of a readings topic: "DEVICE/SENSOR" from
// edge/v1/dev/DEVICE/app/sensor/readings/SENSOR[/...].
func SensorOf(topic string) (string, error) {
	parts := strings.Split(topic, "/")
	if len(parts) < 7 || parts[0] != "edge" || parts[2] != "dev" || parts[4] != "app" || parts[5] != "sensor" || parts[6] != "readings" {
		return "", fmt.Errorf("topic %q is not a sensor reading", topic)
	}
	name := "default"
	if len(parts) > 7 {
		name = strings.Join(parts[7:], "/")
	}
	return parts[3] + "/" + name, nil
}

// Threshold is the configured alert threshold.
func Threshold() float64 {
	if s, ok := sdk.Config("threshold"); ok {
		if v, err := strconv.ParseFloat(s, 64); err == nil {
			return v
		}
		sdk.Log(sdk.LevelWarn, "telemetry: threshold "+strconv.Quote(s)+" is not a number: using the default")
	}
	return DefaultThreshold
}

// Register installs the message and timer handlers (from an init).
func Register() {
	sdk.HandleMessage(ReadingsFilter, OnReading)
	sdk.HandleTimer("summary", OnSummaryTimer)
}

// OnReading applies one reading to its sensor's window and raises an
// alert above the threshold.
func OnReading(m *sdk.Message) error {
	sensor, err := SensorOf(m.Topic)
	if err != nil {
		return fmt.Errorf("%w: %v", sdk.ErrDrop, err)
	}
	v, err := ParseReading(m.Payload)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", sdk.ErrDrop, sensor, err)
	}
	threshold := Threshold()
	hot := v > threshold
	ctx := context.Background()
	_, err = sdk.KV().Update(ctx, "window/"+sensor, func(old []byte, found bool) ([]byte, error) {
		var w window
		if found {
			if err := json.Unmarshal(old, &w); err != nil {
				sdk.Log(sdk.LevelWarn, "telemetry: window of "+sensor+" unreadable, starting again: "+err.Error())
				w = window{}
			}
		}
		if found && w.LastID == m.ID {
			return old, nil // a redelivery of the reading applied last
		}
		w.Values = append(w.Values, v)
		if len(w.Values) > WindowSize {
			w.Values = w.Values[len(w.Values)-WindowSize:]
		}
		w.Count++
		if hot {
			w.Alerts++
		}
		w.Last, w.LastAt, w.LastID = v, time.Now().UnixMilli(), m.ID
		return json.Marshal(&w)
	})
	if err != nil {
		return fmt.Errorf("telemetry: %s: %w", sensor, err) // retried by the host
	}
	if !hot {
		return nil
	}
	alert, _ := json.Marshal(map[string]any{"sensor": sensor, "value": v, "threshold": threshold,
		"time": time.Now().UTC().Format(time.RFC3339Nano)})
	// A failed publish fails the message: it is delivered again, and the
	// window (same message id) is not counted twice.
	return sdk.Publish("alerts/"+sensor, alert, 1)
}

// Summary is what GET /summary answers and the timer publishes.
type Summary struct {
	Sensors     map[string]Stats `json:"sensors"`
	Threshold   float64          `json:"threshold"`
	Orders      *int             `json:"orders,omitempty"`       // the order service's order count
	OrdersError string           `json:"orders_error,omitempty"` // why it is missing
}

// summarize reads every window; withOrders asks the order service too.
func summarize(ctx context.Context, withOrders bool) (Summary, error) {
	s := Summary{Sensors: map[string]Stats{}, Threshold: Threshold()}
	after := ""
	for {
		entries, more, err := sdk.KV().List(ctx, "window/", after, 1000)
		if err != nil {
			return s, err
		}
		for _, e := range entries {
			var w window
			if json.Unmarshal(e.Value, &w) == nil {
				s.Sensors[strings.TrimPrefix(e.Key, "window/")] = w.stats()
			}
			after = e.Key
		}
		if !more {
			break
		}
	}
	if withOrders {
		n, err := countOrders(ctx)
		if err != nil {
			s.OrdersError = err.Error()
		} else {
			s.Orders = &n
		}
	}
	return s, nil
}

// countOrders asks the order service on the same device for its order
// count: GET /orders/count, one COUNT(*) whatever the size of the table.
// An order service without that endpoint (404, a version before it) is
// counted page by page instead (countPages). Counting the full GET /orders
// failed past the host's 4 MiB per SQL result (507, fault F18).
func countOrders(ctx context.Context) (int, error) {
	resp, err := sdk.Call(ctx, "orders", &sdk.CallRequest{Path: "/orders/count"})
	if err != nil {
		return 0, fmt.Errorf("call orders: %w", err)
	}
	if resp.StatusCode == 404 {
		return countPages(ctx)
	}
	if resp.StatusCode != 200 {
		return 0, fmt.Errorf("call orders: GET /orders/count answered %d", resp.StatusCode)
	}
	var c struct {
		Count *int `json:"count"`
	}
	if err := json.Unmarshal(resp.Body, &c); err != nil || c.Count == nil {
		return 0, fmt.Errorf("call orders: GET /orders/count: want {\"count\":N}, got %.100q", resp.Body)
	}
	return *c.Count, nil
}

// countPages counts the orders through GET /orders?limit=1000, following
// each page's Link to the next. The host allows 32 module calls per
// request, so this counts up to about 31,000 orders; past that the
// summary says why the count is missing.
func countPages(ctx context.Context) (int, error) {
	n, path := 0, "/orders?limit=1000"
	for path != "" {
		resp, err := sdk.Call(ctx, "orders", &sdk.CallRequest{Path: path})
		if err != nil {
			return 0, fmt.Errorf("call orders: %w", err)
		}
		if resp.StatusCode != 200 {
			return 0, fmt.Errorf("call orders: GET %s answered %d", path, resp.StatusCode)
		}
		var orders []json.RawMessage
		if err := json.Unmarshal(resp.Body, &orders); err != nil {
			return 0, fmt.Errorf("call orders: GET %s: %v", path, err)
		}
		n += len(orders)
		path = nextPage(resp.Header.Get("Link"))
	}
	return n, nil
}

// nextPage is the target of a Link header `<TARGET>; rel="next"`, or ""
// for none.
func nextPage(link string) string {
	target, ok := strings.CutSuffix(link, `>; rel="next"`)
	if !ok || !strings.HasPrefix(target, "</") {
		return ""
	}
	return target[1:]
}

// OnSummaryTimer publishes the summary, retained, for dashboards that
// subscribe (without the order count: a timer is no reason to call).
func OnSummaryTimer(t *sdk.Tick) error {
	s, err := summarize(context.Background(), false)
	if err != nil {
		return err
	}
	b, err := json.Marshal(&s)
	if err != nil {
		return err
	}
	if err := sdk.PublishRetained("summary", b, 1); err != nil && !errors.Is(err, sdk.ErrUnavailable) {
		return err
	}
	return nil
}

// Handler serves the module's HTTP endpoints.
func Handler() sdk.Handler {
	mux := sdk.NewServeMux()
	mux.HandleFunc("/", func(w sdk.ResponseWriter, r *sdk.Request) {
		if r.URL.Path != "/" {
			writeJSON(w, 404, map[string]string{"error": "not found"})
			return
		}
		writeJSON(w, 200, map[string]any{"endpoints": []string{"GET /summary"},
			"subscribes": ReadingsFilter, "threshold": Threshold()})
	})
	mux.HandleFunc("/summary", func(w sdk.ResponseWriter, r *sdk.Request) {
		s, err := summarize(r.Context(), true)
		if err != nil {
			status := 500
			if errors.Is(err, sdk.ErrDenied) {
				status = 403
			}
			writeJSON(w, status, map[string]string{"error": err.Error()})
			return
		}
		writeJSON(w, 200, &s)
	})
	return mux
}

func writeJSON(w sdk.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = 500, []byte(`{"error":"encode"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(b)
}
