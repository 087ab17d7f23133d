package edgectl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/edgeplane/edge/internal/plural"
	"github.com/edgeplane/edge/wire"
)

// history and logs: the trend the controller keeps (GET /api/v1/history)
// and the lines a device keeps (GET /api/v1/devices/{id}/logs, which the
// controller asks of the device over MQTT).

func runHistory(ctx context.Context, cl *cli, args []string) error {
	const cmd = "history"
	var api apiFlags
	var device, since, step string
	fs := flagSet(cmd)
	api.register(fs)
	fs.StringVar(&device, "device", "", "the module on this `device` only (without MODULE: the device's agent)")
	fs.StringVar(&since, "since", "1h", "from this long ago (30m, 6h, 7d) or this time (RFC 3339)")
	fs.StringVar(&step, "step", "", "one point per this `duration` (whole minutes; default 1m within a day, 15m beyond)")
	pos, err := cl.parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 1 {
		return usagef(cmd, "history: unexpected argument %q", pos[1])
	}
	q := url.Values{}
	if len(pos) == 1 {
		if err := wire.ValidateModuleName(pos[0]); err != nil {
			return usagef(cmd, "history: %v", err)
		}
		q.Set("module", pos[0])
	}
	if device != "" {
		if err := wire.ValidateDeviceID(device); err != nil {
			return usagef(cmd, "history: --device: %v", err)
		}
		q.Set("device", device)
	}
	if len(pos) == 0 && device == "" {
		return usagef(cmd, "history: name a MODULE, a --device, or both")
	}
	q.Set("since", since)
	if step != "" {
		q.Set("step", step)
	}
	c, err := api.client(cl, cmd)
	if err != nil {
		return err
	}
	var h wire.History
	if err := c.get(ctx, "/history?"+q.Encode(), &h); err != nil {
		var ae *APIError
		if errors.As(err, &ae) && ae.Status == http.StatusBadRequest {
			return usagef(cmd, "history: %s", ae.Message)
		}
		return fmt.Errorf("history: %w", err)
	}
	if api.json {
		return writeJSON(cl.stdout, h)
	}
	printHistory(cl.stdout, &h, since)
	return nil
}

// printHistory writes a compact trend: a line of bars of the request rate
// (or the agent's CPU), then one row per point.
func printHistory(w io.Writer, h *wire.History, since string) {
	what := h.Module + " on " + h.Device
	switch {
	case h.Device == "":
		what = h.Module + " across the fleet"
	case h.Module == "":
		what = "agent of " + h.Device
	}
	fmt.Fprintf(w, "%s, since %s, %s steps, %s\n", what, since, time.Duration(h.Step)*time.Second, plural.Count(len(h.Points), "point"))
	if len(h.Points) == 0 {
		return
	}
	vals := make([]float64, len(h.Points))
	for i, p := range h.Points {
		vals[i] = p.Requests
		if h.Module == "" {
			vals[i] = p.CPU
		}
	}
	label := "req/s"
	if h.Module == "" {
		label = "cpu"
	}
	fmt.Fprintf(w, "%-6s %s\n\n", label, sparkline(vals))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	if h.Module == "" {
		fmt.Fprintln(tw, "TIME\tCPU\tRSS\t")
		for _, p := range h.Points {
			fmt.Fprintf(tw, "%s\t%.1f%%\t%s\t\n", pointTime(p.Time, h.Step), 100*p.CPU, bytesText(p.RSSBytes))
		}
	} else {
		fmt.Fprintln(tw, "TIME\tREQ/S\t5XX/S\t5XX\tP50\tP99\tRSS\t")
		for _, p := range h.Points {
			ratio := "-"
			if p.Requests > 0 {
				ratio = fmt.Sprintf("%.1f%%", 100*p.Errors/p.Requests)
			}
			fmt.Fprintf(tw, "%s\t%.2f\t%.2f\t%s\t%s\t%s\t%s\t\n", pointTime(p.Time, h.Step), p.Requests, p.Errors, ratio,
				seconds(p.P50), seconds(p.P99), bytesText(p.RSSBytes))
		}
	}
	tw.Flush()
}

func pointTime(t time.Time, step int64) string {
	t = t.Local()
	if step >= 24*3600 || time.Since(t) > 24*time.Hour {
		return t.Format("01-02 15:04")
	}
	return t.Format("15:04")
}

// sparkline draws values as a line of eighth-blocks, scaled to the
// largest.
func sparkline(vals []float64) string {
	const bars = "▁▂▃▄▅▆▇█"
	top := 0.0
	for _, v := range vals {
		top = max(top, v)
	}
	var b strings.Builder
	levels := []rune(bars)
	for _, v := range vals {
		i := 0
		if top > 0 {
			i = min(int(v/top*float64(len(levels)-1)+0.5), len(levels)-1)
		}
		b.WriteRune(levels[i])
	}
	return b.String()
}

// followEvery is how often logs -f asks again.
const followEvery = 2 * time.Second

func runLogs(ctx context.Context, cl *cli, args []string) error {
	const cmd = "logs"
	var api apiFlags
	var since string
	var maxLines int
	var follow bool
	fs := flagSet(cmd)
	api.register(fs)
	fs.StringVar(&since, "since", "", "lines after this long ago (10m) or this time (RFC 3339); default: the latest")
	fs.IntVar(&maxLines, "max", 0, fmt.Sprintf("the newest `N` lines, as tail (1..%d; default every line the device has; with -f: the newest N, then each new one)", wire.MaxLogLines))
	fs.BoolVar(&follow, "f", false, "follow: ask again every 2 s for lines after the last one, until interrupted")
	pos, err := cl.parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) < 1 || len(pos) > 2 {
		return usagef(cmd, "logs: want DEVICE [MODULE]")
	}
	if err := wire.ValidateDeviceID(pos[0]); err != nil {
		return usagef(cmd, "logs: %v", err)
	}
	q := url.Values{}
	if len(pos) == 2 {
		if err := wire.ValidateModuleName(pos[1]); err != nil {
			return usagef(cmd, "logs: %v", err)
		}
		q.Set("module", pos[1])
	}
	if (maxLines != 0 || given(fs, "max")) && (maxLines < 1 || maxLines > wire.MaxLogLines) {
		return usagef(cmd, "logs: --max %d: want 1..%d", maxLines, wire.MaxLogLines)
	}
	if maxLines > 0 {
		q.Set("max", fmt.Sprint(maxLines))
	}
	if since != "" {
		q.Set("since", since)
	}
	c, err := api.client(cl, cmd)
	if err != nil {
		return err
	}
	path := "/devices/" + url.PathEscape(pos[0]) + "/logs?"
	for first := true; ; first = false {
		var b wire.LogBatch
		var err error
		if first && maxLines > 0 {
			b, err = logTail(ctx, c, path, q, maxLines) // the newest, as tail
		} else {
			err = c.get(ctx, path+q.Encode(), &b)
		}
		if err != nil && follow && ctx.Err() == nil && isTimeout(err) {
			fmt.Fprintf(cl.stderr, "edgectl: %v (still following)\n", err)
		} else if err != nil {
			if follow && ctx.Err() != nil {
				return nil // interrupted
			}
			var ae *APIError
			if errors.As(err, &ae) && ae.Status == http.StatusBadRequest {
				return usagef(cmd, "logs: %s", ae.Message)
			}
			return fmt.Errorf("logs of %s: %w", pos[0], err)
		} else {
			if err := printBatch(cl, &b, api.json); err != nil {
				return err
			}
			if n := len(b.Lines); n > 0 {
				q.Set("since", b.Lines[n-1].Time.Format(time.RFC3339Nano))
			}
			if b.More && (maxLines == 0 || follow) {
				continue // the rest at once
			}
		}
		if !follow {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(followEvery):
		}
	}
}

// logTail reads every line the device has after q's since, page by page,
// and keeps the newest n: the device answers the oldest first, and
// --max N means the last N lines, as tail does.
func logTail(ctx context.Context, c *client, path string, q url.Values, n int) (wire.LogBatch, error) {
	q = maps.Clone(q)
	q.Del("max")
	var tail wire.LogBatch
	for page := 0; ; page++ {
		var b wire.LogBatch
		if err := c.get(ctx, path+q.Encode(), &b); err != nil {
			return tail, err
		}
		if page == 0 {
			tail.Device, tail.ID, tail.Module, tail.Dropped = b.Device, b.ID, b.Module, b.Dropped
		}
		tail.Lines = append(tail.Lines, b.Lines...)
		if len(tail.Lines) > n {
			tail.Lines = slices.Clone(tail.Lines[len(tail.Lines)-n:])
		}
		if !b.More || len(b.Lines) == 0 {
			return tail, nil
		}
		q.Set("since", b.Lines[len(b.Lines)-1].Time.Format(time.RFC3339Nano))
	}
}

func printBatch(cl *cli, b *wire.LogBatch, asJSON bool) error {
	if b.Dropped > 0 {
		fmt.Fprintf(cl.stderr, "edgectl: %s lost on the device before these (ring overwritten or over the log budget)\n", plural.Count(b.Dropped, "line"))
	}
	if asJSON {
		return writeJSON(cl.stdout, b)
	}
	for _, l := range b.Lines {
		v := ""
		if l.Version != "" {
			v = " " + l.Version
		}
		fmt.Fprintf(cl.stdout, "%s %-5s%s %s\n", l.Time.Local().Format("2006-01-02T15:04:05.000"), l.Level, v, strings.TrimRight(l.Msg, "\n"))
	}
	return nil
}
