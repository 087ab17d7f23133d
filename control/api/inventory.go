package api

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/edgeplane/edge/control/fleet"
	"github.com/edgeplane/edge/control/store"
	"github.com/edgeplane/edge/wire"
)

// The inventory, its history and the devices' logs: the fleet's views of
// what devices report (wire.Device with the serving version of each
// module, wire.DeviceDetail, wire.ModuleSummary, wire.History), and log
// lines asked of a device over MQTT.

func (h *Handler) listDevices(w http.ResponseWriter, r *http.Request) {
	ds, err := h.fleet.Devices(r.Context())
	h.reply(w, r, ds, err)
}

func (h *Handler) getDevice(w http.ResponseWriter, r *http.Request) {
	d, err := h.fleet.Device(r.Context(), r.PathValue("id"))
	h.reply(w, r, d, err)
}

func (h *Handler) getDeviceDetail(w http.ResponseWriter, r *http.Request) {
	d, err := h.fleet.DeviceDetail(r.Context(), r.PathValue("id"))
	h.reply(w, r, d, err)
}

func (h *Handler) listModules(w http.ResponseWriter, r *http.Request) {
	ms, err := h.fleet.Modules(r.Context())
	h.reply(w, r, ms, err)
}

// History defaults: the last hour at 1-minute steps; a since beyond the
// day of 1-minute points defaults to 15-minute steps.
const defaultHistory = time.Hour

// getHistory answers GET /api/v1/history?device=&module=&since=&step=:
// since is RFC 3339 or a duration back from now (90m, 6h, 7d), step
// seconds or a duration (a whole number of minutes).
func (h *Handler) getHistory(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	now := h.now()
	since, err := parseSince(q.Get("since"), now, defaultHistory)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	step := int64(store.StepMinute)
	if now.Sub(since) > store.KeepMinute {
		step = store.StepQuarter
	}
	if s := q.Get("step"); s != "" {
		d, err := parseDuration(s)
		if err == nil && d%(store.StepMinute*time.Second) != 0 {
			err = fmt.Errorf("want whole minutes (60, 1m, 15m)")
		}
		if err != nil { // the step as sent: 1ns is not "0s"
			writeError(w, http.StatusBadRequest, fmt.Errorf("step %q: %w", s, err))
			return
		}
		step = int64(d / time.Second)
	}
	device, module := q.Get("device"), q.Get("module")
	for _, v := range []struct {
		what, s string
		check   func(string) error
	}{{"device", device, wire.ValidateDeviceID}, {"module", module, wire.ValidateModuleName}} {
		if v.s != "" {
			if err := v.check(v.s); err != nil {
				writeError(w, http.StatusBadRequest, err)
				return
			}
		}
	}
	if device != "" {
		if _, err := h.fleet.Device(r.Context(), device); err != nil {
			h.reply(w, r, nil, err)
			return
		}
	}
	hist, err := h.fleet.History(r.Context(), device, module, since, step)
	if errors.Is(err, fleet.ErrHistoryQuery) {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	h.reply(w, r, hist, err)
}

// getLogs answers GET /api/v1/devices/{id}/logs?module=&since=&max= by
// asking the device (fleet.Logs): 504 when it does not answer in time or
// is offline, 429 when too many requests wait already.
func (h *Handler) getLogs(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	req := wire.LogRequest{Module: q.Get("module")}
	if s := q.Get("since"); s != "" {
		since, err := parseSince(s, h.now(), 0)
		if err != nil {
			writeError(w, http.StatusBadRequest, err)
			return
		}
		req.Since = since
	}
	if s := q.Get("max"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > wire.MaxLogLines {
			writeError(w, http.StatusBadRequest, fmt.Errorf("max %q: want 1..%d", s, wire.MaxLogLines))
			return
		}
		req.Max = n
	}
	if req.Module != "" {
		if err := wire.ValidateModuleName(req.Module); err != nil {
			writeError(w, http.StatusBadRequest, err)
			return
		}
	}
	b, err := h.fleet.Logs(r.Context(), r.PathValue("id"), req)
	if b.Lines == nil {
		b.Lines = []wire.LogLine{}
	}
	h.answer(w, r, http.StatusOK, b, err)
}

// parseSince reads a point in time given as RFC 3339 or as a duration
// back from now; "" is now-def.
func parseSince(s string, now time.Time, def time.Duration) (time.Time, error) {
	if s == "" {
		return now.Add(-def), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	d, err := parseDuration(s)
	if err != nil {
		return time.Time{}, fmt.Errorf("since %q: want RFC 3339 (2006-01-02T15:04:05Z) or a duration (30m, 6h, 7d)", url.QueryEscape(s))
	}
	return now.Add(-d), nil
}

// parseDuration reads a positive Go duration, a number of days ("7d"), or
// a number of seconds.
func parseDuration(s string) (time.Duration, error) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil && n > 0 && n < 1<<32 {
		return time.Duration(n) * time.Second, nil
	}
	if len(s) > 1 && s[len(s)-1] == 'd' {
		if n, err := strconv.Atoi(s[:len(s)-1]); err == nil && n > 0 && n <= 366 {
			return time.Duration(n) * 24 * time.Hour, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("want a positive duration")
	}
	return d, nil
}
