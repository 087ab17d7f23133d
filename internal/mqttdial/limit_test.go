package mqttdial

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"
	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	mpackets "github.com/mochi-mqtt/server/v2/packets"
)

// streamConn is a net.Conn that reads from a byte stream.
type streamConn struct {
	net.Conn
	r io.Reader
}

func (s streamConn) Read(p []byte) (int, error) { return s.r.Read(p) }

func publish(topic string, qos byte, retain bool, id uint16, payload []byte) []byte {
	p := packets.NewControlPacket(packets.Publish).(*packets.PublishPacket)
	p.TopicName, p.Qos, p.Retain, p.MessageID, p.Payload = topic, qos, retain, id, payload
	var b bytes.Buffer
	p.Write(&b)
	return b.Bytes()
}

func control(t byte) []byte {
	var b bytes.Buffer
	packets.NewControlPacket(t).Write(&b)
	return b.Bytes()
}

func TestConnTrimsOversizePublish(t *testing.T) {
	const max = 1024
	small := publish("dev/a/desired", 1, true, 7, []byte("state"))
	big := publish("dev/a/desired", 1, true, 8, bytes.Repeat([]byte("x"), 5000))
	big0 := publish("dev/a/chunks", 0, false, 0, bytes.Repeat([]byte("y"), 200000))
	const exactPayload = max - (1 + 2 + 2 + 1) // type, 2 length bytes, topic length, topic
	exact := publish("t", 0, false, 0, make([]byte, exactPayload))
	if len(exact) != max {
		t.Fatalf("exact packet is %d bytes, want %d", len(exact), max)
	}
	stream := bytes.Join([][]byte{small, big, control(packets.Pingresp), big0, exact, small}, nil)
	var dropped []Dropped
	c := NewConn(streamConn{r: bytes.NewReader(stream)}, max, func(d Dropped) { dropped = append(dropped, d) })

	want := []struct {
		topic   string
		id      uint16
		payload int
	}{{"dev/a/desired", 7, 5}, {"dev/a/desired", 8, 0}, {"", 0, -1}, {"dev/a/chunks", 0, 0}, {"t", 0, exactPayload}, {"dev/a/desired", 7, 5}}
	for i, w := range want {
		cp, err := packets.ReadPacket(c)
		if err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
		if w.payload < 0 {
			if _, ok := cp.(*packets.PingrespPacket); !ok {
				t.Errorf("packet %d = %T, want PINGRESP", i, cp)
			}
			continue
		}
		p, ok := cp.(*packets.PublishPacket)
		if !ok || p.TopicName != w.topic || p.MessageID != w.id || len(p.Payload) != w.payload {
			t.Errorf("packet %d = %v, want PUBLISH %s id %d with %d payload bytes", i, cp, w.topic, w.id, w.payload)
		}
		if i == 1 && (p.Qos != 1 || !p.Retain) {
			t.Errorf("trimmed publish lost its flags: qos %d retain %v", p.Qos, p.Retain)
		}
	}
	if _, err := packets.ReadPacket(c); err != io.EOF {
		t.Errorf("after the stream: %v, want EOF", err)
	}
	if len(dropped) != 2 || dropped[0].Topic != "dev/a/desired" || dropped[0].Size != len(big) || dropped[1].Size != len(big0) || dropped[0].Limit != max {
		t.Errorf("dropped = %+v, want the two oversize publishes", dropped)
	}
}

func TestConnRefusesOtherOversizePackets(t *testing.T) {
	for _, tc := range []struct {
		name   string
		stream []byte
		want   error
	}{
		{"oversize SUBACK", append([]byte{0x90, 0x80, 0x80, 0x01}, make([]byte, 10)...), ErrTooLarge},
		{"remaining length of 5 bytes", []byte{0x30, 0xff, 0xff, 0xff, 0xff, 0x01}, ErrMalformed},
		{"publish header longer than the packet", []byte{0x30, 0x80, 0x10, 0xff, 0xff}, ErrMalformed},
	} {
		c := NewConn(streamConn{r: bytes.NewReader(tc.stream)}, 1024, nil)
		_, err := packets.ReadPacket(c)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
		if _, again := c.Read(make([]byte, 1)); !errors.Is(again, tc.want) {
			t.Errorf("%s: a second read = %v, want the same error", tc.name, again)
		}
	}
}

// TestClientSurvivesOversizeMessage: against a broker that allows larger
// packets than the client, an oversize retained message reaches the
// client's handler empty, the session stays up, and the next message
// arrives. Without the limit paho would allocate and deliver it whole.
func TestClientSurvivesOversizeMessage(t *testing.T) {
	srv := mochi.New(&mochi.Options{InlineClient: true, Logger: slog.New(slog.DiscardHandler)})
	srv.AddHook(new(allowAll), nil)
	ln := listeners.NewTCP(listeners.Config{ID: "t", Address: "127.0.0.1:0"})
	if err := srv.AddListener(ln); err != nil {
		t.Fatal(err)
	}
	go srv.Serve()
	defer srv.Close()

	const limit = 64 << 10
	var drops, lost atomic.Int32
	var mu sync.Mutex
	var got []int
	msgs := make(chan struct{}, 10)
	opts := paho.NewClientOptions().AddBroker("tcp://" + ln.Address()).SetClientID("limited").SetAutoReconnect(false).
		SetCustomOpenConnectionFn(Opener(limit, func(Dropped) { drops.Add(1) })).
		SetConnectionLostHandler(func(paho.Client, error) { lost.Add(1) })
	c := paho.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	defer c.Disconnect(50)
	tok := c.Subscribe("dev/a/#", 1, func(_ paho.Client, m paho.Message) {
		mu.Lock()
		got = append(got, len(m.Payload()))
		mu.Unlock()
		msgs <- struct{}{}
	})
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	for _, n := range []int{limit * 4, 10} {
		if err := srv.Publish("dev/a/desired", make([]byte, n), false, 1); err != nil {
			t.Fatal(err)
		}
		select {
		case <-msgs:
		case <-time.After(5 * time.Second):
			t.Fatalf("message of %d bytes never arrived", n)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 2 || got[0] != 0 || got[1] != 10 {
		t.Errorf("payload sizes received = %v, want [0 10]", got)
	}
	if drops.Load() != 1 || lost.Load() != 0 || !c.IsConnectionOpen() {
		t.Errorf("drops %d, connections lost %d, open %v; want 1, 0, true", drops.Load(), lost.Load(), c.IsConnectionOpen())
	}
}

type allowAll struct{ mochi.HookBase }

func (h *allowAll) ID() string { return "allow-all" }
func (h *allowAll) Provides(b byte) bool {
	return b == mochi.OnConnectAuthenticate || b == mochi.OnACLCheck
}
func (h *allowAll) OnConnectAuthenticate(*mochi.Client, mpackets.Packet) bool { return true }
func (h *allowAll) OnACLCheck(*mochi.Client, string, bool) bool               { return true }

// FuzzConn feeds arbitrary streams: the wrapped reader never yields a
// packet over the limit, and whatever it yields parses as MQTT headers.
func FuzzConn(f *testing.F) {
	f.Add(publish("a/b", 1, false, 3, make([]byte, 300)))
	f.Add(append(publish("a", 0, false, 0, make([]byte, 50)), control(packets.Pingresp)...))
	f.Add([]byte{0x30, 0xff, 0x7f, 0x00, 0x01, 'x'})
	f.Fuzz(func(t *testing.T, stream []byte) {
		const max = 128
		c := NewConn(streamConn{r: bytes.NewReader(stream)}, max, nil)
		out, _ := io.ReadAll(c)
		br := bufio.NewReader(bytes.NewReader(out))
		for {
			hdr, rest, err := readFixedHeader(br)
			if err != nil {
				return // the end, or the input ended mid-packet
			}
			if len(hdr)+rest > max {
				t.Fatalf("yielded a packet of %d bytes, limit %d", len(hdr)+rest, max)
			}
			if _, err := br.Discard(rest); err != nil {
				return
			}
		}
	})
}
