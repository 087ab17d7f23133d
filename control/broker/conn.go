package broker

import (
	"crypto/tls"
	"net"
	"sync"
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
func listen(addr string, cfg *tls.Config, timeout time.Duration, open *openConns) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	var out net.Listener = writeDeadlineListener{Listener: ln, timeout: timeout, open: open}
	if cfg != nil {
		out = tls.NewListener(out, cfg)
	}
	return out, nil
}

type writeDeadlineListener struct {
	net.Listener
	timeout time.Duration
	open    *openConns
}

func (l writeDeadlineListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	wc := &writeDeadlineConn{Conn: c, timeout: l.timeout, open: l.open}
	l.open.add(wc)
	return wc, nil
}

// openConns are the broker's client connections, kept apart from mochi's
// client list: Close must reach them without mochi's lock, which mochi
// v2.7.9 can leave held for good (its Close takes the clients' read lock
// twice, and a client attaching in between waits for the write lock:
// neither ever proceeds).
type openConns struct {
	mu  sync.Mutex
	set map[net.Conn]struct{}
}

func (o *openConns) add(c net.Conn) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.set == nil {
		o.set = map[net.Conn]struct{}{}
	}
	o.set[c] = struct{}{}
}

func (o *openConns) remove(c net.Conn) {
	o.mu.Lock()
	defer o.mu.Unlock()
	delete(o.set, c)
}

// closeAll closes every open connection and says how many there were.
func (o *openConns) closeAll() int {
	o.mu.Lock()
	conns := make([]net.Conn, 0, len(o.set))
	for c := range o.set {
		conns = append(conns, c)
	}
	o.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
	return len(conns)
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
	open    *openConns
}

func (c *writeDeadlineConn) Close() error {
	c.open.remove(c)
	return c.Conn.Close()
}

func (c *writeDeadlineConn) Write(p []byte) (int, error) {
	if err := c.Conn.SetWriteDeadline(time.Now().Add(c.timeout)); err != nil {
		return 0, err
	}
	n, err := c.Conn.Write(p)
	if err != nil {
		c.Close()
	}
	return n, err
}
