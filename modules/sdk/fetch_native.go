//go:build !wasip1

package sdk

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
)

// Fetch makes an outbound HTTP request with net/http's default client,
// bounded as the agent bounds a guest's: the context's deadline or
// fetchTimeout, and a body of at most maxFetchBody.
func Fetch(ctx context.Context, method, url string, header Header, body []byte) (*FetchResponse, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, fetchTimeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("fetch %s %s: %w", method, url, err)
	}
	for k, vs := range header {
		req.Header[k] = append([]string(nil), vs...)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch %s %s: %w", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxFetchBody+1))
	if err != nil {
		return nil, fmt.Errorf("fetch %s %s: read body: %w", method, url, err)
	}
	if len(b) > maxFetchBody {
		return nil, fmt.Errorf("fetch %s %s: %w: body over %d bytes", method, url, ErrTooLarge, maxFetchBody)
	}
	return &FetchResponse{StatusCode: resp.StatusCode, Header: Header(resp.Header), Body: b}, nil
}
