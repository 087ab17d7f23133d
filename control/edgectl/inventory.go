package edgectl

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/edgeplane/edge/wire"
)

// The inventory commands: devices, device show, modules. Each prints the
// controller's wire types with --json, a table otherwise. A module's row
// names the version serving, its port and state, and the latest attempt
// with its reason when that is not what serves (wire.ModuleStatus).

func runDevices(ctx context.Context, cl *cli, args []string) error {
	const cmd = "devices"
	c, api, _, err := cl.apiCommand(cmd, args)
	if err != nil {
		return err
	}
	devs, err := c.devices(ctx)
	if err != nil {
		return fmt.Errorf("list devices: %w", err)
	}
	if api.json {
		return writeList(cl.stdout, devs)
	}
	tw := tabwriter.NewWriter(cl.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DEVICE\tONLINE\tMODULE\tSERVING\tPORT\tSTATE\tLAST ATTEMPT\tENGINE\tLAST SEEN")
	for _, d := range devs {
		online, engine := "no", "-"
		if d.Online {
			online = "yes"
		}
		var mods []wire.ModuleStatus
		if s := d.Status; s != nil {
			engine = dash(s.Engine)
			mods = s.Modules
		}
		if len(mods) == 0 {
			fmt.Fprintf(tw, "%s\t%s\t-\t-\t-\t-\t-\t%s\t%s\n", d.ID, online, engine, ago(d.LastSeen))
		}
		for _, m := range mods {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", d.ID, online, m.Name, dash(m.Version), port(m.Port),
				dash(m.State), attempt(m.Attempt, 60), engine, ago(d.LastSeen))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, d := range devs {
		if k := d.IDConflict; k != nil {
			fmt.Fprintf(cl.stdout, "ID CONFLICT %s: two agents use this device id (%d report(s) since %s, last %s, from the %s): %s\n",
				d.ID, k.Count, ago(k.Since), ago(k.Last), k.Source, k.Reason)
		}
	}
	return nil
}

// writeList writes a list as JSON, [] when empty (never null).
func writeList[T any](w io.Writer, v []T) error {
	if v == nil {
		v = []T{}
	}
	return writeJSON(w, v)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func port(p int) string {
	if p == 0 {
		return "-"
	}
	return fmt.Sprint(p)
}

// attempt shows an attempt that is not serving: "1.7.0 rejected: reason",
// the reason cut to max bytes (0: whole).
func attempt(a *wire.ModuleAttempt, max int) string {
	if a == nil {
		return "-"
	}
	s := a.Version + " " + a.State
	if r := oneLine(a.Reason); r != "" {
		if max > 0 && len(r) > max {
			r = r[:max] + "..."
		}
		s += ": " + r
	}
	return s
}

// oneLine keeps text from a device on one line of a table.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

func runDeviceShow(ctx context.Context, cl *cli, args []string) error {
	const cmd = "device show"
	c, api, pos, err := cl.apiCommand(cmd, args, "ID")
	if err != nil {
		return err
	}
	if err := wire.ValidateDeviceID(pos[0]); err != nil {
		return usagef(cmd, "device show: %v", err)
	}
	var det wire.DeviceDetail
	if err := c.get(ctx, "/devices/"+url.PathEscape(pos[0])+"/detail", &det); err != nil {
		return fmt.Errorf("show device %s: %w", pos[0], err)
	}
	if api.json {
		return writeJSON(cl.stdout, det)
	}
	printDetail(cl.stdout, &det)
	return nil
}

func printDetail(w io.Writer, det *wire.DeviceDetail) {
	d := &det.Device
	state := "offline"
	if d.Online {
		state = "online"
	}
	fmt.Fprintf(w, "device      %s (%s, last seen %s)\n", d.ID, state, ago(d.LastSeen))
	if s := d.Status; s != nil {
		fmt.Fprintf(w, "agent       edge-agent %s, %s, board %s, engine %s\n", dash(s.AgentVersion), dash(s.Arch), dash(s.Board), dash(s.Engine))
		fmt.Fprintf(w, "generation  %d\n", s.Generation)
	}
	if len(det.Labels) > 0 {
		fmt.Fprintf(w, "labels      %s\n", pairs(det.Labels, ", "))
	}
	if m := d.Metrics; m != nil {
		a := &m.Agent
		conn := "connected"
		if !a.Connected {
			conn = "NOT connected"
		}
		fmt.Fprintf(w, "agent use   RSS %s, CPU %.1f s since start %s, disk free %s of %s\n",
			bytesText(a.RSSBytes), a.CPUSeconds, ago(a.Start), bytesText(a.DiskFree), bytesText(a.DiskTotal))
		fmt.Fprintf(w, "broker      %s, %d reconnect(s), %d report(s) not sent, %d event(s) queued (sampled %s)\n",
			conn, a.Reconnects, a.Dropped, a.EventsQueued, ago(m.Time))
	}
	if s := d.Status; s != nil && len(s.Modules) > 0 {
		fmt.Fprintln(w)
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "MODULE\tSERVING\tPORT\tSTATE\tSINCE\tLAST GOOD\tLAST ATTEMPT")
		for _, m := range s.Modules {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", m.Name, dash(m.Version), port(m.Port), dash(m.State), ago(m.Since), dash(m.LastGood), attempt(m.Attempt, 0))
		}
		tw.Flush()
	}
	if m := d.Metrics; m != nil && len(m.Modules) > 0 {
		fmt.Fprintln(w)
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "MODULE\tVERSION\tUP\tREQUESTS\t4XX\t5XX\tTRAPS\tTIMEOUTS\tP50\tP99\tINSTANCES\tRSS\tRESTARTS")
		for _, mm := range m.Modules {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t%d\t%s\t%d\n", mm.Name, mm.Version, ago(mm.Start), mm.Requests,
				mm.Responses4xx, mm.Responses5xx, mm.Traps, mm.Timeouts, seconds(mm.Latency.Quantile(0.5)), seconds(mm.Latency.Quantile(0.99)),
				mm.Instances, bytesText(mm.RSSBytes), mm.WorkerRestarts)
		}
		tw.Flush()
	}
	printEvents(w, "RECENT ERRORS", det.Errors)
	printEvents(w, "RECENT EVENTS", det.Events[:min(len(det.Events), 10)])
}

func printEvents(w io.Writer, title string, evs []wire.Event) {
	if len(evs) == 0 {
		return
	}
	fmt.Fprintf(w, "\n%s\n", title)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, e := range evs {
		fmt.Fprintf(tw, "%s\t%s %s\t%s\t%s\n", ago(e.Time), e.Module, e.Version, e.State, oneLine(e.Reason))
	}
	tw.Flush()
}

// bytesText writes a size for people: 12.0 MiB.
func bytesText(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	f, i := float64(n), 0
	for f >= unit && i < 4 {
		f /= unit
		i++
	}
	return fmt.Sprintf("%.1f %ciB", f, "KMGT"[i-1])
}

// seconds writes a latency for people: 850µs, 12.5ms, 1.20s.
func seconds(s float64) string {
	if s == 0 {
		return "-"
	}
	d := time.Duration(s * float64(time.Second))
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%dµs", d.Microseconds())
	case d < time.Second:
		return fmt.Sprintf("%.1fms", s*1000)
	}
	return fmt.Sprintf("%.2fs", s)
}

func runModules(ctx context.Context, cl *cli, args []string) error {
	const cmd = "modules"
	c, api, _, err := cl.apiCommand(cmd, args)
	if err != nil {
		return err
	}
	var ms []wire.ModuleSummary
	if err := c.get(ctx, "/modules", &ms); err != nil {
		return fmt.Errorf("list modules: %w", err)
	}
	if api.json {
		return writeList(cl.stdout, ms)
	}
	tw := tabwriter.NewWriter(cl.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "MODULE\tTARGETED\tSERVING\tVERSIONS (DEVICES)")
	for _, m := range ms {
		var vs []string
		for _, v := range m.Versions {
			vs = append(vs, fmt.Sprintf("%s on %d (%s)", v.Version, len(v.Devices), listSome(v.Devices, 4)))
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\n", m.Name, m.Targeted, m.Serving, dash(strings.Join(vs, "; ")))
	}
	tw.Flush()
	var rows []string
	for _, m := range ms {
		for _, a := range m.Attempts {
			rows = append(rows, fmt.Sprintf("%s\t%s\t%s\t%s", m.Name, a.Device, attempt(&a.Attempt, 80), ago(a.Attempt.Time)))
		}
	}
	if len(rows) > 0 {
		fmt.Fprintln(cl.stdout, "\nLATEST ATTEMPT NOT SERVING")
		tw = tabwriter.NewWriter(cl.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "MODULE\tDEVICE\tATTEMPT\tWHEN")
		for _, r := range rows {
			fmt.Fprintln(tw, r)
		}
		tw.Flush()
	}
	return nil
}

// listSome lists up to n names, then how many more.
func listSome(names []string, n int) string {
	if len(names) <= n {
		return strings.Join(names, ", ")
	}
	return strings.Join(names[:n], ", ") + fmt.Sprintf(", +%d more", len(names)-n)
}
