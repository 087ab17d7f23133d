package e2e

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edgeplane/edge/tests/harness"
	"github.com/edgeplane/edge/wire"
)

// withCustomSection returns wasm with a custom section appended: the same
// code, different bytes (so a different SHA-256 and a cold compile).
func withCustomSection(wasm []byte, name string, payload []byte) []byte {
	var body []byte
	body = binary.AppendUvarint(body, uint64(len(name)))
	body = append(body, name...)
	body = append(body, payload...)
	out := append([]byte(nil), wasm...)
	out = append(out, 0) // custom section id
	out = binary.AppendUvarint(out, uint64(len(body)))
	return append(out, body...)
}

// agentMarker is set in the environment of every agent the kill test
// starts; the agent's workers inherit it, which is how survivors are found.
const agentMarker = "EDGE_KILLTEST_AGENT"

// markedProcs lists the live processes whose environment holds
// agentMarker=value.
func markedProcs(value string) []int {
	want := []byte(agentMarker + "=" + value + "\x00")
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		env, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err != nil || !bytes.Contains(append([]byte{0}, env...), append([]byte{0}, want...)) {
			continue
		}
		if stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat")); err == nil {
			// Field 3 (after "(comm)") is the state; Z is a zombie.
			if i := bytes.LastIndexByte(stat, ')'); i > 0 && i+2 < len(stat) && stat[i+2] == 'Z' {
				continue
			}
		}
		pids = append(pids, pid)
	}
	return pids
}

// servedVersion reads device id's status from the controller: the version
// of module that serves (per the agent's report) if the status was
// published after since, else "".
func servedVersion(control, id, module string, since time.Time) (version, detail string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", control+wire.APIPrefix+"/devices/"+id, nil)
	resp, err := http.DefaultClient.Do(harness.Authorize(req))
	if err != nil {
		return "", "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return "", "", fmt.Errorf("GET device %s: %d %s", id, resp.StatusCode, b)
	}
	var d wire.Device
	if err := json.Unmarshal(b, &d); err != nil {
		return "", "", err
	}
	if d.Status == nil || d.Status.Time.Before(since) {
		return "", "no status since the restart", nil
	}
	for _, m := range d.Status.Modules {
		if m.Name != module {
			continue
		}
		// Version is the version serving ("" while none does); Attempt a
		// deployment that is not (yet) serving.
		detail = fmt.Sprintf("%s %s %q", m.Version, m.State, m.Error)
		if m.Attempt != nil {
			detail += fmt.Sprintf("; attempt %s %s %q", m.Attempt.Version, m.Attempt.State, m.Attempt.Reason)
		}
		return m.Version, detail, nil
	}
	return "", "module not in status", nil
}

// TestKillDuringDeploy SIGKILLs the agent at points spread over a deploy.
// After each restart the device must serve the old or the new version with
// its data, never nothing; no worker may outlive its agent.
func TestKillDuringDeploy(t *testing.T) {
	f := startFleet(t)
	agent := bin(t, "edge-agent")
	wasm, err := os.ReadFile(bin(t, "orders.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	args := f.device(t, "k")
	marker := fmt.Sprintf("%d-%d", os.Getpid(), time.Now().UnixNano())
	env := []string{agentMarker + "=" + marker}
	ag, _ := start(t, agentRunning, env, agent, args...)

	port := freePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	dir := t.TempDir()
	file := func(version string) string {
		p := filepath.Join(dir, "orders-"+version+".wasm")
		if err := os.WriteFile(p, withCustomSection(wasm, "edge-killtest", []byte(version)), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	pushCmd := func(ctx context.Context, version string) *exec.Cmd {
		args := []string{"push", file(version), "--control", f.control,
			"--key", filepath.Join(f.keyDir, "edge.key"), "--name", "orders", "--version", version,
			"--node", "k", "--db", "sqlite", "--port", fmt.Sprint(port), "--wait", "60s"}
		cmd := exec.CommandContext(ctx, bin(t, "edgectl"), args...)
		cmd.Env = harness.EdgectlEnvFor(args) // the controller's token
		return cmd
	}

	if out, _, code := f.push(t, file("1.0.0"), "1.0.0", "k", port); code != 0 {
		t.Fatalf("push 1.0.0 = %d\n%s", code, out)
	}
	runWorkflow(t, base, seedWorkflow(t))
	seeded := getOrders(t, base)

	// Calibrate: how long one undisturbed upgrade takes, push to exit.
	t0 := time.Now()
	if out, err := pushCmd(context.Background(), "1.0.1").CombinedOutput(); err != nil {
		t.Fatalf("push 1.0.1: %v\n%s", err, out)
	}
	window := time.Since(t0)
	t.Logf("undisturbed push 1.0.0 -> 1.0.1: %s", window.Round(time.Millisecond))
	serving := "1.0.1"

	points := 8
	if testing.Short() {
		points = 4
	}
	client := &http.Client{Timeout: 5 * time.Second}
	for i := range points {
		offset := window * time.Duration(i) / time.Duration(points-1)
		version := fmt.Sprintf("1.%d.0", i+1)
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		cmd := pushCmd(ctx, version)
		var pushOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &pushOut, &pushOut
		if err := cmd.Start(); err != nil {
			cancel()
			t.Fatal(err)
		}
		pushDone := make(chan error, 1)
		go func() { pushDone <- cmd.Wait() }()

		time.Sleep(offset)
		ag.Cmd.Process.Kill()
		<-ag.Done
		killedAt := time.Now()

		// Workers notice the broken heartbeat pipe and exit; none may
		// keep the port.
		for {
			left := markedProcs(marker)
			if len(left) == 0 {
				break
			}
			if time.Since(killedAt) > 5*time.Second {
				cancel()
				t.Fatalf("point %d (%s after push of %s): processes %v of the killed agent still alive 5s after SIGKILL",
					i, offset, version, left)
			}
			time.Sleep(20 * time.Millisecond)
		}
		orphans := time.Since(killedAt)

		restartAt := time.Now()
		ag, _ = start(t, agentRunning, env, agent, args...)

		var got, detail string
		var firstOK time.Duration // restart to the first 200
		deadline := time.Now().Add(30 * time.Second)
		for {
			ok := false
			if resp, err := client.Get(base + "/orders"); err == nil {
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode == 200 {
					if string(b) != seeded {
						t.Errorf("point %d: /orders = %q, want %q", i, b, seeded)
					}
					ok = true
					if firstOK == 0 {
						firstOK = time.Since(restartAt)
					}
				}
			}
			if ok {
				var err error
				got, detail, err = servedVersion(f.control, "k", "orders", restartAt)
				if err == nil && got != "" {
					break
				}
			}
			if time.Now().After(deadline) {
				cancel()
				t.Fatalf("point %d (%s after push of %s): nothing serving 30s after restart (orders 200: %v; status: %s)\nagent:\n%s",
					i, offset, version, ok, detail, ag.Out)
			}
			time.Sleep(50 * time.Millisecond)
		}
		if got != serving && got != version {
			t.Errorf("point %d (%s after push of %s): serves %s, want %s or %s (%s)", i, offset, version, got, serving, version, detail)
		}

		// Let the deploy settle before the next point: running or failed.
		perr := <-pushDone
		cancel()
		code := 0
		if ee := (*exec.ExitError)(nil); errors.As(perr, &ee) {
			code = ee.ExitCode()
		} else if perr != nil {
			t.Fatalf("push %s: %v", version, perr)
		}
		if code != 0 && code != 1 {
			t.Errorf("point %d: push %s exit %d (want 0 running or 1 failed):\n%s", i, version, code, pushOut.String())
		}
		// What serves now is the old version of the next point.
		serving = got
		if code == 0 {
			serving = version
		} else {
			// Failed: the status names the serving version once it
			// reports the failed one.
			for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
				if v, d, _ := servedVersion(f.control, "k", "orders", restartAt); v != "" && strings.HasPrefix(d, version+" ") {
					serving = v
					break
				}
			}
		}
		last := strings.TrimSpace(pushOut.String())
		if j := strings.LastIndexByte(last, '\n'); j >= 0 {
			last = last[j+1:]
		}
		t.Logf("point %d: kill %5s after push of %s; workers gone %s after; first 200 %s after restart, serving %s; push exit %d (%s); now %s",
			i, offset.Round(time.Millisecond), version, orphans.Round(time.Millisecond), firstOK.Round(time.Millisecond), got, code, last, serving)
	}
	if got := getOrders(t, base); got != seeded {
		t.Errorf("final /orders = %q, want %q", got, seeded)
	}
}
