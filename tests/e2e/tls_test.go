package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/edgeplane/edge/internal/mqttdial"
	"github.com/edgeplane/edge/internal/tlsfiles"
	"github.com/edgeplane/edge/tests/harness"
)

// controlTLSReady matches edge-control's ready line with TLS (harness.Start
// returns its first group, the whole of it); tlsAddrs parses it.
var (
	controlTLSReady = regexp.MustCompile(`edge-control: (http on https://\S+, mqtt on ssl://\S+)`)
	tlsAddrs        = regexp.MustCompile(`http on (https://\S+), mqtt on (ssl://\S+)`)
	controlSSLReady = regexp.MustCompile(`edge-control: (http on http://\S+, mqtt on ssl://\S+)`)
	plainAddr       = regexp.MustCompile(`http on (http://\S+),`)
)

// tlsFleet is a controller reached over HTTPS, with the CA edgectl needs.
type tlsFleet struct {
	control, broker string
	ca              *harness.CA
	keyDir          string
}

// edgectl runs edgectl against the fleet: global flags before the
// command, as an operator types them.
func (f *tlsFleet) edgectl(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	return edgectl(t, append([]string{"--control", f.control, "--ca-file", f.ca.File}, args...)...)
}

// push deploys orders.wasm to node on port and waits until it runs.
func (f *tlsFleet) push(t *testing.T, node string, port int) {
	t.Helper()
	out, errOut, code := f.edgectl(t, "push", bin(t, "orders.wasm"), "--key", filepath.Join(f.keyDir, "edge.key"),
		"--name", "orders", "--version", "1.0.0", "--node", node, "--db", "sqlite", "--port", fmt.Sprint(port), "--wait", "2m")
	if code != 0 {
		t.Fatalf("push over HTTPS = %d\n%s%s", code, out, errOut)
	}
	if status, body := call(t, "GET", fmt.Sprintf("http://127.0.0.1:%d/init", port), ""); status != 200 {
		t.Fatalf("GET /init after the push: %d %q", status, body)
	}
}

// online waits until the controller shows id online (false: offline).
func (f *tlsFleet) online(t *testing.T, id string, want bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, _, code := f.edgectl(t, "device", "show", id, "--json")
		var det struct {
			Device struct{ Online bool } `json:"device"`
		}
		if code == 0 && json.Unmarshal([]byte(out), &det) == nil && det.Device.Online == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("device %s online=%v never shown: %s", id, want, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (f *tlsFleet) keygen(t *testing.T) {
	t.Helper()
	f.keyDir = t.TempDir()
	if out, errOut, code := edgectl(t, "keygen", "--out", f.keyDir, "--force"); code != 0 {
		t.Fatalf("edgectl keygen = %d\n%s%s", code, out, errOut)
	}
}

// agentArgs are the arguments of edge-agent run for id over TLS.
func (f *tlsFleet) agentArgs(t *testing.T, id string, extra ...string) []string {
	return append([]string{"run", "--id", id, "--broker", f.broker, "--ca-file", f.ca.File,
		"--data", t.TempDir(), "--trust", filepath.Join(f.keyDir, "edge.pub"), "--grace", "2s"}, extra...)
}

// TestTLSEmbedded runs the real programs with TLS everywhere: edge-control
// serves HTTPS and MQTTS and requires device certificates (--client-ca);
// edgectl registers the device (password to a 0600 file) and pushes over
// HTTPS with --ca-file; edge-agent connects with its certificate; then
// edgectl device remove closes the agent's session and it cannot come
// back.
func TestTLSEmbedded(t *testing.T) {
	ca := harness.NewCA(t, "edge test CA")
	devCA := harness.NewCA(t, "edge device CA")
	cert, key := ca.Issue(t, "controller", harness.CertOptions{})
	ctl, line := start(t, controlTLSReady, nil, bin(t, "edge-control"), "--data", t.TempDir(),
		"--http", "127.0.0.1:0", "--mqtt", "127.0.0.1:0", "--tls-cert", cert, "--tls-key", key, "--client-ca", devCA.File)
	defer ctl.Stop(t)
	m := tlsAddrs.FindStringSubmatch(line)
	f := &tlsFleet{control: m[1], broker: m[2], ca: ca}
	f.keygen(t)

	pwFile := filepath.Join(t.TempDir(), "pi-tls.password")
	if out, errOut, code := f.edgectl(t, "device", "add", "pi-tls", "--password-file", pwFile); code != 0 {
		t.Fatalf("device add = %d\n%s%s", code, out, errOut)
	}
	// Without the CA edgectl refuses the controller's certificate.
	if _, errOut, code := edgectl(t, "--control", f.control, "devices"); code != 1 || !strings.Contains(errOut, "--ca-file") {
		t.Errorf("edgectl without --ca-file = %d %q, want 1 naming --ca-file", code, errOut)
	}

	devCert, devKey := devCA.Issue(t, "pi-tls", harness.CertOptions{Client: true})
	agent, _ := start(t, agentRunning, nil, bin(t, "edge-agent"), f.agentArgs(t, "pi-tls", "--cert", devCert, "--key", devKey)...)
	defer agent.Stop(t)
	f.online(t, "pi-tls", true)
	f.push(t, "pi-tls", freePort(t))

	out, errOut, code := f.edgectl(t, "device", "remove", "pi-tls")
	if code != 0 || !strings.Contains(out, "its live session was closed") {
		t.Fatalf("device remove = %d\n%s%s", code, out, errOut)
	}
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(agent.Out.String(), "mqtt reconnect failed; retrying with back-off; check the device id and password (or client certificate)") {
		if time.Now().After(deadline) {
			t.Fatalf("the removed agent did not fail to reconnect:\n%s", agent.Out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, errOut, code := f.edgectl(t, "device", "show", "pi-tls"); code != 1 || !strings.Contains(errOut, "Not Found") {
		t.Errorf("device show after remove = %d %q, want 1 Not Found", code, errOut)
	}
}

// TestInsecureRefused: edge-control will not serve plain HTTP or MQTT
// beyond loopback without --insecure, and says which flag to give.
func TestInsecureRefused(t *testing.T) {
	for _, args := range [][]string{
		{"--http", "0.0.0.0:0"},
		{"--mqtt", "0.0.0.0:0"},
	} {
		cmd := exec.Command(bin(t, "edge-control"), append([]string{"--data", t.TempDir()}, args...)...)
		out, err := cmd.CombinedOutput()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 || !strings.Contains(string(out), "or give --insecure") {
			t.Errorf("edge-control %q: %v\n%s; want exit 2 naming --insecure", args, err, out)
		}
	}
}

// mosquittoTLS starts the machine's mosquitto with
// deploy/mosquitto/edge-tls.conf as shipped (paths, port and persistence
// replaced) on a free loopback port. With passwords, require_certificate
// is turned off and a password file with users (password "pw-"+user)
// given instead of use_identity_as_username. It returns the ssl:// URL.
func mosquittoTLS(t *testing.T, ca *harness.CA, passwords bool, users ...string) string {
	t.Helper()
	broker, err := exec.LookPath("mosquitto")
	if err != nil {
		broker = "/usr/sbin/mosquitto"
		if _, err := os.Stat(broker); err != nil {
			t.Skip("mosquitto is not installed")
		}
	}
	dir := t.TempDir()
	cert, key := ca.Issue(t, "broker", harness.CertOptions{})
	conf := harness.ReadFile(t, "deploy/mosquitto/edge-tls.conf")
	port := freePort(t)
	r := []string{
		"listener 8883", fmt.Sprintf("listener %d 127.0.0.1", port),
		"/etc/mosquitto/certs/ca.crt", ca.File,
		"/etc/mosquitto/certs/broker.crt", cert,
		"/etc/mosquitto/certs/broker.key", key,
		"/etc/mosquitto/edge.acl", filepath.Join(repoRoot(), "deploy", "mosquitto", "edge.acl"),
		"persistence true", "persistence false",
		"persistence_location /var/lib/mosquitto/", "",
	}
	if passwords {
		pwFile := filepath.Join(dir, "edge.passwd")
		for i, u := range users {
			args := []string{"-b", pwFile, u, "pw-" + u}
			if i == 0 {
				args = append([]string{"-c"}, args...)
			}
			if out, err := exec.Command("mosquitto_passwd", args...).CombinedOutput(); err != nil {
				t.Fatalf("mosquitto_passwd: %v\n%s", err, out)
			}
		}
		r = append(r, "require_certificate true", "require_certificate false",
			"use_identity_as_username true", "",
			"#password_file /etc/mosquitto/edge.passwd", "password_file "+pwFile)
	}
	text := strings.NewReplacer(r...).Replace(conf)
	if os.Geteuid() == 0 {
		text = "user root\n" + text // else mosquitto drops to a user who cannot read the test's files
	}
	confFile := filepath.Join(dir, "mosquitto.conf")
	if err := os.WriteFile(confFile, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(broker, "-c", confFile)
	logs := new(harness.SyncBuffer)
	cmd.Stdout, cmd.Stderr = logs, logs
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
	return "ssl://" + addr
}

// TestTLSMosquittoCerts: the controller and an agent on the machine's
// Mosquitto configured with deploy/mosquitto/edge-tls.conf: client
// certificates name both (use_identity_as_username), a push runs. A
// plain MQTT client on the TLS port, a client trusting another CA and a
// client without a certificate are refused.
func TestTLSMosquittoCerts(t *testing.T) {
	ca := harness.NewCA(t, "edge test CA")
	broker := mosquittoTLS(t, ca, false)
	ctlCert, ctlKey := ca.Issue(t, "edge-control", harness.CertOptions{Client: true})
	httpCert, httpKey := ca.Issue(t, "controller", harness.CertOptions{})
	ctl, line := start(t, controlTLSReady, nil, bin(t, "edge-control"), "--data", t.TempDir(), "--http", "127.0.0.1:0",
		"--tls-cert", httpCert, "--tls-key", httpKey,
		"--broker", broker, "--broker-ca", ca.File, "--broker-cert", ctlCert, "--broker-key", ctlKey, "--client-id", "edge-control")
	defer ctl.Stop(t)
	m := tlsAddrs.FindStringSubmatch(line)
	f := &tlsFleet{control: m[1], broker: broker, ca: ca}
	f.keygen(t)
	if out, errOut, code := f.edgectl(t, "device", "add", "pi-mq", "--password-file", filepath.Join(t.TempDir(), "pw")); code != 0 {
		t.Fatalf("device add = %d\n%s%s", code, out, errOut)
	}
	devCert, devKey := ca.Issue(t, "pi-mq", harness.CertOptions{Client: true})
	agent, _ := start(t, agentRunning, nil, bin(t, "edge-agent"), f.agentArgs(t, "pi-mq", "--cert", devCert, "--key", devKey)...)
	defer agent.Stop(t)
	f.online(t, "pi-mq", true)
	f.push(t, "pi-mq", freePort(t))

	other := harness.NewCA(t, "another CA")
	tlsCfg := func(caFile, cert, key string) mqtt.ClientOptions {
		cfg, err := tlsfiles.Client(caFile, cert, key)
		if err != nil {
			t.Fatal(err)
		}
		return *mqtt.NewClientOptions().SetTLSConfig(cfg)
	}
	plain := "tcp://" + strings.TrimPrefix(broker, "ssl://")
	for _, tc := range []struct {
		name, url string
		tls       mqtt.ClientOptions
		kind      string
	}{
		{"plain MQTT on the TLS port", plain, *mqtt.NewClientOptions(), ""},
		{"another CA", broker, tlsCfg(other.File, devCert, devKey), mqttdial.KindTLS},
		{"no client certificate", broker, tlsCfg(ca.File, "", ""), ""},
	} {
		opts := tc.tls
		opts.AddBroker(tc.url).SetClientID("pi-mq-probe").SetConnectTimeout(5 * time.Second).SetAutoReconnect(false)
		c := mqtt.NewClient(&opts)
		tok := c.Connect()
		if !tok.WaitTimeout(10*time.Second) || tok.Error() == nil {
			c.Disconnect(50)
			t.Errorf("%s: connected", tc.name)
			continue
		}
		if f := mqttdial.Explain(tok.Error()); tc.kind != "" && f.Kind != tc.kind {
			t.Errorf("%s: %v (%s), want %s", tc.name, tok.Error(), f.Kind, tc.kind)
		}
	}
}

// TestTLSMosquittoPasswords: Mosquitto with TLS and passwords (the
// variant edge-tls.conf describes): the controller and an agent verify
// the broker with --broker-ca / --ca-file and log in with passwords; an
// agent given the wrong CA says why it cannot connect.
func TestTLSMosquittoPasswords(t *testing.T) {
	ca := harness.NewCA(t, "edge test CA")
	broker := mosquittoTLS(t, ca, true, "edge-control", "pi-pw")
	wrong := harness.NewCA(t, "another CA")

	// A controller given the wrong CA gives up at start, saying why.
	cmd := exec.Command(bin(t, "edge-control"), "--data", t.TempDir(), "--http", "127.0.0.1:0", "--broker", broker,
		"--broker-ca", wrong.File, "--broker-user", "edge-control", "--broker-password", "pw-edge-control", "--broker-wait", "1s")
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(string(out), "TLS handshake failed") ||
		!strings.Contains(string(out), "check --broker-ca") {
		t.Errorf("edge-control with the wrong --broker-ca: %v\n%s; want exit 1 naming the TLS failure and --broker-ca", err, out)
	}

	ctl, line := start(t, controlSSLReady, nil, bin(t, "edge-control"), "--data", t.TempDir(), "--http", "127.0.0.1:0",
		"--broker", broker, "--broker-ca", ca.File, "--broker-user", "edge-control", "--broker-password", "pw-edge-control",
		"--client-id", "edge-control")
	defer ctl.Stop(t)
	mm := plainAddr.FindStringSubmatch(line)
	if mm == nil {
		t.Fatalf("ready line %q", line)
	}
	keyDir := t.TempDir()
	if out, errOut, code := edgectl(t, "keygen", "--out", keyDir, "--force"); code != 0 {
		t.Fatalf("keygen = %d %s%s", code, out, errOut)
	}
	if out, errOut, code := edgectl(t, "--control", mm[1], "device", "add", "pi-pw"); code != 0 {
		t.Fatalf("device add = %d %s%s", code, out, errOut)
	}
	pw := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(pw, []byte("pw-pi-pw\n"), 0o600)
	args := []string{"run", "--id", "pi-pw", "--broker", broker, "--password-file", pw,
		"--data", t.TempDir(), "--trust", filepath.Join(keyDir, "edge.pub")}

	bad, _ := start(t, agentRunning, nil, bin(t, "edge-agent"), append(args, "--ca-file", wrong.File)...)
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(bad.Out.String(), "retrying; check --ca-file") {
		if time.Now().After(deadline) {
			t.Fatalf("an agent with the wrong CA did not say so:\n%s", bad.Out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(bad.Out.String(), "certificate signed by unknown authority") {
		t.Errorf("wrong CA: the agent's log does not give the cause:\n%s", bad.Out.String())
	}
	bad.Stop(t)

	agent, _ := start(t, agentRunning, nil, bin(t, "edge-agent"), append(args, "--ca-file", ca.File)...)
	defer agent.Stop(t)
	deadline = time.Now().Add(30 * time.Second)
	for {
		out, _, _ := edgectl(t, "--control", mm[1], "--json", "device", "show", "pi-pw")
		if strings.Contains(out, `"online": true`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("agent over TLS with a password never online: %s\n%s", out, agent.Out.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
}
