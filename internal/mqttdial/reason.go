package mqttdial

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/url"
	"strings"
	"syscall"

	"github.com/eclipse/paho.mqtt.golang/packets"
)

// Kinds of connection failure.
const (
	KindRefused        = "connection refused"
	KindBadCredentials = "bad username or password"
	KindNotAuthorized  = "not authorized"
	KindClientID       = "client id rejected"
	KindUnavailable    = "broker unavailable"
	KindProtocol       = "protocol version refused"
	KindDNS            = "DNS lookup failed"
	KindTLS            = "TLS handshake failed"
	KindTimeout        = "timed out"
	KindClosed         = "connection closed by the broker"
	KindUnreachable    = "network unreachable"
	KindOther          = "connection failed"
)

// Failure is a failed connection attempt, explained.
type Failure struct {
	Kind string // one of the Kind constants
	Err  error  // paho's error
	Hint string // a likely cause the kind does not tell (ExplainAt), or ""
}

func (f *Failure) Error() string {
	s := f.Kind
	if f.Err != nil {
		s += ": " + f.Err.Error()
	}
	if f.Hint != "" {
		s += " (" + f.Hint + ")"
	}
	return s
}

func (f *Failure) Unwrap() error { return f.Err }

// Permanent reports whether retrying the same credentials cannot help: the
// broker refused who the client is, not whether it could be reached.
func (f *Failure) Permanent() bool {
	switch f.Kind {
	case KindBadCredentials, KindNotAuthorized, KindClientID, KindProtocol:
		return true
	}
	return false
}

// Explain classifies err, an error paho reported for a connection attempt
// (a token's error, ConnectionNotificationFailed.Reason or a lost
// connection's reason).
func Explain(err error) *Failure {
	if err == nil {
		return nil
	}
	if f, ok := errors.AsType[*Failure](err); ok {
		return f
	}
	kind := KindOther
	var dnsErr *net.DNSError
	var netErr net.Error
	switch {
	case errors.Is(err, packets.ErrorRefusedBadUsernameOrPassword):
		kind = KindBadCredentials
	case errors.Is(err, packets.ErrorRefusedNotAuthorised):
		kind = KindNotAuthorized
	case errors.Is(err, packets.ErrorRefusedIDRejected):
		kind = KindClientID
	case errors.Is(err, packets.ErrorRefusedServerUnavailable):
		kind = KindUnavailable
	case errors.Is(err, packets.ErrorRefusedBadProtocolVersion):
		kind = KindProtocol
	case errors.Is(err, syscall.ECONNREFUSED):
		kind = KindRefused
	case errors.As(err, &dnsErr):
		kind = KindDNS
	case isTLS(err):
		kind = KindTLS
	case errors.Is(err, syscall.ENETUNREACH), errors.Is(err, syscall.EHOSTUNREACH):
		kind = KindUnreachable
	case errors.As(err, &netErr) && netErr.Timeout():
		kind = KindTimeout
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		kind = KindClosed
	}
	return &Failure{Kind: kind, Err: cause(err)}
}

// ExplainAt is Explain for an attempt to connect to broker (the URL
// dialled). A port that speaks the other protocol shows only as a closed
// connection: a TLS port closes on the plain CONNECT ("EOF"), a plain
// broker resets the TLS handshake, or answers it in plaintext. For those
// the Failure carries a hint to try the other scheme. Use it for connect
// attempts only: a connection that was up and is lost spoke the protocol.
func ExplainAt(err error, broker string) *Failure {
	f := Explain(err)
	if f == nil || f.Hint != "" {
		return f
	}
	u, perr := url.Parse(broker)
	other, known := otherScheme[strings.ToLower(u.Scheme)]
	if perr != nil || !known || u.Host == "" {
		return f
	}
	var record tls.RecordHeaderError
	switch {
	case !tlsScheme(u.Scheme) && f.Kind == KindClosed:
		f = &Failure{Kind: f.Kind, Err: f.Err, Hint: "the port may speak TLS (MQTTS): try " + other + "://" + u.Host}
	case tlsScheme(u.Scheme) && (f.Kind == KindClosed || errors.As(f.Err, &record)):
		f = &Failure{Kind: f.Kind, Err: f.Err, Hint: "the port may not speak TLS: try " + other + "://" + u.Host}
	}
	return f
}

// otherScheme maps each scheme Opener dials to its counterpart with (or
// without) TLS.
var otherScheme = map[string]string{
	"tcp": "ssl", "mqtt": "mqtts", "ws": "wss",
	"ssl": "tcp", "tls": "tcp", "mqtts": "mqtt", "mqtt+ssl": "mqtt", "tcps": "tcp", "wss": "ws",
}

func tlsScheme(scheme string) bool {
	switch strings.ToLower(scheme) {
	case "ssl", "tls", "mqtts", "mqtt+ssl", "tcps", "wss":
		return true
	}
	return false
}

// cause drops paho's "network Error : " wrapper, which says nothing the
// kind does not.
func cause(err error) error {
	if m, ok := err.(interface{ Unwrap() []error }); ok {
		if errs := m.Unwrap(); len(errs) == 2 && errors.Is(errs[0], packets.ErrorNetworkError) {
			return errs[1]
		}
	}
	return err
}

func isTLS(err error) bool {
	var (
		unknownCA   x509.UnknownAuthorityError
		hostname    x509.HostnameError
		invalid     x509.CertificateInvalidError
		record      tls.RecordHeaderError
		alert       tls.AlertError
		verifyError *tls.CertificateVerificationError
	)
	return errors.As(err, &unknownCA) || errors.As(err, &hostname) || errors.As(err, &invalid) ||
		errors.As(err, &record) || errors.As(err, &alert) || errors.As(err, &verifyError)
}
