package deploy

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgeplane/edge/internal/freeport"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/edgeplane/edge/wire"
)

// startMosquitto runs a real mosquitto with deploy/mosquitto's ACL and
// settings on a free loopback port, with users edge-control, dev-a, dev-b
// (password "pw-" + name). Lines in extra are added to the configuration
// (settings that leave the ACL as shipped). It returns the broker URL.
func startMosquitto(t *testing.T, extra ...string) string {
	t.Helper()
	broker := tool(t, "mosquitto")
	passwd := tool(t, "mosquitto_passwd")
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "edge.passwd")
	for i, user := range []string{"edge-control", "dev-a", "dev-b"} {
		args := []string{"-b", pwFile, user, "pw-" + user}
		if i == 0 {
			args = append([]string{"-c"}, args...)
		}
		if out, err := exec.Command(passwd, args...).CombinedOutput(); err != nil {
			t.Fatalf("mosquitto_passwd: %v\n%s", err, out)
		}
	}
	port := freeport.MustPick(t.Fatal)

	conf, err := os.ReadFile(filepath.Join(repoRoot(), "deploy", "mosquitto", "edge.conf"))
	if err != nil {
		t.Fatal(err)
	}
	acl := filepath.Join(repoRoot(), "deploy", "mosquitto", "edge.acl")
	text := strings.NewReplacer(
		"listener 1883", fmt.Sprintf("listener %d 127.0.0.1", port),
		"/etc/mosquitto/edge.passwd", pwFile,
		"/etc/mosquitto/edge.acl", acl,
		"persistence true", "persistence false",
		"persistence_location /var/lib/mosquitto/", "",
	).Replace(string(conf)) + strings.Join(extra, "\n") + "\n"
	if os.Geteuid() == 0 {
		// Started as root, mosquitto drops to user "mosquitto", who cannot
		// read the test's private temporary folder.
		text = "user root\n" + text
	}
	confFile := filepath.Join(dir, "mosquitto.conf")
	if err := os.WriteFile(confFile, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(broker, "-c", confFile)
	var logs strings.Builder
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	for i := 0; ; i++ {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			break
		}
		if i > 100 {
			t.Fatalf("mosquitto did not listen on %s:\n%s", addr, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return "tcp://" + addr
}

type client struct {
	mqtt.Client
	got  chan mqtt.Message
	lost chan error
}

func connect(t *testing.T, url, user, clientID string) (*client, error) {
	t.Helper()
	c := &client{got: make(chan mqtt.Message, 16), lost: make(chan error, 1)}
	opts := mqtt.NewClientOptions().AddBroker(url).SetUsername(user).SetPassword("pw-" + user).
		SetClientID(clientID).SetAutoReconnect(false).SetConnectTimeout(5 * time.Second).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) { c.lost <- err }).
		SetDefaultPublishHandler(func(_ mqtt.Client, m mqtt.Message) { c.got <- m })
	c.Client = mqtt.NewClient(opts)
	tok := c.Connect()
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		return nil, fmt.Errorf("connect %s: %v", user, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c, nil
}

func must(t *testing.T, tok mqtt.Token) {
	t.Helper()
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("mqtt: %v", tok.Error())
	}
}

// TestMosquittoACL: with deploy/mosquitto's configuration a device reads
// only its own desired state and writes only its own reports, and cannot
// take over another device's session by using its client id.
func TestMosquittoACL(t *testing.T) {
	url := startMosquitto(t)
	ctl, err := connect(t, url, "edge-control", "edge-control")
	if err != nil {
		t.Fatal(err)
	}
	a, err := connect(t, url, "dev-a", "dev-a")
	if err != nil {
		t.Fatal(err)
	}
	b, err := connect(t, url, "dev-b", "dev-b")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := connect(t, url, "intruder", "intruder"); err == nil {
		t.Error("a user without a password entry connected")
	}

	// dev-a subscribes to its own and to dev-b's desired state; only its
	// own arrives.
	must(t, a.Subscribe("edge/v1/dev/dev-a/desired", 1, nil))
	must(t, a.Subscribe("edge/v1/dev/dev-b/desired", 1, nil))
	must(t, a.Subscribe("edge/v1/dev/+/desired", 1, nil))
	must(t, ctl.Subscribe("edge/v1/dev/+/status", 1, func(_ mqtt.Client, m mqtt.Message) { ctl.got <- m }))
	must(t, ctl.Publish("edge/v1/dev/dev-b/desired", 1, true, "for b"))
	must(t, ctl.Publish("edge/v1/dev/dev-a/desired", 1, true, "for a"))
	select {
	case m := <-a.got:
		if m.Topic() != "edge/v1/dev/dev-a/desired" || string(m.Payload()) != "for a" {
			t.Errorf("dev-a received %s %q", m.Topic(), m.Payload())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("dev-a did not receive its own desired state")
	}

	// dev-a forges dev-b's status; dev-b's own status arrives.
	must(t, a.Publish("edge/v1/dev/dev-b/status", 1, true, "forged"))
	must(t, b.Publish("edge/v1/dev/dev-b/status", 1, true, "real"))
	select {
	case m := <-ctl.got:
		if string(m.Payload()) != "real" {
			t.Errorf("controller received %s %q, want only dev-b's real status", m.Topic(), m.Payload())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("controller did not receive dev-b's status")
	}
	select {
	case m := <-a.got:
		t.Errorf("dev-a received %s %q", m.Topic(), m.Payload())
	case m := <-ctl.got:
		t.Errorf("controller received a second status %s %q", m.Topic(), m.Payload())
	case <-time.After(500 * time.Millisecond):
	}

	// Log requests: dev-a reads only its own; the controller receives the
	// lines dev-a sends for itself, not those it forges for dev-b, and
	// dev-a cannot read dev-b's lines.
	must(t, a.Subscribe("edge/v1/dev/dev-a/logreq", 1, nil))
	must(t, a.Subscribe("edge/v1/dev/dev-b/logreq", 1, nil))
	must(t, a.Subscribe("edge/v1/dev/dev-b/logs", 1, nil))
	must(t, ctl.Subscribe("edge/v1/dev/+/logs", 1, func(_ mqtt.Client, m mqtt.Message) { ctl.got <- m }))
	must(t, ctl.Publish("edge/v1/dev/dev-b/logreq", 1, false, "ask b"))
	must(t, ctl.Publish("edge/v1/dev/dev-a/logreq", 1, false, "ask a"))
	select {
	case m := <-a.got:
		if m.Topic() != "edge/v1/dev/dev-a/logreq" || string(m.Payload()) != "ask a" {
			t.Errorf("dev-a received %s %q, want only its own log request", m.Topic(), m.Payload())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("dev-a did not receive its own log request")
	}
	must(t, a.Publish("edge/v1/dev/dev-b/logs", 1, false, "forged lines"))
	must(t, b.Publish("edge/v1/dev/dev-b/logs", 1, false, "b's lines"))
	select {
	case m := <-ctl.got:
		if m.Topic() != "edge/v1/dev/dev-b/logs" || string(m.Payload()) != "b's lines" {
			t.Errorf("controller received %s %q, want only dev-b's own lines", m.Topic(), m.Payload())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("controller did not receive dev-b's lines")
	}
	select {
	case m := <-a.got:
		t.Errorf("dev-a received %s %q", m.Topic(), m.Payload())
	case m := <-ctl.got:
		t.Errorf("controller received a second message %s %q", m.Topic(), m.Payload())
	case <-time.After(500 * time.Millisecond):
	}

	// dev-a connecting with dev-b's client id must not kick dev-b off:
	// use_username_as_clientid turns it into dev-a's id.
	if _, err := connect(t, url, "dev-a", "dev-b"); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-b.lost:
		t.Errorf("dev-b lost its connection when dev-a used its client id: %v", err)
	case <-time.After(time.Second):
	}
	// Clean retained messages (the broker keeps nothing on disk anyway).
	must(t, ctl.Publish("edge/v1/dev/dev-a/desired", 1, true, ""))
	must(t, ctl.Publish("edge/v1/dev/dev-b/desired", 1, true, ""))
}

// TestMosquittoPacketLimit: the Mosquitto configuration carries the one
// packet limit of the path (wire.MaxPacketSize), the same the embedded
// broker and both clients use.
func TestMosquittoPacketLimit(t *testing.T) {
	for _, file := range []string{"edge.conf", "edge-tls.conf"} {
		conf, err := os.ReadFile(filepath.Join(repoRoot(), "deploy", "mosquitto", file))
		if err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf("max_packet_size %d", wire.MaxPacketSize)
		found := false
		for _, line := range strings.Split(string(conf), "\n") {
			if strings.HasPrefix(strings.TrimSpace(line), "max_packet_size") {
				found = true
				if strings.TrimSpace(line) != want {
					t.Errorf("deploy/mosquitto/%s has %q, want %q (wire.MaxPacketSize)", file, strings.TrimSpace(line), want)
				}
			}
		}
		if !found {
			t.Errorf("deploy/mosquitto/%s sets no max_packet_size, want %q", file, want)
		}
	}
}
