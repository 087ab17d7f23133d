package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/edgeplane/edge/agent/admin"
	"github.com/edgeplane/edge/agent/session"
	"github.com/edgeplane/edge/internal/buildinfo"
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
	Modules      []moduleStatus    `json:"modules"`
}

// moduleStatus is one module: the version its worker serves, and the
// state of its latest deployment as reported to the controller.
type moduleStatus struct {
	Name     string `json:"name"`
	Serving  string `json:"serving,omitempty"` // version running now ("" none)
	Version  string `json:"version,omitempty"` // of the latest deployment
	State    string `json:"state,omitempty"`
	Port     int    `json:"port,omitempty"`
	LastGood string `json:"last_good,omitempty"`
	Error    string `json:"error,omitempty"`
}

// buildStatus assembles the status from the running parts.
func buildStatus(device string, started time.Time, sess *session.Session, running map[string]string, generation int64, outbox int) agentStatus {
	st := agentStatus{Device: device, AgentVersion: buildinfo.Version, Started: started, Connection: sess.State(),
		Generation: generation, Outbox: outbox, Modules: []moduleStatus{}}
	byName := map[string]*moduleStatus{}
	for _, m := range sess.LastStatus().Modules {
		st.Modules = append(st.Modules, moduleStatus{Name: m.Name, Version: m.Version, State: m.State, Port: m.Port, LastGood: m.LastGood, Error: m.Error})
	}
	for i := range st.Modules {
		byName[st.Modules[i].Name] = &st.Modules[i]
	}
	for name, v := range running {
		if m := byName[name]; m != nil {
			m.Serving = v
		} else {
			st.Modules = append(st.Modules, moduleStatus{Name: name, Serving: v})
		}
	}
	slices.SortFunc(st.Modules, func(a, b moduleStatus) int { return strings.Compare(a.Name, b.Name) })
	return st
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
		fmt.Fprintf(w, "broker      %s: NOT CONNECTED for %s, %d failed attempt(s)\n", c.Broker, ago(c.Since), c.Failed)
	}
	if c.LastError != "" {
		fmt.Fprintf(w, "last error  %s, %s ago: %s\n", c.LastReason, ago(c.LastAt), c.LastError)
	}
	fmt.Fprintf(w, "desired     generation %d; %d event(s) waiting to be sent\n", st.Generation, st.Outbox)
	if len(st.Modules) == 0 {
		fmt.Fprintln(w, "modules     none")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "MODULE\tSERVING\tDEPLOYMENT\tSTATE\tPORT\tLAST GOOD\tERROR")
	for _, m := range st.Modules {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", m.Name, dash(m.Serving), dash(m.Version), dash(m.State),
			dash(portText(m.Port)), dash(m.LastGood), dash(m.Error))
	}
	tw.Flush()
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
