package server

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"

	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/edgeplane/edge/wire"
)

// testLogger logs to the test output at debug level when -v.
func testLogger(t *testing.T) *slog.Logger {
	level := slog.LevelWarn
	if testing.Verbose() {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: level}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(b []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimSuffix(string(b), "\n"))
	return len(b), nil
}

func startServer(t *testing.T, mod func(*Config)) *Server {
	t.Helper()
	cfg := DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.MQTTAddr = "127.0.0.1:0"
	if mod != nil {
		mod(&cfg)
	}
	if cfg.DB == "" {
		cfg.DB = testDB(t, cfg.DataDir)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := Start(ctx, cfg, testLogger(t))
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// call makes an API request and decodes a JSON answer into out (if not nil).
func call(t *testing.T, s *Server, method, path string, body any, out any) int {
	t.Helper()
	code, data := request(t, s, method, path, body)
	if code >= 400 {
		var e wire.APIError
		if err := json.Unmarshal(data, &e); err != nil || e.Error == "" {
			t.Errorf("%s %s: %d answer is not an APIError: %q", method, path, code, data)
		}
	} else if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: decode %q: %v", method, path, data, err)
		}
	}
	return code
}

// callErr makes an API request and returns the status and, for an error
// answer, its message.
func callErr(t *testing.T, s *Server, method, path string, body any) (int, string) {
	t.Helper()
	code, data := request(t, s, method, path, body)
	var e wire.APIError
	if code >= 400 {
		if err := json.Unmarshal(data, &e); err != nil || e.Error == "" {
			t.Errorf("%s %s: %d answer is not an APIError: %q", method, path, code, data)
		}
	}
	return code, e.Error
}

// request makes an API request and returns the status and the body.
func request(t *testing.T, s *Server, method, path string, body any) (int, []byte) {
	t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		r = bytes.NewReader(b)
	case io.Reader:
		r = b
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, s.URL()+path, r)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+adminToken(t, s))
	if r != nil && !strings.Contains(path, "/blobs/") {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := httpClient(t, s).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read: %v", method, path, err)
	}
	return resp.StatusCode, data
}

// adminToken is the admin token s wrote to its data folder at its first
// start.
func adminToken(t *testing.T, s *Server) string {
	t.Helper()
	token, err := ReadAdminToken(s.cfg.DataDir)
	if err != nil {
		t.Fatalf("admin token: %v", err)
	}
	return token
}

// get makes an authenticated GET of path (with an admin token).
func get(t *testing.T, s *Server, path string) *http.Response {
	t.Helper()
	req, err := http.NewRequest("GET", "http://"+s.HTTPAddr()+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+adminToken(t, s))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func wantCode(t *testing.T, what string, got, want int) {
	t.Helper()
	if got != want {
		t.Fatalf("%s: status %d, want %d", what, got, want)
	}
}

// deviceTLS, when set, is the TLS configuration connectDevice uses.
var deviceTLS *tls.Config

// device is a real paho client acting as an agent.
type device struct {
	t      *testing.T
	id     string
	c      paho.Client
	desire chan wire.DesiredState
	chunks chan []byte
}

func dialOpts(broker, user, password, clientID string) *paho.ClientOptions {
	return paho.NewClientOptions().AddBroker(broker).SetClientID(clientID).
		SetUsername(user).SetPassword(password).SetCleanSession(true).
		SetProtocolVersion(4).SetAutoReconnect(false).SetConnectTimeout(5 * time.Second)
}

// connectDevice connects as an agent would: its id as username and client
// id, a Last Will of Status{Online:false}, subscribed to desired and chunks.
func connectDevice(t *testing.T, broker, id, password string) *device {
	t.Helper()
	d := &device{t: t, id: id, desire: make(chan wire.DesiredState, 16), chunks: make(chan []byte, 2048)}
	will, _ := json.Marshal(wire.Status{Device: id, Online: false})
	opts := dialOpts(broker, id, password, id).SetWill(wire.DeviceTopic(id, wire.KindStatus), string(will), 1, true)
	if deviceTLS != nil {
		opts.SetTLSConfig(deviceTLS)
	}
	d.c = paho.NewClient(opts)
	if tok := d.c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("device %s connect: %v", id, tok.Error())
	}
	t.Cleanup(func() { d.c.Disconnect(100) })
	tok := d.c.SubscribeMultiple(map[string]byte{
		wire.DeviceTopic(id, wire.KindDesired): 1,
		wire.DeviceTopic(id, wire.KindChunks):  1,
	}, func(_ paho.Client, m paho.Message) {
		switch {
		case strings.HasSuffix(m.Topic(), "/"+wire.KindDesired):
			if len(m.Payload()) == 0 {
				return
			}
			var ds wire.DesiredState
			if err := json.Unmarshal(m.Payload(), &ds); err != nil {
				t.Errorf("device %s: bad desired state: %v", id, err)
				return
			}
			offer(d.desire, ds)
		default:
			offer(d.chunks, append([]byte(nil), m.Payload()...))
		}
	})
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("device %s subscribe: %v", id, tok.Error())
	}
	for f, code := range tok.(*paho.SubscribeToken).Result() {
		if code == 0x80 {
			t.Fatalf("device %s: subscription to %s refused", id, f)
		}
	}
	return d
}

// offer hands v to ch without blocking paho's handler, dropping the
// oldest value when ch is full: a handler that blocks stops the client
// reading its socket, and the broker's writes to it then stall.
func offer[T any](ch chan T, v T) {
	for {
		select {
		case ch <- v:
			return
		default:
		}
		select {
		case <-ch:
		default:
		}
	}
}

func (d *device) publish(kind string, retained bool, v any) {
	d.t.Helper()
	var b []byte
	switch v := v.(type) {
	case []byte:
		b = v
	default:
		b, _ = json.Marshal(v)
	}
	tok := d.c.Publish(wire.DeviceTopic(d.id, kind), 1, retained, b)
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		d.t.Fatalf("device %s publish %s: %v", d.id, kind, tok.Error())
	}
}

// nextDesired waits for a desired state with at least generation gen.
func (d *device) nextDesired(gen int64) wire.DesiredState {
	d.t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case ds := <-d.desire:
			if ds.Generation >= gen {
				return ds
			}
		case <-timeout:
			d.t.Fatalf("device %s: no desired state of generation %d", d.id, gen)
		}
	}
}

// noChunk checks that no chunk arrives for a while.
func (d *device) noChunk(what string) {
	d.t.Helper()
	select {
	case c := <-d.chunks:
		d.t.Errorf("%s: got a chunk frame of %d bytes, want none", what, len(c))
	case <-time.After(500 * time.Millisecond):
	}
}

// eventually waits for cond; generously, since a loaded CI machine (load
// 8-12 on 2 cores) took more than 10 s for a status to go from a test
// device through Mosquitto and the reports queue into the store.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// signer makes signed manifests for a module.
type signer struct {
	key ed25519.PrivateKey
	pub ed25519.PublicKey
}

func newSigner(t *testing.T) *signer {
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &signer{key: key, pub: pub}
}

func (s *signer) sign(t *testing.T, name, version string, blob []byte, targets wire.Targets) wire.Envelope {
	t.Helper()
	env, err := wire.Sign(s.manifest(name, version, blob, targets), s.key)
	if err != nil {
		t.Fatal(err)
	}
	return *env
}

// manifest returns a valid manifest of blob, with this signer's key id.
func (s *signer) manifest(name, version string, blob []byte, targets wire.Targets) *wire.Manifest {
	sum := sha256.Sum256(blob)
	now := time.Now().UTC().Truncate(time.Second)
	return &wire.Manifest{
		Schema: wire.ManifestSchema, Name: name, Version: version,
		SHA256: hex.EncodeToString(sum[:]), Size: int64(len(blob)),
		Created: now, Expires: now.Add(24 * time.Hour), Targets: targets, Port: 8081,
		KeyID: wire.KeyID(s.pub),
	}
}

// signRaw signs payload bytes as they are (no validation), so tests can
// send well-signed manifests that are malformed.
func (s *signer) signRaw(payload []byte) wire.Envelope {
	return wire.Envelope{PayloadType: wire.PayloadType, Payload: payload, Signatures: []wire.Signature{
		{KeyID: wire.KeyID(s.pub), Sig: ed25519.Sign(s.key, wire.PAE(wire.PayloadType, payload))}}}
}

// moduleBytes returns n bytes, half random (so the gzip form spans several
// chunks), half compressible.
func moduleBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b[:n/2])
	for i := n / 2; i < n; i++ {
		b[i] = byte(i % 7)
	}
	return b
}

func digest(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// uniqueID returns a topic-safe id unique to this test run.
func uniqueID(prefix string) string {
	var b [4]byte
	rand.Read(b[:])
	return fmt.Sprintf("%s-%d-%x", prefix, os.Getpid(), b)
}

func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func randRead(b []byte) { rand.Read(b) }
