//go:build !wasip1

package sdk

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/edgeplane/edge/internal/testpeer"
)

// TestNativeFetchBounds: the native Fetch is bounded like the agent's
// http_fetch: a host that never answers costs the default timeout, and a
// body over the limit is ErrTooLarge.
func TestNativeFetchBounds(t *testing.T) {
	silent := testpeer.NewSilent(t)
	start := time.Now()
	_, err := Fetch(context.Background(), "GET", "http://"+silent.Addr()+"/", nil, nil)
	if took := time.Since(start); err == nil || !IsUnavailable(err) || took > fetchTimeout+2*time.Second {
		t.Errorf("fetch from a silent host: %v after %s, want a timeout after %s", err, took, fetchTimeout)
	}
	big := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write(make([]byte, maxFetchBody+1))
	}))
	defer big.Close()
	if _, err := Fetch(context.Background(), "GET", big.URL, nil, nil); !errors.Is(err, ErrTooLarge) {
		t.Errorf("fetch of a body over the limit: %v, want ErrTooLarge", err)
	}
}
