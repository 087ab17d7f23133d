package broker

import (
	"crypto/tls"
	"net"
	"time"
)

// DefaultWriteTimeout bounds one write to a client. mochi writes to a
// client under that client's lock, with no deadline but the keepalive's
// (none for a keepalive of 0, and pushed back by every packet the client
// sends): a client that stops reading would hold the lock for good, and
// the broker's Close, which writes a DISCONNECT to every client under the
// same lock, would never return. A device that has not taken a packet's
// bytes from its socket for this long is gone or hostile; the write fails
// and mochi drops the connection (the device reconnects and its retained
// desired state is delivered again).
const DefaultWriteTimeout = 30 * time.Second

// listen opens addr, with TLS if cfg is set, and returns a listener whose
// connections give up a write after timeout. The deadline is set on the
// TCP connection beneath TLS, so mochi still sees a *tls.Conn (the hook
// reads client certificates from it).
func listen(addr string, cfg *tls.Config, timeout time.Duration) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	var out net.Listener = writeDeadlineListener{Listener: ln, timeout: timeout}
	if cfg != nil {
		out = tls.NewListener(out, cfg)
	}
	return out, nil
}

type writeDeadlineListener struct {
	net.Listener
	timeout time.Duration
}

func (l writeDeadlineListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &writeDeadlineConn{Conn: c, timeout: l.timeout}, nil
}

// writeDeadlineConn sets a write deadline before every write, and closes
// the connection when a write fails: mochi's writer ignores write errors
// and would go on (a packet cut short leaves the stream unreadable) while
// its reader waits for a client that sends nothing. Closing makes the
// reader fail, and mochi drops the client. mochi's own SetDeadline (read
// and write, from the keepalive) still governs reads.
type writeDeadlineConn struct {
	net.Conn
	timeout time.Duration
}

func (c *writeDeadlineConn) Write(p []byte) (int, error) {
	if err := c.Conn.SetWriteDeadline(time.Now().Add(c.timeout)); err != nil {
		return 0, err
	}
	n, err := c.Conn.Write(p)
	if err != nil {
		c.Conn.Close()
	}
	return n, err
}
