package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/edgeplane/edge/agent/admin"
	"github.com/edgeplane/edge/agent/session"
	"github.com/edgeplane/edge/internal/buildinfo"
	"github.com/edgeplane/edge/internal/plural"
	"github.com/edgeplane/edge/wire"
)

// agentStatus is what `edge-agent status` shows: the answer of the admin
// endpoint's GET /status.
type agentStatus struct {
	Device       string            `json:"device"`
	AgentVersion string            `json:"agent_version"`
	Started      time.Time         `json:"started"`
	Connection   session.ConnState `json:"connection"`
	Generation   int64             `json:"generation"` // last desired state applied
	Outbox       int               `json:"outbox"`     // events waiting to be sent
	Labels       map[string]string `json:"labels,omitempty"`
	Modules      []moduleStatus    `json:"modules"`
}

// moduleStatus is one module as the controller is told (wire.ModuleStatus,
// the same truth): the version serving now, and the latest deployment when
// it is not that version.
type moduleStatus struct {
	Name       string              `json:"name"`
	Serving    string              `json:"serving,omitempty"` // version serving now ("" none)
	SHA256     string              `json:"sha256,omitempty"`
	Deployment string              `json:"deployment,omitempty"` // that installed the serving version
	State      string              `json:"state,omitempty"`
	Port       int                 `json:"port,omitempty"`
	Since      time.Time           `json:"since,omitzero"`
	LastGood   string              `json:"last_good,omitempty"`
	Error      string              `json:"error,omitempty"`
	Attempt    *wire.ModuleAttempt `json:"attempt,omitempty"`
}

// buildStatus assembles the status from the running parts; st is the
// reconciler's Status, what the controller is sent.
func buildStatus(device string, started time.Time, sess *session.Session, st wire.Status, outbox int) agentStatus {
	out := agentStatus{Device: device, AgentVersion: buildinfo.Version, Started: started, Connection: sess.State(),
		Generation: st.Generation, Outbox: outbox, Labels: st.Labels, Modules: []moduleStatus{}}
	for _, m := range st.Modules {
		out.Modules = append(out.Modules, moduleStatus{Name: m.Name, Serving: m.Version, SHA256: m.SHA256, Deployment: m.Deployment,
			State: m.State, Port: m.Port, Since: m.Since, LastGood: m.LastGood, Error: m.Error, Attempt: m.Attempt})
	}
	return out
}

const statusUsage = `Usage: edge-agent status [--data DIR | --config FILE] [--json]

Shows the state of the agent running with this data folder: its connection
to the broker (with the reason of the last failed attempt), the versions
its modules serve, and the last desired state applied. It asks the agent
on its admin socket (DATA/admin.sock).

Flags:
`

func runStatus(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("edge-agent status", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, statusUsage); fs.PrintDefaults() }
	data := fs.String("data", "", "the agent's data `folder` (default: the --config file's, else "+defaultDataDir()+")")
	configFile := fs.String("config", "", "the agent's JSON config `file`, to find its data folder")
	jsonOut := fs.Bool("json", false, "print the status as JSON")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "edge-agent status: unexpected arguments %q\n", fs.Args())
		return exitUsage
	}
	dir := *data
	if dir == "" && *configFile != "" {
		var cfg runConfig
		if err := cfg.load(*configFile); err != nil {
			fmt.Fprintf(stderr, "edge-agent status: %v\n", err)
			return exitUsage
		}
		dir = cfg.Data
	}
	if dir == "" {
		dir = defaultDataDir()
	}
	var st agentStatus
	if err := admin.Get(ctx, dir, "/status", &st); err != nil {
		fmt.Fprintf(stderr, "edge-agent status: %v\n", err)
		return exitFail
	}
	if *jsonOut {
		b, _ := json.MarshalIndent(st, "", "  ")
		fmt.Fprintf(stdout, "%s\n", b)
		return exitOK
	}
	printStatus(stdout, &st, time.Now())
	return exitOK
}

func printStatus(w io.Writer, st *agentStatus, now time.Time) {
	ago := func(t time.Time) string { return now.Sub(t).Round(time.Second).String() }
	c := st.Connection
	fmt.Fprintf(w, "device      %s (edge-agent %s, up %s)\n", st.Device, st.AgentVersion, ago(st.Started))
	if c.Connected {
		fmt.Fprintf(w, "broker      %s: connected for %s\n", c.Broker, ago(c.Since))
	} else {
		fmt.Fprintf(w, "broker      %s: NOT CONNECTED for %s, %s\n", c.Broker, ago(c.Since), plural.Count(c.Failed, "failed attempt"))
	}
	if c.LastError != "" {
		fmt.Fprintf(w, "last error  %s, %s ago: %s\n", c.LastReason, ago(c.LastAt), c.LastError)
	}
	if k := c.Conflict; k != nil {
		fmt.Fprintf(w, "ID CONFLICT another agent seems to use device id %s: %s since %s ago, reconnects wait %s; give each board its own --id\n",
			st.Device, plural.Count(k.Takeovers, "takeover"), ago(k.Since), k.Delay)
	}
	fmt.Fprintf(w, "desired     generation %d; %s waiting to be sent\n", st.Generation, plural.Count(st.Outbox, "event"))
	if len(st.Modules) == 0 {
		fmt.Fprintln(w, "modules     none")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "MODULE\tSERVING\tSTATE\tPORT\tLAST GOOD\tLAST ATTEMPT")
	for _, m := range st.Modules {
		state := m.State
		if m.Error != "" {
			state += ": " + oneLine(m.Error, 60)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", m.Name, dash(m.Serving), dash(state),
			dash(portText(m.Port)), dash(m.LastGood), dash(attemptText(m.Attempt)))
	}
	tw.Flush()
}

// attemptText is "1.7.0 rejected: reason" for a deployment that does not
// serve.
func attemptText(a *wire.ModuleAttempt) string {
	if a == nil {
		return ""
	}
	s := a.Version + " " + a.State
	if a.Reason != "" {
		s += ": " + oneLine(a.Reason, 80)
	}
	return s
}

// oneLine cuts s to n characters on one line, marking the cut.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-3]) + "..."
	}
	return s
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func portText(p int) string {
	if p == 0 {
		return ""
	}
	return fmt.Sprint(p)
}
