package e2e

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// agentStatus is the part of `edge-agent status --json` these tests read.
type agentStatus struct {
	Device     string `json:"device"`
	Connection struct {
		Broker     string `json:"broker"`
		Connected  bool   `json:"connected"`
		Failed     int    `json:"failed_attempts"`
		LastError  string `json:"last_error"`
		LastReason string `json:"last_error_reason"`
		Lost       uint64 `json:"connections_lost"`
	} `json:"connection"`
	Generation int64 `json:"generation"`
	Modules    []struct {
		Name, Serving, Version, State string
	} `json:"modules"`
}

func status(t *testing.T, data string) agentStatus {
	t.Helper()
	out, err := exec.Command(bin(t, "edge-agent"), "status", "--data", data, "--json").Output()
	if err != nil {
		t.Fatalf("edge-agent status: %v", err)
	}
	var st agentStatus
	if err := json.Unmarshal(out, &st); err != nil {
		t.Fatalf("edge-agent status --json: %v\n%s", err, out)
	}
	return st
}

var connectFailed = regexp.MustCompile(`level=WARN msg="mqtt connect failed; [^"]*".* attempt=(\d+) reason="([^"]+)".* retry_in=(\S+)`)

// TestAgentConnectionErrors is case 7 of issue 7: with a wrong password, no
// password or its broker down, edge-agent run printed "running as ..." and
// then nothing for 35 s, even at debug level. Now every failed attempt is
// logged at warn with its reason and a growing back-off, and
// `edge-agent status` shows the connection, the last error and, once
// connected, the versions served.
func TestAgentConnectionErrors(t *testing.T) {
	f := startFleet(t)
	okArgs := f.device(t, "conn-ok")
	f.device(t, "conn-bad")
	refused := fmt.Sprintf("tcp://127.0.0.1:%d", freePort(t))

	withArg := func(args []string, flag, value string) []string {
		out := slices.Clone(args)
		i := slices.Index(out, flag)
		switch {
		case i >= 0 && value == "":
			out = slices.Delete(out, i, i+2)
		case i >= 0:
			out[i+1] = value
		default:
			out = append(out, flag, value)
		}
		return out
	}
	bad := withArg(okArgs, "--id", "conn-bad")
	for _, tc := range []struct {
		name   string
		args   []string
		reason string
	}{
		{"wrong password", withArg(bad, "--password", "wrong"), "not authorized"},
		{"no password", withArg(bad, "--password", ""), "not authorized"},
		{"broker down", withArg(withArg(bad, "--broker", refused), "--data", t.TempDir()), "connection refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := withArg(tc.args, "--data", t.TempDir())
			data := args[slices.Index(args, "--data")+1]
			p, _ := start(t, agentRunning, nil, bin(t, "edge-agent"), args...)
			var lines [][]string
			deadline := time.Now().Add(20 * time.Second)
			for len(lines) < 3 && time.Now().Before(deadline) {
				time.Sleep(200 * time.Millisecond)
				lines = connectFailed.FindAllStringSubmatch(p.Out.String(), -1)
			}
			if len(lines) < 3 {
				t.Fatalf("want 3 logged connection attempts within 20 s, got %d:\n%s", len(lines), p.Out)
			}
			var waits []time.Duration
			for i, l := range lines[:3] {
				if l[1] != fmt.Sprint(i+1) || l[2] != tc.reason {
					t.Errorf("attempt line %d: attempt %s, reason %q; want attempt %d, reason %q", i, l[1], l[2], i+1, tc.reason)
				}
				d, _ := time.ParseDuration(l[3])
				waits = append(waits, d)
			}
			if !(waits[0] < waits[1] && waits[1] < waits[2]) {
				t.Errorf("retry waits %v, want a growing back-off", waits)
			}
			st := status(t, data)
			if st.Device != "conn-bad" || st.Connection.Connected || st.Connection.Failed < 3 || st.Connection.LastReason != tc.reason {
				t.Errorf("status = %+v, want conn-bad not connected, >= 3 failed attempts, last reason %q", st, tc.reason)
			}
		})
	}

	t.Run("connected and serving", func(t *testing.T) {
		data := okArgs[slices.Index(okArgs, "--data")+1]
		start(t, agentRunning, nil, bin(t, "edge-agent"), okArgs...)
		deadline := time.Now().Add(20 * time.Second)
		for !status(t, data).Connection.Connected {
			if time.Now().After(deadline) {
				t.Fatalf("not connected after 20 s: %+v", status(t, data))
			}
			time.Sleep(100 * time.Millisecond)
		}
		port := freePort(t)
		if out, _, code := f.push(t, bin(t, "orders.wasm"), "1.0.0", "conn-ok", port); code != 0 {
			t.Fatalf("push = %d\n%s", code, out)
		}
		st := status(t, data)
		if len(st.Modules) != 1 || st.Modules[0].Name != "orders" || st.Modules[0].Serving != "1.0.0" || st.Generation < 1 {
			t.Errorf("status after a push = %+v, want orders serving 1.0.0 at generation >= 1", st)
		}
		out, err := exec.Command(bin(t, "edge-agent"), "status", "--data", data).Output()
		if err != nil || !strings.Contains(string(out), "connected for") || !strings.Contains(string(out), "orders") {
			t.Errorf("edge-agent status = %v\n%s", err, out)
		}
	})
}
