package sdk

import (
	"net/url"
	"testing"
)

// TestParseRequestURI compares the parser with net/url's on request targets.
func TestParseRequestURI(t *testing.T) {
	for _, uri := range []string{
		"/", "/orders", "/delete_order?id=2", "/a%20b/c?x=1&y=%41+b&x=2", "/p?q=a;b&r=1",
		"http://example.com/x?y=1", "/%e2%82%ac", "/plus+sign?a+b=c+d", "*",
	} {
		got, err := parseRequestURI(uri)
		want, werr := url.ParseRequestURI(uri)
		if err != nil || werr != nil {
			t.Errorf("parse %q: %v (net/url: %v)", uri, err, werr)
			continue
		}
		if got.Path != want.Path || got.RawQuery != want.RawQuery {
			t.Errorf("parse %q: path %q query %q, net/url %q %q", uri, got.Path, got.RawQuery, want.Path, want.RawQuery)
		}
		gq, wq := got.Query(), want.Query()
		if len(gq) != len(wq) {
			t.Errorf("query of %q = %v, net/url %v", uri, gq, wq)
		}
		for k, v := range wq {
			if g := gq[k]; len(g) != len(v) || (len(v) > 0 && g[0] != v[0]) {
				t.Errorf("query of %q [%q] = %q, net/url %q", uri, k, g, v)
			}
		}
	}
	// Unlike net/url, an absolute-form target without a path routes as "/".
	if u, err := parseRequestURI("http://example.com?x=1"); err != nil || u.Path != "/" || u.RawQuery != "x=1" {
		t.Errorf(`parse "http://example.com?x=1" = %+v, %v; want path "/", query "x=1"`, u, err)
	}
	for _, bad := range []string{"", "orders", "/a%zz", "/a%2", "/a b", "/a\x00", "://x/"} {
		if u, err := parseRequestURI(bad); err == nil {
			t.Errorf("parse %q = %+v, want an error", bad, u)
		}
	}
}

// FuzzParseRequestURI: whatever the bytes, no panic, and a target net/url
// accepts in origin form yields the same path and query.
func FuzzParseRequestURI(f *testing.F) {
	for _, s := range []string{"/", "/a?b=c", "/%41%zz", "http://h/p?q", "*", "/a;b?c;d&e=%20"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, uri string) {
		got, err := parseRequestURI(uri)
		if err != nil || len(uri) == 0 || uri[0] != '/' {
			return
		}
		got.Query()
		want, werr := url.ParseRequestURI(uri)
		if werr != nil {
			return // net/url is stricter in places (e.g. invalid hosts); fewer checks are fine here
		}
		if want.Path != got.Path || want.RawQuery != got.RawQuery {
			t.Fatalf("parse %q: path %q query %q, net/url %q %q", uri, got.Path, got.RawQuery, want.Path, want.RawQuery)
		}
	})
}
