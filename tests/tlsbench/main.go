// Command tlsbench measures what TLS costs the embedded broker (`make
// tlsbench`): connections per second and CPU per connection (TCP or TLS
// handshake, MQTT CONNECT, authentication, CONNACK, close), and heap per
// idle connection, for plain MQTT, MQTTS with a password and MQTTS with a
// client certificate (ECDSA P-256 keys, TLS 1.3). Clients and broker run
// in this one process, so CPU and heap figures include the clients' side
// (about half of the handshake work). The point is the reconnect storm
// after a controller restart: every device connects at once.
package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"runtime"
	"syscall"
	"time"

	"github.com/edgeplane/edge/control/auth"
	"github.com/edgeplane/edge/control/broker"
)

// creds registers every device with one password.
type creds struct{ hash []byte }

func (c creds) CredentialHash(context.Context, string) ([]byte, error) { return c.hash, nil }

const password = "bench-password"

func main() {
	n := flag.Int("n", 500, "connections made one after another per mode")
	idle := flag.Int("idle", 1000, "connections held open per mode for the heap figure")
	flag.Parse()
	ca, caKey := newCert(nil, nil, "bench CA", true, false)
	srv, srvKey := newCert(ca, caKey, "broker", false, false)
	serverCert := tls.Certificate{Certificate: [][]byte{srv.Raw}, PrivateKey: srvKey}
	pool := x509.NewCertPool()
	pool.AddCert(ca)

	fmt.Printf("%d connects per mode (sequential), %d idle connections; %s/%s, %d CPUs\n", *n, *idle, runtime.GOOS, runtime.GOARCH, runtime.NumCPU())
	fmt.Printf("%-22s %12s %14s %16s\n", "mode", "connects/s", "CPU/connect", "heap/idle conn")
	for _, mode := range []string{"plain", "tls-password", "tls-client-cert"} {
		var cfg *tls.Config
		var client *tls.Config
		if mode != "plain" {
			cfg = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{serverCert}}
			client = &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
		}
		if mode == "tls-client-cert" {
			cfg.ClientCAs, cfg.ClientAuth = pool, tls.RequireAndVerifyClientCert
		}
		b, err := broker.Start(broker.Config{Addr: "127.0.0.1:0", Credentials: creds{auth.HashPassword(password)},
			ControlPassword: "unused", Logger: slog.New(slog.DiscardHandler), TLS: cfg})
		if err != nil {
			fail(err)
		}
		rate, cpu := connects(b.DialAddr(), client, mode == "tls-client-cert", ca, caKey, *n)
		heap := idleHeap(b.DialAddr(), client, mode == "tls-client-cert", ca, caKey, *idle)
		b.Close()
		fmt.Printf("%-22s %12.0f %14s %13.1f KiB\n", mode, rate, cpu.Round(time.Microsecond), heap/1024)
	}
}

// connects makes n connections one after another and returns the rate and
// the process CPU time per connection.
func connects(addr string, client *tls.Config, withCert bool, ca *x509.Certificate, caKey *ecdsa.PrivateKey, n int) (float64, time.Duration) {
	cfgs := clientConfigs(client, withCert, ca, caKey, n)
	cpu0 := cpuTime()
	t0 := time.Now()
	for i := range n {
		c := connect(addr, cfgs[i], fmt.Sprintf("dev-%d", i))
		c.Close()
	}
	wall := time.Since(t0)
	return float64(n) / wall.Seconds(), (cpuTime() - cpu0) / time.Duration(n)
}

// idleHeap holds n connections open and returns the heap they cost each.
func idleHeap(addr string, client *tls.Config, withCert bool, ca *x509.Certificate, caKey *ecdsa.PrivateKey, n int) float64 {
	cfgs := clientConfigs(client, withCert, ca, caKey, n)
	before := heapInUse()
	conns := make([]net.Conn, n)
	for i := range n {
		conns[i] = connect(addr, cfgs[i], fmt.Sprintf("idle-%d", i))
	}
	time.Sleep(500 * time.Millisecond)
	after := heapInUse()
	for _, c := range conns {
		c.Close()
	}
	return float64(after-before) / float64(n)
}

// clientConfigs returns one client configuration per device (with its own
// certificate when withCert), made before the clock starts.
func clientConfigs(client *tls.Config, withCert bool, ca *x509.Certificate, caKey *ecdsa.PrivateKey, n int) []*tls.Config {
	out := make([]*tls.Config, n)
	for i := range out {
		if client == nil {
			continue
		}
		out[i] = client.Clone()
		if withCert {
			c, k := newCert(ca, caKey, fmt.Sprintf("dev-%d", i), false, true)
			out[i].Certificates = []tls.Certificate{{Certificate: [][]byte{c.Raw}, PrivateKey: k, Leaf: c}}
		}
	}
	return out
}

// connect opens a connection, sends CONNECT as device id and reads the
// CONNACK; it exits on any failure.
func connect(addr string, cfg *tls.Config, id string) net.Conn {
	var c net.Conn
	var err error
	d := &net.Dialer{Timeout: 30 * time.Second}
	if cfg == nil {
		c, err = d.Dial("tcp", addr)
	} else {
		c, err = tls.DialWithDialer(d, "tcp", addr, cfg)
	}
	if err != nil {
		fail(err)
	}
	if cfg != nil && len(cfg.Certificates) > 0 {
		id = cfg.Certificates[0].Leaf.Subject.CommonName
	}
	c.SetDeadline(time.Now().Add(30 * time.Second)) // a stuck connect fails, never hangs the run
	defer c.SetDeadline(time.Time{})
	if _, err := c.Write(connectPacket(id, password)); err != nil {
		fail(err)
	}
	ack := make([]byte, 4)
	if _, err := io.ReadFull(c, ack); err != nil || ack[0] != 0x20 || ack[3] != 0 {
		fail(fmt.Errorf("connect %s: CONNACK %x, %v", id, ack, err))
	}
	return c
}

// connectPacket is an MQTT 3.1.1 CONNECT with clean session, user id and
// a password.
func connectPacket(id, pw string) []byte {
	str := func(s string) []byte { return append([]byte{byte(len(s) >> 8), byte(len(s))}, s...) }
	var body []byte
	body = append(body, str("MQTT")...)
	body = append(body, 4, 0xC2, 0, 30) // level 4; username, password, clean session; keep-alive 30 s
	body = append(body, str(id)...)
	body = append(body, str(id)...)
	body = append(body, str(pw)...)
	return append([]byte{0x10, byte(len(body))}, body...)
}

func newCert(parent *x509.Certificate, parentKey *ecdsa.PrivateKey, cn string, isCA, client bool) (*x509.Certificate, *ecdsa.PrivateKey) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		fail(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
	if client {
		tmpl.ExtKeyUsage, tmpl.IPAddresses = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, nil
	}
	if isCA {
		tmpl.IsCA, tmpl.BasicConstraintsValid, tmpl.KeyUsage, tmpl.ExtKeyUsage = true, true, x509.KeyUsageCertSign, nil
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		fail(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		fail(err)
	}
	return c, key
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		fail(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

func fail(err error) {
	if errors.Is(err, io.EOF) {
		err = fmt.Errorf("%w (broker closed the connection)", err)
	}
	fmt.Fprintln(os.Stderr, "tlsbench:", err)
	os.Exit(1)
}
