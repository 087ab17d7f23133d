package cli

import (
	"strings"
	"testing"

	"github.com/edgeplane/edge/tests/harness"
)

// TestTLSConfig: the agent's TLS settings, and the bad input tried by
// hand: a CA file for a plain broker, a certificate without its key, a
// CA file that is a key, a missing certificate file.
func TestTLSConfig(t *testing.T) {
	ca := harness.NewCA(t, "test CA")
	cert, key := ca.Issue(t, "pi-1", harness.CertOptions{Client: true})
	for _, tc := range []struct {
		name string
		c    runConfig
		tls  bool   // a TLS configuration is made
		want string // error; "" = valid
	}{
		{"plain broker", runConfig{Broker: "tcp://c:1883"}, false, ""},
		{"ssl broker, system roots", runConfig{Broker: "ssl://c:8883"}, true, ""},
		{"mqtts broker with a CA and a certificate", runConfig{Broker: "mqtts://c:8883", CAFile: ca.File, CertFile: cert, KeyFile: key}, true, ""},
		{"CA file for a plain broker", runConfig{Broker: "tcp://c:1883", CAFile: ca.File}, false, "need a TLS broker URL (ssl://HOST:PORT or mqtts://HOST:PORT), not tcp://"},
		{"certificate without key", runConfig{Broker: "ssl://c:8883", CertFile: cert}, false, "--cert and --key go together"},
		{"CA file that is a key", runConfig{Broker: "ssl://c:8883", CAFile: key}, false, "no PEM certificate"},
		{"missing certificate", runConfig{Broker: "ssl://c:8883", CertFile: "/nonexistent.crt", KeyFile: key}, false, "/nonexistent.crt"},
	} {
		cfg, err := tc.c.tlsConfig()
		switch {
		case tc.want == "" && (err != nil || (cfg != nil) != tc.tls):
			t.Errorf("%s: %v, config %v; want valid, TLS %v", tc.name, err, cfg != nil, tc.tls)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}
