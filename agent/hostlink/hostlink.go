// Package hostlink is the private link between the supervisor and one
// worker process: a Unix socket pair (the worker's fd 7) carrying
// length-prefixed frames both ways. Workers have no MQTT connection of
// their own; through the link a worker publishes what its guest publishes
// (the supervisor holds the agent's MQTT session and checks the namespace
// again), and the supervisor hands the worker the messages and timer ticks
// for its guest's trigger exports.
//
//	frame   = u32 length (of the rest) | u8 type | u64 id | body
//
//	worker → supervisor   TypePublish  body: abi.PublishRequest frame
//	supervisor → worker   TypePublished body: u8 abi.ErrorCode (0: sent)
//	supervisor → worker   TypeMessage  body: abi.Message frame
//	supervisor → worker   TypeTick     body: abi.Timer frame
//	worker → supervisor   TypeOutcome  body: u8 Outcome, i32 status, string detail
//
// A request and its answer share the id; either side numbers its own
// requests. Each side reads frames of at most MaxFrame bytes and drops the
// link at anything malformed: the peer is the agent's own code, so a bad
// frame is a bug, and the pending calls fail at once rather than waiting.
package hostlink

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
)

// Frame types.
const (
	TypePublish   byte = 1
	TypePublished byte = 2
	TypeMessage   byte = 3
	TypeTick      byte = 4
	TypeOutcome   byte = 5
)

// MaxFrame bounds a frame: a message or publish of the largest payload
// (wire.MaxMessagePayload) with its topic fits many times over.
const MaxFrame = 1 << 20

// Outcome of a trigger in the worker.
type Outcome byte

const (
	// Called: the guest's export ran and returned Status.
	Called Outcome = 0
	// Failed: the call trapped, timed out or found no instance; the guest
	// did not handle the message (an attempt is used up).
	Failed Outcome = 1
	// NotDelivered: the worker could not call the guest at all (still
	// loading, draining, no such trigger); no attempt is used up.
	NotDelivered Outcome = 2
)

// ErrClosed is returned by calls on a link that has ended.
var ErrClosed = errors.New("host link closed")

// Frame is one frame.
type Frame struct {
	Type byte
	ID   uint64
	Body []byte
}

// AppendFrame appends the encoding of f to b.
func AppendFrame(b []byte, f *Frame) []byte {
	b = binary.LittleEndian.AppendUint32(b, uint32(1+8+len(f.Body)))
	b = append(b, f.Type)
	b = binary.LittleEndian.AppendUint64(b, f.ID)
	return append(b, f.Body...)
}

// ReadFrame reads one frame, refusing one longer than max bytes or
// shorter than its header.
func ReadFrame(r io.Reader, max int) (Frame, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return Frame{}, err
	}
	n := binary.LittleEndian.Uint32(hdr[:])
	if n < 9 || int64(n) > int64(max) {
		return Frame{}, fmt.Errorf("host link: frame of %d bytes, want 9..%d", n, max)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return Frame{}, fmt.Errorf("host link: %w", io.ErrUnexpectedEOF)
	}
	return Frame{Type: b[0], ID: binary.LittleEndian.Uint64(b[1:9]), Body: b[9:]}, nil
}

// EncodeOutcome is the body of a TypeOutcome frame.
func EncodeOutcome(o Outcome, status int32, detail string) []byte {
	b := []byte{byte(o)}
	b = binary.LittleEndian.AppendUint32(b, uint32(status))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(detail)))
	return append(b, detail...)
}

// DecodeOutcome decodes the body of a TypeOutcome frame.
func DecodeOutcome(b []byte) (o Outcome, status int32, detail string, err error) {
	if len(b) < 9 || b[0] > byte(NotDelivered) {
		return 0, 0, "", errors.New("host link: malformed outcome")
	}
	n := binary.LittleEndian.Uint32(b[5:9])
	if uint64(n) != uint64(len(b)-9) {
		return 0, 0, "", errors.New("host link: malformed outcome detail")
	}
	return Outcome(b[0]), int32(binary.LittleEndian.Uint32(b[1:5])), string(b[9:]), nil
}

// Pair returns the two ends of a new link: the supervisor's as a Conn's
// net.Conn, the worker's as a file to pass as its fd 7.
func Pair() (net.Conn, *os.File, error) {
	// Close-on-exec set under the fork lock (SOCK_CLOEXEC is not on
	// every system): no other child inherits either end.
	syscall.ForkLock.RLock()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err == nil {
		syscall.CloseOnExec(fds[0])
		syscall.CloseOnExec(fds[1])
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		return nil, nil, fmt.Errorf("host link: socketpair: %w", err)
	}
	mine := os.NewFile(uintptr(fds[0]), "hostlink")
	defer mine.Close()
	c, err := net.FileConn(mine)
	if err != nil {
		syscall.Close(fds[1])
		return nil, nil, fmt.Errorf("host link: %w", err)
	}
	return c, os.NewFile(uintptr(fds[1]), "hostlink-worker"), nil
}

// Conn is one end of a link. Its methods are safe for concurrent use.
type Conn struct {
	c    net.Conn
	wmu  sync.Mutex
	next atomic.Uint64

	mu      sync.Mutex
	pending map[uint64]chan Frame
	closed  bool
	done    chan struct{}
}

// New wraps c.
func New(c net.Conn) *Conn {
	return &Conn{c: c, pending: map[uint64]chan Frame{}, done: make(chan struct{})}
}

// isAnswer reports whether frames of type t answer a request.
func isAnswer(t byte) bool { return t == TypePublished || t == TypeOutcome }

// Serve reads frames until the link ends: answers go to their callers,
// requests to handle, each on a goroutine of its own. It closes the link
// when it returns.
func (c *Conn) Serve(handle func(Frame)) error {
	defer c.Close()
	r := bufio.NewReaderSize(c.c, 64<<10)
	for {
		f, err := ReadFrame(r, MaxFrame)
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		if !isAnswer(f.Type) {
			go handle(f)
			continue
		}
		c.mu.Lock()
		ch := c.pending[f.ID]
		delete(c.pending, f.ID)
		c.mu.Unlock()
		if ch != nil {
			ch <- f // capacity 1
		}
	}
}

// Done is closed when the link has ended.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Close ends the link; pending calls fail with ErrClosed.
func (c *Conn) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	close(c.done)
	c.mu.Unlock()
	return c.c.Close()
}

// Send writes one frame.
func (c *Conn) Send(f *Frame) error {
	b := AppendFrame(make([]byte, 0, 13+len(f.Body)), f)
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if _, err := c.c.Write(b); err != nil {
		return fmt.Errorf("%w: %w", ErrClosed, err)
	}
	return nil
}

// Call sends a request and waits for its answer until ctx ends.
func (c *Conn) Call(ctx context.Context, typ byte, body []byte) (Frame, error) {
	id := c.next.Add(1)
	ch := make(chan Frame, 1)
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return Frame{}, ErrClosed
	}
	c.pending[id] = ch
	c.mu.Unlock()
	forget := func() {
		c.mu.Lock()
		delete(c.pending, id)
		c.mu.Unlock()
	}
	if err := c.Send(&Frame{Type: typ, ID: id, Body: body}); err != nil {
		forget()
		return Frame{}, err
	}
	select {
	case f := <-ch:
		return f, nil
	case <-c.done:
		forget()
		return Frame{}, ErrClosed
	case <-ctx.Done():
		forget()
		return Frame{}, ctx.Err()
	}
}
