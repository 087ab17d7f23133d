package ociwasm

import (
	"errors"
	"strings"
	"testing"
)

const hex64 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func TestParseReference(t *testing.T) {
	tests := []struct {
		in   string
		want Reference
		err  string // substring; "" for success
	}{
		{in: "oci://127.0.0.1:5000/edge/orders:1.4.0", want: Reference{Registry: "127.0.0.1:5000", Repository: "edge/orders", Tag: "1.4.0"}},
		{in: "oci://ghcr.io/acme/orders@sha256:" + hex64, want: Reference{Registry: "ghcr.io", Repository: "acme/orders", Digest: "sha256:" + hex64}},
		{in: "oci://docker.io/library/orders:latest", want: Reference{Registry: "docker.io", Repository: "library/orders", Tag: "latest"}},
		{in: "oci://[::1]:5000/orders:v1", want: Reference{Registry: "[::1]:5000", Repository: "orders", Tag: "v1"}},
		{in: "oci://localhost/a/b/c:x_y.z-1", want: Reference{Registry: "localhost", Repository: "a/b/c", Tag: "x_y.z-1"}},
		{in: "127.0.0.1:5000/orders:1", err: "want oci://"},
		{in: "https://ghcr.io/acme/orders:1", err: "want oci://"},
		{in: "oci://ghcr.io/acme/orders", err: "name a tag"},
		{in: "oci://ghcr.io", err: "missing registry or repository"},
		{in: "oci://ghcr.io/", err: "invalid repository"},
		{in: "oci://ghcr.io/Acme/orders:1", err: "invalid repository"},
		{in: "oci://ghcr.io/acme/orders:", err: "name a tag"},
		{in: "oci://ghcr.io/acme/orders:-bad", err: "invalid tag"},
		{in: "oci://ghcr.io/acme/orders:" + strings.Repeat("a", 129), err: "invalid tag"},
		{in: "oci://ghcr.io/acme/orders@sha256:abc", err: "invalid digest"},
		{in: "oci://ghcr.io/acme/orders@sha512:" + hex64 + hex64, err: "want sha256"},
		{in: "oci://ghcr.io/acme/orders:1@sha256:" + hex64, err: "not both"},
		{in: "oci://ghcr.io/acme/orders@sha256:" + hex64 + "@sha256:" + hex64, err: "more than one @"},
		{in: "oci://user:pw@ghcr.io/acme/orders:1", err: "invalid"},
		{in: "oci://ghcr.io:port/acme/orders:1", err: "invalid registry"},
		{in: "oci://gh cr.io/acme/orders:1", err: "invalid registry"},
		{in: "oci://" + strings.Repeat("a", MaxReferenceLen), err: "longer than"},
	}
	for _, tt := range tests {
		got, err := ParseReference(tt.in)
		if tt.err != "" {
			if err == nil || !errors.Is(err, ErrReference) || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseReference(%q) = %+v, %v; want an ErrReference containing %q", tt.in, got, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseReference(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
			continue
		}
		if got.String() != tt.in {
			t.Errorf("ParseReference(%q).String() = %q", tt.in, got.String())
		}
	}
}

func TestReferenceHelpers(t *testing.T) {
	r, err := ParseReference("oci://127.0.0.1:5000/edge/orders:1.4.0")
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Base(); got != "orders" {
		t.Errorf("Base() = %q, want orders", got)
	}
	p := r.Pinned("sha256:" + hex64)
	if got, want := p.String(), "oci://127.0.0.1:5000/edge/orders@sha256:"+hex64; got != want {
		t.Errorf("Pinned = %q, want %q", got, want)
	}
	if got, want := p.Name(), "127.0.0.1:5000/edge/orders@sha256:"+hex64; got != want {
		t.Errorf("Name = %q, want %q", got, want)
	}
}

func TestPlainHTTP(t *testing.T) {
	c, err := NewClient(Options{PlainHTTP: []string{"registry.lan", "other.lan:5000"}})
	if err != nil {
		t.Fatal(err)
	}
	for host, want := range map[string]bool{
		"localhost:5000": true, "127.0.0.1:5000": true, "127.8.9.1": true, "[::1]:5000": true, "LOCALHOST": true,
		"registry.lan": true, "registry.lan:443": true, "other.lan:5000": true, "other.lan": false, "other.lan:5001": false,
		"ghcr.io": false, "10.0.0.1:5000": false, "localhost.evil.com": false, "127.0.0.1.nip.io": false,
	} {
		if got := c.plainHTTP(host); got != want {
			t.Errorf("plainHTTP(%q) = %v, want %v", host, got, want)
		}
	}
}

func TestAllow(t *testing.T) {
	c, err := NewClient(Options{Allow: []string{"ghcr.io", "registry.lan:5000"}})
	if err != nil {
		t.Fatal(err)
	}
	for ref, want := range map[string]bool{
		"oci://ghcr.io/a/b:1": true, "oci://ghcr.io:443/a/b:1": true, "oci://registry.lan:5000/a:1": true,
		"oci://registry.lan/a:1": false, "oci://registry.lan:5001/a:1": false, "oci://127.0.0.1:5000/a:1": false, "oci://evil.io/a:1": false,
	} {
		r, err := ParseReference(ref)
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.repository(r)
		if got := err == nil; got != want || (err != nil && !errors.Is(err, ErrNotAllowed)) {
			t.Errorf("%s: %v, want allowed %v", ref, err, want)
		}
	}
}

// FuzzParseReference: any string parses or fails with ErrReference, and
// what parses prints back as itself and parses to the same.
func FuzzParseReference(f *testing.F) {
	for _, s := range []string{
		"oci://127.0.0.1:5000/edge/orders:1.4.0", "oci://ghcr.io/acme/orders@sha256:" + hex64,
		"oci://ghcr.io/acme/orders:1@sha256:" + hex64, "oci://[::1]:5000/o:v", "oci://a/b", "oci://@/", "oci://a/b@",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseReference(s)
		if err != nil {
			if !errors.Is(err, ErrReference) {
				t.Fatalf("ParseReference(%q): %v is not an ErrReference", s, err)
			}
			return
		}
		if (r.Tag == "") == (r.Digest == "") || r.Registry == "" || r.Repository == "" {
			t.Fatalf("ParseReference(%q) = %+v: want registry, repository and exactly one of tag and digest", s, r)
		}
		if r.String() != s {
			t.Fatalf("ParseReference(%q).String() = %q", s, r.String())
		}
		again, err := ParseReference(r.Pinned("sha256:" + hex64).String())
		if err != nil || again.Registry != r.Registry || again.Repository != r.Repository {
			t.Fatalf("pinned %+v does not parse back: %+v, %v", r, again, err)
		}
	})
}
