package edgectl

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/edgeplane/edge/internal/tlsfiles"
)

// useCA makes the client verify the controller's certificate against the
// CA certificates of file (--ca-file or EDGE_CA_FILE); "" keeps the
// system's roots. A CA file given for a plain http:// controller is a
// mistake worth saying: the operator believes the link is protected.
func (c *client) useCA(file string) error {
	if file == "" {
		return nil
	}
	if !strings.HasPrefix(c.base, "https://") {
		return fmt.Errorf("--ca-file (or EDGE_CA_FILE) given for %s: the controller address must be https:// to use it", c.base)
	}
	cfg, err := tlsfiles.Client(file, "", "")
	if err != nil {
		return err
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = cfg
	c.hc = &http.Client{Transport: t}
	return nil
}

// tlsError explains a failed TLS handshake with the controller, or returns
// nil when err is not one.
func (c *client) tlsError(err error) error {
	explained := tlsfiles.Explain(err, "--ca-file or EDGE_CA_FILE")
	if explained == err {
		if errors.Is(err, http.ErrSchemeMismatch) {
			return fmt.Errorf("controller at %s answers plain HTTP: use http:// in --control (or serve TLS with edge-control --tls-cert)", c.base)
		}
		return nil
	}
	return fmt.Errorf("cannot talk to the controller at %s: %w", c.base, explained)
}

// plainToTLS adds what to do to Go's answer to plain HTTP on an HTTPS
// port.
func plainToTLS(msg string) string {
	if strings.Contains(msg, "HTTP request to an HTTPS server") {
		return msg + " (the controller serves HTTPS: use https:// in --control or EDGE_CONTROL)"
	}
	return msg
}
