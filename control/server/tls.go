package server

import (
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"net/url"

	"github.com/edgeplane/edge/internal/tlsfiles"
)

// TLSOptions are edge-control's TLS settings (RATIONALE.md, "TLS").
//
// With Cert and Key the HTTP API and dashboard are served over HTTPS on
// --http, and the embedded broker over MQTTS on --mqtt (devices use
// ssl://HOST:PORT). With ClientCA as well, the embedded broker requires
// every device to present a certificate of that CA naming its device id
// (CommonName). BrokerCA, BrokerCert and BrokerKey are the controller's
// own TLS settings towards an external broker (--broker ssl://...).
//
// A listener on an address other than loopback is refused without TLS
// unless Insecure is set.
type TLSOptions struct {
	Cert, Key string
	ClientCA  string
	Insecure  bool

	BrokerCA, BrokerCert, BrokerKey string
}

func registerTLSFlags(fs *flag.FlagSet, o *TLSOptions) {
	fs.StringVar(&o.Cert, "tls-cert", o.Cert, "certificate `file` (PEM, chain first to last): serve the HTTP API over HTTPS and the embedded broker over MQTTS")
	fs.StringVar(&o.Key, "tls-key", o.Key, "private key `file` (PEM) of --tls-cert")
	fs.StringVar(&o.ClientCA, "client-ca", o.ClientCA,
		"embedded broker: require a device certificate signed by a CA of this `file` (PEM), whose CommonName is the device id (needs --tls-cert)")
	fs.BoolVar(&o.Insecure, "insecure", o.Insecure, "allow --http or --mqtt on a non-loopback address without TLS (plain text passwords and API calls)")
	fs.StringVar(&o.BrokerCA, "broker-ca", o.BrokerCA, "external broker (ssl://): CA `file` (PEM) its certificate is verified with (default: the system's)")
	fs.StringVar(&o.BrokerCert, "broker-cert", o.BrokerCert, "external broker (ssl://): client certificate `file` (PEM) of the controller")
	fs.StringVar(&o.BrokerKey, "broker-key", o.BrokerKey, "external broker (ssl://): private key `file` of --broker-cert")
}

// validate checks the TLS settings against the rest of c (flag names in
// the messages, as the operator typed them).
func (o *TLSOptions) validate(c *Config) []error {
	var errs []error
	if (o.Cert == "") != (o.Key == "") {
		errs = append(errs, errors.New("--tls-cert and --tls-key go together"))
	}
	if o.ClientCA != "" && o.Cert == "" {
		errs = append(errs, errors.New("--client-ca needs --tls-cert and --tls-key: client certificates are checked in the TLS handshake"))
	}
	if o.ClientCA != "" && c.Broker != "" {
		errs = append(errs, errors.New("--client-ca applies to the embedded broker only; configure the external broker's own (Mosquitto: require_certificate, use_identity_as_username; see deploy/mosquitto/edge-tls.conf)"))
	}
	if o.Cert == "" && !o.Insecure {
		if !tlsfiles.Loopback(c.HTTPAddr) {
			errs = append(errs, fmt.Errorf("--http %s is not a loopback address: serve TLS (--tls-cert, --tls-key) or give --insecure to serve plain HTTP anyway", c.HTTPAddr))
		}
		if c.Broker == "" && !tlsfiles.Loopback(c.MQTTAddr) {
			errs = append(errs, fmt.Errorf("--mqtt %s is not a loopback address: serve MQTTS (--tls-cert, --tls-key) or give --insecure to serve plain MQTT anyway", c.MQTTAddr))
		}
	}
	if o.BrokerCA != "" || o.BrokerCert != "" || o.BrokerKey != "" {
		u, err := url.Parse(c.Broker)
		if c.Broker == "" || err != nil || !tlsfiles.Secure(u.Scheme) {
			errs = append(errs, errors.New("--broker-ca, --broker-cert and --broker-key need an external broker URL with TLS (--broker ssl://HOST:PORT)"))
		}
		if (o.BrokerCert == "") != (o.BrokerKey == "") {
			errs = append(errs, errors.New("--broker-cert and --broker-key go together"))
		}
	}
	return errs
}

// tlsConfigs loads the files: the server configuration (nil without
// --tls-cert) and the client configuration towards an external broker
// (nil unless its URL is a TLS one).
func (o *TLSOptions) load(c *Config) (server, broker *tls.Config, err error) {
	if o.Cert != "" {
		if server, err = tlsfiles.Server(o.Cert, o.Key, o.ClientCA); err != nil {
			return nil, nil, fmt.Errorf("%w: --tls-cert/--client-ca: %w", ErrConfig, err)
		}
	}
	if u, perr := url.Parse(c.Broker); c.Broker != "" && perr == nil && tlsfiles.Secure(u.Scheme) {
		if broker, err = tlsfiles.Client(o.BrokerCA, o.BrokerCert, o.BrokerKey); err != nil {
			return nil, nil, fmt.Errorf("%w: --broker-ca/--broker-cert: %w", ErrConfig, err)
		}
	}
	return server, broker, nil
}
