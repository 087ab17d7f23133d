package devsim

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/edgeplane/edge/wire"
)

// conn is a minimal MQTT 3.1.1 client: one TCP connection, one reader
// goroutine, writes under a mutex. Packets are encoded and decoded by
// mochi-mqtt's packets package (the embedded broker's own codec), so the
// bytes on the wire are those of a real client; it is a fraction of the
// memory of a full client library per device, which is what lets one
// process simulate thousands.
type conn struct {
	nc net.Conn
	br *bufio.Reader

	wmu sync.Mutex
	bw  *bufio.Writer

	mu     sync.Mutex
	nextID uint16
	acks   map[uint16]chan struct{} // PUBACK/SUBACK awaited, by packet id

	onPublish func(topic string, payload []byte)
	done      chan struct{}
	err       error // why done closed
}

// ErrClosed is returned for operations on a closed connection.
var ErrClosed = errors.New("mqtt connection closed")

type will struct {
	topic   string
	payload []byte
}

// dial connects and authenticates; onPublish receives every message the
// connection is subscribed to (on the reader goroutine: it must not block
// for long).
func dial(ctx context.Context, addr, id, password string, w *will, keepAlive time.Duration, onPublish func(string, []byte)) (*conn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	c := &conn{nc: nc, br: bufio.NewReaderSize(nc, 4<<10), bw: bufio.NewWriterSize(nc, 4<<10),
		acks: map[uint16]chan struct{}{}, onPublish: onPublish, done: make(chan struct{})}
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connect}, ProtocolVersion: 4,
		Connect: packets.ConnectParams{ProtocolName: []byte("MQTT"), Clean: true, Keepalive: uint16(keepAlive / time.Second),
			ClientIdentifier: id, UsernameFlag: true, Username: []byte(id), PasswordFlag: true, Password: []byte(password)}}
	if w != nil {
		pk.Connect.WillFlag, pk.Connect.WillTopic, pk.Connect.WillPayload = true, w.topic, w.payload
		pk.Connect.WillQos, pk.Connect.WillRetain = 1, true
	}
	var buf bytes.Buffer
	pk.ConnectEncode(&buf)
	if dl, ok := ctx.Deadline(); ok {
		nc.SetDeadline(dl)
	} else {
		nc.SetDeadline(time.Now().Add(10 * time.Second))
	}
	if _, err := nc.Write(buf.Bytes()); err != nil {
		nc.Close()
		return nil, err
	}
	fh, body, err := c.readPacket()
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("connect %s: %w", id, err)
	}
	ack := packets.Packet{FixedHeader: fh, ProtocolVersion: 4}
	if fh.Type != packets.Connack || ack.ConnackDecode(body) != nil {
		nc.Close()
		return nil, fmt.Errorf("connect %s: packet type %d, want CONNACK", id, fh.Type)
	}
	if ack.ReasonCode != 0 {
		nc.Close()
		return nil, fmt.Errorf("connect %s: refused (code %d)", id, ack.ReasonCode)
	}
	nc.SetDeadline(time.Time{})
	go c.read()
	go c.keepAlive(keepAlive)
	return c, nil
}

// readPacket reads one packet, refusing any over wire.MaxPacketSize.
func (c *conn) readPacket() (packets.FixedHeader, []byte, error) {
	var fh packets.FixedHeader
	b, err := c.br.ReadByte()
	if err != nil {
		return fh, nil, err
	}
	if err := fh.Decode(b); err != nil {
		return fh, nil, err
	}
	n, _, err := packets.DecodeLength(c.br)
	if err != nil {
		return fh, nil, err
	}
	if n > wire.MaxPacketSize {
		return fh, nil, fmt.Errorf("packet of %d bytes exceeds %d", n, wire.MaxPacketSize)
	}
	fh.Remaining = n
	body := make([]byte, n)
	if _, err := io.ReadFull(c.br, body); err != nil {
		return fh, nil, err
	}
	return fh, body, nil
}

func (c *conn) read() {
	for {
		fh, body, err := c.readPacket()
		if err != nil {
			c.close(err)
			return
		}
		pk := packets.Packet{FixedHeader: fh, ProtocolVersion: 4}
		switch fh.Type {
		case packets.Publish:
			if err := pk.PublishDecode(body); err != nil {
				c.close(err)
				return
			}
			if fh.Qos > 0 {
				ack := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}, PacketID: pk.PacketID, ProtocolVersion: 4}
				var buf bytes.Buffer
				ack.PubackEncode(&buf)
				if err := c.write(buf.Bytes()); err != nil {
					c.close(err)
					return
				}
			}
			if c.onPublish != nil {
				c.onPublish(pk.TopicName, pk.Payload)
			}
		case packets.Puback:
			if pk.PubackDecode(body) == nil {
				c.ack(pk.PacketID)
			}
		case packets.Suback:
			if pk.SubackDecode(body) == nil {
				for _, code := range pk.ReasonCodes {
					if code >= 0x80 {
						c.close(fmt.Errorf("subscription refused (code %#x)", code))
						return
					}
				}
				c.ack(pk.PacketID)
			}
		case packets.Pingresp:
		default:
			c.close(fmt.Errorf("unexpected packet type %d", fh.Type))
			return
		}
	}
}

func (c *conn) ack(id uint16) {
	c.mu.Lock()
	ch := c.acks[id]
	delete(c.acks, id)
	c.mu.Unlock()
	if ch != nil {
		close(ch)
	}
}

func (c *conn) keepAlive(every time.Duration) {
	if every <= 0 {
		return
	}
	t := time.NewTicker(every / 2)
	defer t.Stop()
	ping := []byte{packets.Pingreq << 4, 0}
	for {
		select {
		case <-c.done:
			return
		case <-t.C:
			if err := c.write(ping); err != nil {
				c.close(err)
				return
			}
		}
	}
}

func (c *conn) write(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	select {
	case <-c.done:
		return ErrClosed
	default:
	}
	c.nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.bw.Write(b); err != nil {
		return err
	}
	return c.bw.Flush()
}

// packetID returns a free packet id and the channel closed by its ack.
func (c *conn) packetID() (uint16, chan struct{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		c.nextID++
		if c.nextID == 0 {
			c.nextID = 1
		}
		if _, used := c.acks[c.nextID]; !used {
			ch := make(chan struct{})
			c.acks[c.nextID] = ch
			return c.nextID, ch
		}
	}
}

func (c *conn) wait(ctx context.Context, ch chan struct{}) error {
	select {
	case <-ch:
		return nil
	case <-c.done:
		return c.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// publish sends a message; at QoS 1 it waits for the broker's PUBACK.
func (c *conn) publish(ctx context.Context, topic string, qos byte, retain bool, payload []byte) error {
	if err := wire.CheckPublish(topic, qos, len(payload)); err != nil {
		return err
	}
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: qos, Retain: retain},
		TopicName: topic, Payload: payload, ProtocolVersion: 4}
	var ch chan struct{}
	if qos > 0 {
		pk.PacketID, ch = c.packetID()
	}
	var buf bytes.Buffer
	if err := pk.PublishEncode(&buf); err != nil {
		return err
	}
	if err := c.write(buf.Bytes()); err != nil {
		return err
	}
	if ch == nil {
		return nil
	}
	return c.wait(ctx, ch)
}

// subscribe subscribes to filters at QoS 1 and waits for the SUBACK (a
// refused filter closes the connection with the reason).
func (c *conn) subscribe(ctx context.Context, filters ...string) error {
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1}, ProtocolVersion: 4}
	for _, f := range filters {
		pk.Filters = append(pk.Filters, packets.Subscription{Filter: f, Qos: 1})
	}
	id, ch := c.packetID()
	pk.PacketID = id
	var buf bytes.Buffer
	if err := pk.SubscribeEncode(&buf); err != nil {
		return err
	}
	if err := c.write(buf.Bytes()); err != nil {
		return err
	}
	return c.wait(ctx, ch)
}

func (c *conn) close(err error) {
	c.mu.Lock()
	select {
	case <-c.done:
		c.mu.Unlock()
		return
	default:
	}
	c.err = err
	close(c.done)
	c.mu.Unlock()
	c.nc.Close()
}

// disconnect says goodbye (no Will) and closes.
func (c *conn) disconnect() {
	c.write([]byte{packets.Disconnect << 4, 0})
	c.close(ErrClosed)
}
