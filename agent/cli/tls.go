package cli

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/url"

	"github.com/edgeplane/edge/internal/tlsfiles"
)

// tlsConfig checks the TLS settings against the broker URL and loads their
// files: nil for a plain broker. The files are read once, at start: a
// renewed certificate takes a restart (systemctl restart edge-agent).
func (c *runConfig) tlsConfig() (*tls.Config, error) {
	u, err := url.Parse(c.Broker)
	if err != nil {
		return nil, fmt.Errorf("--broker %q: %w", c.Broker, err)
	}
	if (c.CertFile == "") != (c.KeyFile == "") {
		return nil, errors.New("--cert and --key go together")
	}
	if !tlsfiles.Secure(u.Scheme) {
		if c.CAFile != "" || c.CertFile != "" {
			return nil, fmt.Errorf("--ca-file, --cert and --key need a TLS broker URL (ssl://HOST:PORT or mqtts://HOST:PORT), not %s://", u.Scheme)
		}
		return nil, nil
	}
	cfg, err := tlsfiles.Client(c.CAFile, c.CertFile, c.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("--ca-file/--cert: %w", err)
	}
	return cfg, nil
}
