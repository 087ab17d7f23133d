package hostlink

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"
)

func FuzzReadFrame(f *testing.F) {
	f.Add(AppendFrame(nil, &Frame{Type: TypeMessage, ID: 7, Body: []byte("x")}))
	f.Add([]byte{9, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := ReadFrame(bytes.NewReader(b), 1<<10)
		if err != nil {
			return
		}
		if got := AppendFrame(nil, &fr); !bytes.Equal(got, b[:len(got)]) {
			t.Fatalf("re-encoding differs")
		}
		if o, st, d, err := DecodeOutcome(fr.Body); err == nil {
			if got := EncodeOutcome(o, st, d); !bytes.Equal(got, fr.Body) {
				t.Fatalf("outcome re-encoding differs")
			}
		}
	})
}

func TestReadFrameLimits(t *testing.T) {
	for _, b := range [][]byte{{8, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0}, {0xff, 0xff, 0xff, 0x7f}, {20, 0, 0, 0, 1}} {
		if _, err := ReadFrame(bytes.NewReader(b), MaxFrame); err == nil {
			t.Errorf("ReadFrame(%x) = nil error", b)
		}
	}
}

// TestCallsBothWays: requests from either end are answered on the same
// link, concurrently; a closed link fails pending calls at once.
func TestCallsBothWays(t *testing.T) {
	sup, wf, err := Pair()
	if err != nil {
		t.Fatal(err)
	}
	wc, err := fileConn(wf)
	if err != nil {
		t.Fatal(err)
	}
	s, w := New(sup), New(wc)
	echo := func(c *Conn, answer byte) func(Frame) {
		return func(f Frame) { c.Send(&Frame{Type: answer, ID: f.ID, Body: append([]byte("re:"), f.Body...)}) }
	}
	go s.Serve(echo(s, TypePublished))
	go w.Serve(echo(w, TypeOutcome))
	ctx := context.Background()
	for i := 0; i < 50; i++ {
		f, err := s.Call(ctx, TypeMessage, []byte("m"))
		if err != nil || string(f.Body) != "re:m" || f.Type != TypeOutcome {
			t.Fatalf("supervisor call: %+v %v", f, err)
		}
		g, err := w.Call(ctx, TypePublish, []byte("p"))
		if err != nil || string(g.Body) != "re:p" || g.Type != TypePublished {
			t.Fatalf("worker call: %+v %v", g, err)
		}
	}
	w.Close()
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := s.Call(cctx, TypeMessage, nil); !errors.Is(err, ErrClosed) {
		t.Errorf("call on a link whose peer closed: %v, want ErrClosed", err)
	}
}
