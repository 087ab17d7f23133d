package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/edgeplane/edge/control/auth"
	"github.com/edgeplane/edge/internal/freeport"
)

type creds map[string][]byte

func (c creds) CredentialHash(_ context.Context, id string) ([]byte, error) {
	if h, ok := c[id]; ok {
		return h, nil
	}
	return nil, errors.New("unknown device")
}

// TestOneSessionPerDevice: two agents with one device id. Each takeover of
// a session is reported (OnTakeover); and two CONNECTs of one id at the
// same instant, which mochi can let both in, do not leave two sessions
// side by side, silent.
func TestOneSessionPerDevice(t *testing.T) {
	var mu sync.Mutex
	takeovers := 0
	b, err := Start(Config{Addr: fmt.Sprintf("127.0.0.1:%d", freeport.MustPick(t.Fatal)), ControlPassword: "ctl",
		Credentials: creds{"twin": auth.HashPassword("pw")}, Logger: slog.New(slog.DiscardHandler),
		OnTakeover: func(id string) {
			mu.Lock()
			takeovers++
			mu.Unlock()
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	client := func() paho.Client {
		return paho.NewClient(paho.NewClientOptions().AddBroker(b.URL()).SetClientID("twin").SetUsername("twin").SetPassword("pw").
			SetCleanSession(false).SetAutoReconnect(false).SetConnectTimeout(5 * time.Second))
	}
	for round := range 30 {
		pair := [2]paho.Client{client(), client()}
		var wg sync.WaitGroup
		for _, c := range pair {
			wg.Go(func() { c.Connect().WaitTimeout(5 * time.Second) })
		}
		wg.Wait()
		time.Sleep(300 * time.Millisecond)
		if pair[0].IsConnectionOpen() && pair[1].IsConnectionOpen() {
			t.Fatalf("round %d: both connections of device twin are open", round)
		}
		for _, c := range pair {
			c.Disconnect(0)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if takeovers == 0 {
		t.Error("no takeover reported")
	}
}
