package server

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/edgeplane/edge/internal/mqttdial"
	"github.com/edgeplane/edge/internal/tlsfiles"
	"github.com/edgeplane/edge/tests/harness"
	"github.com/edgeplane/edge/wire"
)

// httpClient returns a client for s's API: with TLS, one that trusts s's
// own certificate and nothing else.
func httpClient(t *testing.T, s *Server) *http.Client {
	t.Helper()
	if s.tls == nil {
		return http.DefaultClient
	}
	leaf, err := x509.ParseCertificate(s.tls.Certificates[0].Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool}
	return &http.Client{Transport: tr}
}

// tlsServer starts a controller serving TLS with a certificate of ca for
// 127.0.0.1; with clientCA, devices need a certificate of that CA.
func tlsServer(t *testing.T, ca *harness.CA, clientCA *harness.CA) *Server {
	t.Helper()
	cert, key := ca.Issue(t, "controller", harness.CertOptions{})
	return startServer(t, func(c *Config) {
		c.TLS.Cert, c.TLS.Key = cert, key
		if clientCA != nil {
			c.TLS.ClientCA = clientCA.File
		}
	})
}

func clientTLS(t *testing.T, caFile, cert, key string) *tls.Config {
	t.Helper()
	cfg, err := tlsfiles.Client(caFile, cert, key)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestTLSConfig: what edge-control refuses at start, and what it accepts.
// Each case is bad input tried by hand first.
func TestTLSConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string // "" = valid
	}{
		{"defaults: loopback without TLS", nil, ""},
		{"http on all interfaces without TLS", []string{"--http", "0.0.0.0:7080"}, "--http 0.0.0.0:7080 is not a loopback address: serve TLS (--tls-cert, --tls-key) or give --insecure"},
		{"http with an empty host", []string{"--http", ":7080"}, "--http :7080 is not a loopback address"},
		{"mqtt on a LAN address without TLS", []string{"--mqtt", "192.168.1.10:1883"}, "--mqtt 192.168.1.10:1883 is not a loopback address: serve MQTTS"},
		{"mqtt on ::", []string{"--mqtt", "[::]:1883"}, "not a loopback address"},
		{"--insecure allows both", []string{"--http", "0.0.0.0:7080", "--mqtt", "0.0.0.0:1883", "--insecure"}, ""},
		{"localhost and ::1 are loopback", []string{"--http", "localhost:7080", "--mqtt", "[::1]:1883"}, ""},
		{"TLS allows any address", []string{"--http", "0.0.0.0:7080", "--mqtt", "0.0.0.0:8883", "--tls-cert", "c", "--tls-key", "k"}, ""},
		{"cert without key", []string{"--tls-cert", "c"}, "--tls-cert and --tls-key go together"},
		{"client CA without TLS", []string{"--client-ca", "ca"}, "--client-ca needs --tls-cert and --tls-key"},
		{"client CA with an external broker", []string{"--tls-cert", "c", "--tls-key", "k", "--client-ca", "ca", "--broker", "ssl://b:8883"}, "--client-ca applies to the embedded broker only"},
		{"external broker on another host is not a listener", []string{"--broker", "tcp://mosquitto:1883"}, ""},
		{"external mqtts broker", []string{"--broker", "mqtts://b:8883", "--broker-ca", "ca"}, ""},
		{"broker CA with a plain broker", []string{"--broker", "tcp://b:1883", "--broker-ca", "ca"}, "--broker-ca, --broker-cert and --broker-key need an external broker URL with TLS"},
		{"broker CA without a broker", []string{"--broker-ca", "ca"}, "need an external broker URL with TLS"},
		{"broker cert without key", []string{"--broker", "ssl://b:8883", "--broker-cert", "c"}, "--broker-cert and --broker-key go together"},
	} {
		cfg := DefaultConfig()
		cfg.DataDir = "/tmp/unused"
		if err := ParseFlags(&cfg, tc.args, io.Discard); err != nil {
			t.Fatalf("%s: parse: %v", tc.name, err)
		}
		err := cfg.Validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v, want valid", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrConfig)):
			t.Errorf("%s: %v, want an ErrConfig with %q", tc.name, err, tc.want)
		}
	}
}

// TestTLSFilesRefused: files that cannot serve are refused at start with
// the file named: a missing key, a CA file without a certificate, a key
// that is not the certificate's.
func TestTLSFilesRefused(t *testing.T) {
	ca := harness.NewCA(t, "test CA")
	cert, key := ca.Issue(t, "controller", harness.CertOptions{})
	_, otherKey := ca.Issue(t, "other", harness.CertOptions{})
	for _, tc := range []struct {
		name           string
		cert, key, cca string
		want           string
	}{
		{"missing key file", cert, "/nonexistent/key.pem", "", "/nonexistent/key.pem"},
		{"key of another certificate", cert, otherKey, "", "private key does not match public key"},
		{"client CA file without a certificate", cert, key, key, tlsfiles.ErrNoCertificate.Error()},
	} {
		cfg := DefaultConfig()
		cfg.DataDir, cfg.HTTPAddr, cfg.MQTTAddr = t.TempDir(), "127.0.0.1:0", "127.0.0.1:0"
		cfg.TLS.Cert, cfg.TLS.Key, cfg.TLS.ClientCA = tc.cert, tc.key, tc.cca
		s, err := Start(t.Context(), cfg, testLogger(t))
		if err == nil {
			s.Close()
			t.Errorf("%s: started", tc.name)
			continue
		}
		if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want ErrConfig naming %q", tc.name, err, tc.want)
		}
	}
}

// TestHTTPS: the API is served over HTTPS only; a plain request is
// answered 400 by the TLS listener, a client without the CA refuses the
// certificate.
func TestHTTPS(t *testing.T) {
	ca := harness.NewCA(t, "test CA")
	s := tlsServer(t, ca, nil)
	if !strings.HasPrefix(s.URL(), "https://") || !strings.HasPrefix(s.BrokerURL(), "ssl://") {
		t.Fatalf("URL %s, broker %s: want https:// and ssl://", s.URL(), s.BrokerURL())
	}
	register(t, s, "pi-1") // through httpClient: trusts the certificate
	resp, err := http.Get("http://" + s.HTTPAddr() + "/api/v1/devices")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("plain HTTP to the HTTPS port: %d, want 400", resp.StatusCode)
	}
	_, err = http.Get(s.URL() + "/api/v1/devices")
	var unknown x509.UnknownAuthorityError
	if !errors.As(err, &unknown) {
		t.Errorf("HTTPS without the CA: %v, want an unknown authority error", err)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = clientTLS(t, ca.File, "", "")
	req, _ := http.NewRequest("GET", s.URL()+"/api/v1/devices", nil)
	req.Header.Set("Authorization", "Bearer "+adminToken(t, s))
	resp, err = (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatalf("HTTPS with the CA: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("HTTPS with the CA: %d", resp.StatusCode)
	}
}

// TestBrokerTLSPassword: devices reach the embedded broker over MQTTS
// with their password; a client that does not trust the CA, a plain MQTT
// client on the TLS port and the controller's user over the network are
// refused; the controller still delivers desired states (through its own
// loopback listener).
func TestBrokerTLSPassword(t *testing.T) {
	ca := harness.NewCA(t, "test CA")
	wrongCA := harness.NewCA(t, "another CA")
	s := tlsServer(t, ca, nil)
	broker := s.BrokerURL()
	pw := register(t, s, "pi-1")

	ok := dialOpts(broker, "pi-1", pw, "pi-1").SetTLSConfig(clientTLS(t, ca.File, "", ""))
	c, err := tryConnect(broker, ok)
	if err != nil {
		t.Fatalf("MQTTS with the password: %v", err)
	}
	c.Disconnect(50)

	for _, tc := range []struct {
		name   string
		broker string
		opts   *paho.ClientOptions
		kind   string
	}{
		{"wrong password", broker, dialOpts(broker, "pi-1", pw+"x", "pi-1").SetTLSConfig(clientTLS(t, ca.File, "", "")), mqttdial.KindBadCredentials},
		{"CA not trusted", broker, dialOpts(broker, "pi-1", pw, "pi-1").SetTLSConfig(clientTLS(t, wrongCA.File, "", "")), mqttdial.KindTLS},
		{"system roots only", broker, dialOpts(broker, "pi-1", pw, "pi-1"), mqttdial.KindTLS},
		{"plain MQTT on the TLS port", "tcp://" + s.MQTTAddr(), dialOpts("tcp://"+s.MQTTAddr(), "pi-1", pw, "pi-1"), ""},
		{"controller's user over TLS", broker, dialOpts(broker, "_edge-control", pw, "_edge-control").SetTLSConfig(clientTLS(t, ca.File, "", "")), mqttdial.KindBadCredentials},
	} {
		c, err := tryConnect(tc.broker, tc.opts)
		if err == nil {
			c.Disconnect(50)
			t.Errorf("%s: connected", tc.name)
			continue
		}
		f := mqttdial.Explain(err)
		if tc.kind == mqttdial.KindBadCredentials && f.Kind == mqttdial.KindNotAuthorized {
			continue // mochi answers MQTT 3.1.1's "not authorized" (5) for both
		}
		if tc.kind != "" && f.Kind != tc.kind {
			t.Errorf("%s: %v (%s), want %s", tc.name, err, f.Kind, tc.kind)
		}
	}
	// A device cannot use the controller's plain listener either.
	ctl := "tcp://" + s.broker.ControlAddr()
	if c, err := tryConnect(ctl, dialOpts(ctl, "pi-1", pw, "pi-1")); err == nil {
		c.Disconnect(50)
		t.Error("a device connected through the controller's plain loopback listener")
	}

	// The controller's path works through TLS end to end: a deployment
	// reaches the device.
	sg := newSigner(t)
	d := connectTLSDevice(t, broker, "pi-1", pw, clientTLS(t, ca.File, "", ""))
	deliver(t, s, sg, d)
}

// TestBrokerClientCert: with --client-ca a device is identified by its
// certificate's CommonName. Bad input tried: another device's certificate,
// no certificate, a certificate of another CA, an expired one, one for a
// device never registered (or removed), a wrong password next to a good
// certificate.
func TestBrokerClientCert(t *testing.T) {
	ca := harness.NewCA(t, "server CA")
	devCA := harness.NewCA(t, "device CA")
	otherCA := harness.NewCA(t, "not the device CA")
	s := tlsServer(t, ca, devCA)
	broker := s.BrokerURL()
	pw := register(t, s, "pi-1")
	register(t, s, "pi-2")
	certA, keyA := devCA.Issue(t, "pi-1", harness.CertOptions{Client: true})
	certB, keyB := devCA.Issue(t, "pi-2", harness.CertOptions{Client: true})
	certX, keyX := otherCA.Issue(t, "pi-1", harness.CertOptions{Client: true})
	certOld, keyOld := devCA.Issue(t, "pi-1", harness.CertOptions{Client: true, NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour)})
	certU, keyU := devCA.Issue(t, "pi-9", harness.CertOptions{Client: true})
	withCert := func(cert, key string) *tls.Config { return clientTLS(t, ca.File, cert, key) }

	for _, tc := range []struct {
		name string
		opts *paho.ClientOptions
		ok   bool
	}{
		{"own certificate, no password", dialOpts(broker, "pi-1", "", "pi-1").SetTLSConfig(withCert(certA, keyA)), true},
		{"own certificate, no username", dialOpts(broker, "", "", "pi-1").SetTLSConfig(withCert(certA, keyA)), true},
		{"own certificate and password", dialOpts(broker, "pi-1", pw, "pi-1").SetTLSConfig(withCert(certA, keyA)), true},
		{"own certificate, wrong password", dialOpts(broker, "pi-1", pw+"x", "pi-1").SetTLSConfig(withCert(certA, keyA)), false},
		{"another device's certificate", dialOpts(broker, "pi-1", "", "pi-1").SetTLSConfig(withCert(certB, keyB)), false},
		{"password but no certificate", dialOpts(broker, "pi-1", pw, "pi-1").SetTLSConfig(withCert("", "")), false},
		{"certificate of another CA", dialOpts(broker, "pi-1", "", "pi-1").SetTLSConfig(withCert(certX, keyX)), false},
		{"expired certificate", dialOpts(broker, "pi-1", "", "pi-1").SetTLSConfig(withCert(certOld, keyOld)), false},
		{"device never registered", dialOpts(broker, "pi-9", "", "pi-9").SetTLSConfig(withCert(certU, keyU)), false},
	} {
		c, err := tryConnect(broker, tc.opts)
		if (err == nil) != tc.ok {
			t.Errorf("%s: connect error %v, want ok=%v", tc.name, err, tc.ok)
		}
		if err == nil {
			c.Disconnect(50)
		}
	}

	// The ACL binds the certificate's identity as it binds a username.
	d := connectTLSDevice(t, broker, "pi-2", "", withCert(certB, keyB))
	tok := d.c.Subscribe(wire.DeviceTopic("pi-1", wire.KindDesired), 1, nil)
	tok.WaitTimeout(5 * time.Second)
	if res := tok.(*paho.SubscribeToken).Result(); res[wire.DeviceTopic("pi-1", wire.KindDesired)] != 0x80 {
		t.Errorf("pi-2 subscribing to pi-1's desired state: %v, want refused", res)
	}
	sg := newSigner(t)
	deliver(t, s, sg, d)

	// Removing the device revokes its certificate at once.
	wantCode(t, "remove pi-2", call(t, s, "DELETE", "/api/v1/devices/pi-2", nil, nil), 200)
	if c, err := tryConnect(broker, dialOpts(broker, "pi-2", "", "pi-2").SetTLSConfig(withCert(certB, keyB))); err == nil {
		c.Disconnect(50)
		t.Error("removed device connected with its certificate")
	}
}

// connectTLSDevice connects like connectDevice, over TLS.
func connectTLSDevice(t *testing.T, broker, id, password string, cfg *tls.Config) *device {
	t.Helper()
	old := deviceTLS
	deviceTLS = cfg
	defer func() { deviceTLS = old }()
	return connectDevice(t, broker, id, password)
}

// deliver deploys a small module to d and waits for its desired state.
func deliver(t *testing.T, s *Server, sg *signer, d *device) {
	t.Helper()
	deployTo(t, s, sg, "1.0.0", moduleBytes(1000), d.id)
	if ds := d.nextDesired(1); len(ds.Modules) != 1 {
		t.Fatalf("desired state over TLS: %+v", ds)
	}
}
