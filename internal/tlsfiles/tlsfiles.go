// Package tlsfiles loads the PEM files of the product's TLS settings into
// crypto/tls configurations, the same way for the three programs:
// edge-control (--tls-cert/--tls-key, --client-ca, --broker-ca),
// edge-agent (--ca-file, --cert/--key) and edgectl (--ca-file).
//
// Standard library only, with internal/secretfile for private keys (rule
// in tests/deps): edgectl links it, and TLS is the standard library's own
// field. Every error names the file and what was wrong with it, since an
// operator reads it at start-up.
//
// Minimum version TLS 1.2 everywhere (Mosquitto 2 and every paho build
// speak it; 1.3 is negotiated where both ends have it). Client
// certificates identify a device by their Subject CommonName (Identity),
// as Mosquitto's use_identity_as_username does, so one set of device
// certificates works with the embedded broker and with Mosquitto.
package tlsfiles

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/edgeplane/edge/internal/secretfile"
)

// ErrNoCertificate is wrapped when a CA file holds no PEM certificate.
var ErrNoCertificate = errors.New("no PEM certificate")

// LoadPool reads every PEM certificate of file into a new pool.
func LoadPool(file string) (*x509.CertPool, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("CA file: %w", err)
	}
	pool := x509.NewCertPool()
	n := 0
	for rest := b; ; {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("CA file %s: certificate %d: %w", file, n+1, err)
		}
		pool.AddCert(c)
		n++
	}
	if n == 0 {
		return nil, fmt.Errorf("CA file %s: %w", file, ErrNoCertificate)
	}
	return pool, nil
}

// LoadKeyPair reads a certificate chain and its private key (PEM), and
// checks that they belong together. The key file is a secret file
// (internal/secretfile): one other users may read is refused.
func LoadKeyPair(certFile, keyFile string) (tls.Certificate, error) {
	if certFile == "" || keyFile == "" {
		return tls.Certificate{}, errors.New("a certificate needs both its file and its key file")
	}
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("certificate: %w", err)
	}
	keyPEM, err := secretfile.Read(keyFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("certificate %s: key: %w", certFile, err)
	}
	c, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return c, fmt.Errorf("certificate %s with key %s: %w", certFile, keyFile, err)
	}
	return c, nil
}

// Server returns the configuration of a TLS listener serving certFile/
// keyFile. With clientCA it requires every client to present a
// certificate signed by a CA of that file.
func Server(certFile, keyFile, clientCA string) (*tls.Config, error) {
	c, err := LoadKeyPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{c}}
	if clientCA != "" {
		pool, err := LoadPool(clientCA)
		if err != nil {
			return nil, err
		}
		cfg.ClientCAs, cfg.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

// Client returns the configuration of a TLS client: servers are verified
// against caFile (the system's roots when ""), and with certFile/keyFile
// the client presents that certificate.
func Client(caFile, certFile, keyFile string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pool, err := LoadPool(caFile)
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = pool
	}
	if certFile != "" || keyFile != "" {
		c, err := LoadKeyPair(certFile, keyFile)
		if err != nil {
			return nil, err
		}
		cfg.Certificates = []tls.Certificate{c}
	}
	return cfg, nil
}

// Identity is the device id a client certificate names: its Subject
// CommonName.
func Identity(c *x509.Certificate) string { return c.Subject.CommonName }

// Loopback reports whether a listen address (host:port) binds loopback
// only: 127.0.0.0/8, ::1 or "localhost". An empty host, 0.0.0.0 and ::
// bind every interface.
func Loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Secure reports whether URL scheme s is one of TLS: ssl, tls, mqtts,
// mqtt+ssl, tcps, wss (the schemes internal/mqttdial dials with TLS), or
// https.
func Secure(scheme string) bool {
	switch scheme {
	case "ssl", "tls", "mqtts", "mqtt+ssl", "tcps", "wss", "https":
		return true
	}
	return false
}

// Explain adds what to do to a certificate verification failure seen by a
// client; other errors are returned as they are. flag names the client's
// CA option (--ca-file).
func Explain(err error, flag string) error {
	var unknown x509.UnknownAuthorityError
	var invalid x509.CertificateInvalidError
	var host x509.HostnameError
	switch {
	case errors.As(err, &unknown):
		return fmt.Errorf("%w (the server's certificate is not signed by a CA this client trusts: give its CA with %s)", err, flag)
	case errors.As(err, &invalid) && invalid.Reason == x509.Expired:
		return fmt.Errorf("%w (the server's certificate has expired or is not valid yet: renew it, or check this machine's clock)", err)
	case errors.As(err, &host):
		return fmt.Errorf("%w (connect with a host name the certificate names)", err)
	}
	return err
}
