package mqttdial

import (
	"bufio"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// ErrTooLarge is returned by Read for a packet over the limit that cannot be
// trimmed (not a PUBLISH); ErrMalformed for a stream that is not MQTT.
var (
	ErrTooLarge  = errors.New("mqtt packet over the limit")
	ErrMalformed = errors.New("malformed mqtt packet")
)

// Dropped describes a PUBLISH whose payload was discarded.
type Dropped struct {
	Topic string
	Size  int // the packet's declared size in bytes
	Limit int
}

const typePublish = 3

// conn is a net.Conn whose reads never yield a packet over max bytes.
type conn struct {
	net.Conn
	r       *bufio.Reader
	max     int
	onDrop  func(Dropped)
	pending []byte // bytes to hand out before reading more
	body    int    // bytes of the current packet still to pass through
	err     error  // sticky: paho drops a connection on any read error
}

// NewConn wraps c so that no packet over max bytes is read from it.
// onDrop (may be nil) is called for each trimmed PUBLISH.
func NewConn(c net.Conn, max int, onDrop func(Dropped)) net.Conn {
	if onDrop == nil {
		onDrop = func(Dropped) {}
	}
	return &conn{Conn: c, r: bufio.NewReader(c), max: max, onDrop: onDrop}
}

func (c *conn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for len(c.pending) == 0 && c.body == 0 {
		if c.err != nil {
			return 0, c.err
		}
		if err := c.next(); err != nil {
			c.err = err
			return 0, err
		}
	}
	if len(c.pending) > 0 {
		n := copy(p, c.pending)
		c.pending = c.pending[n:]
		return n, nil
	}
	if len(p) > c.body {
		p = p[:c.body]
	}
	n, err := c.r.Read(p)
	c.body -= n
	if err != nil {
		c.err = err
	}
	return n, err
}

// next reads the fixed header of the next packet and decides what the
// reader sees of it.
func (c *conn) next() error {
	hdr, rest, err := readFixedHeader(c.r)
	if err != nil {
		return err
	}
	if len(hdr)+rest <= c.max {
		c.pending, c.body = hdr, rest
		return nil
	}
	if hdr[0]>>4 != typePublish {
		return fmt.Errorf("%w: type %d packet of %d bytes, limit %d", ErrTooLarge, hdr[0]>>4, len(hdr)+rest, c.max)
	}
	vh, err := readPublishHeader(c.r, hdr[0], rest)
	if err != nil {
		return err
	}
	if _, err := c.r.Discard(rest - len(vh)); err != nil {
		return err
	}
	c.onDrop(Dropped{Topic: string(vh[2 : len(vh)-packetIDLen(hdr[0])]), Size: len(hdr) + rest, Limit: c.max})
	c.pending = append(appendFixedHeader(nil, hdr[0], len(vh)), vh...)
	return nil
}

// readFixedHeader reads the first byte and the remaining-length varint.
func readFixedHeader(r *bufio.Reader) (hdr []byte, rest int, err error) {
	b0, err := r.ReadByte()
	if err != nil {
		return nil, 0, err
	}
	hdr = []byte{b0}
	mult := 1
	for i := 0; ; i++ {
		if i == 4 {
			return nil, 0, fmt.Errorf("%w: remaining length over 4 bytes", ErrMalformed)
		}
		b, err := r.ReadByte()
		if err != nil {
			return nil, 0, err
		}
		hdr = append(hdr, b)
		rest += int(b&127) * mult
		if b&128 == 0 {
			return hdr, rest, nil
		}
		mult *= 128
	}
}

func packetIDLen(b0 byte) int {
	if (b0>>1)&3 > 0 {
		return 2
	}
	return 0
}

// readPublishHeader reads a PUBLISH's variable header: topic length, topic
// and (QoS > 0) packet id.
func readPublishHeader(r *bufio.Reader, b0 byte, rest int) ([]byte, error) {
	var l [2]byte
	if _, err := io.ReadFull(r, l[:]); err != nil {
		return nil, err
	}
	n := 2 + int(binary.BigEndian.Uint16(l[:])) + packetIDLen(b0)
	if n > rest {
		return nil, fmt.Errorf("%w: publish header of %d bytes in a %d-byte packet", ErrMalformed, n, rest)
	}
	vh := make([]byte, n)
	copy(vh, l[:])
	if _, err := io.ReadFull(r, vh[2:]); err != nil {
		return nil, err
	}
	return vh, nil
}

func appendFixedHeader(b []byte, b0 byte, rest int) []byte {
	b = append(b, b0)
	for {
		d := byte(rest % 128)
		rest /= 128
		if rest > 0 {
			d |= 128
		}
		b = append(b, d)
		if rest == 0 {
			return b
		}
	}
}

// Opener returns a paho connection function (ClientOptions.
// SetCustomOpenConnectionFn) that dials the broker as paho does for tcp,
// mqtt, ssl/tls/mqtts, ws/wss and unix URLs (no SOCKS proxy) and bounds
// what is read with NewConn.
func Opener(max int, onDrop func(Dropped)) paho.OpenConnectionFunc {
	return func(uri *url.URL, o paho.ClientOptions) (net.Conn, error) {
		c, err := dial(uri, &o)
		if err != nil {
			return nil, err
		}
		return NewConn(c, max, onDrop), nil
	}
}

func dial(uri *url.URL, o *paho.ClientOptions) (net.Conn, error) {
	d := o.Dialer
	if d == nil {
		d = &net.Dialer{Timeout: o.ConnectTimeout}
	}
	switch uri.Scheme {
	case "tcp", "mqtt":
		return d.Dial("tcp", uri.Host)
	case "ssl", "tls", "mqtts", "mqtt+ssl", "tcps":
		return tls.DialWithDialer(d, "tcp", uri.Host, o.TLSConfig)
	case "ws", "wss":
		u := *uri
		u.User = nil
		var tlsc *tls.Config
		if uri.Scheme == "wss" {
			tlsc = o.TLSConfig
		}
		return paho.NewWebsocket(u.String(), tlsc, o.ConnectTimeout, o.HTTPHeaders, o.WebsocketOptions)
	case "unix":
		if uri.Host != "" {
			return d.Dial("unix", uri.Host)
		}
		return d.Dial("unix", uri.Path)
	}
	return nil, fmt.Errorf("broker URL %s: unknown scheme %q", uri.Redacted(), uri.Scheme)
}
