package ociwasm

import (
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/opencontainers/go-digest"
	"oras.land/oras-go/v2/registry"
)

// Scheme starts every reference edgectl takes.
const Scheme = "oci://"

// MaxReferenceLen bounds a reference (a registry host, a repository path
// and a tag or digest are far shorter).
const MaxReferenceLen = 1024

// ErrReference is wrapped by every malformed reference.
var ErrReference = errors.New("invalid OCI reference")

// Reference names an artifact: oci://REGISTRY/REPOSITORY:TAG or
// oci://REGISTRY/REPOSITORY@sha256:HEX. Exactly one of Tag and Digest is
// set.
type Reference struct {
	Registry   string // host[:port]
	Repository string
	Tag        string
	Digest     string // sha256:<64 hex>
}

// IsReference reports whether s is meant as an OCI reference (it has the
// oci:// scheme), valid or not.
func IsReference(s string) bool { return strings.HasPrefix(s, Scheme) }

// ParseReference parses oci://REGISTRY/REPOSITORY(:TAG|@sha256:HEX).
func ParseReference(s string) (Reference, error) {
	if len(s) > MaxReferenceLen {
		return Reference{}, fmt.Errorf("%w: longer than %d bytes", ErrReference, MaxReferenceLen)
	}
	rest, ok := strings.CutPrefix(s, Scheme)
	if !ok {
		return Reference{}, fmt.Errorf("%w %q: want oci://REGISTRY/REPOSITORY:TAG", ErrReference, s)
	}
	if strings.Count(rest, "@") > 1 {
		return Reference{}, fmt.Errorf("%w %q: more than one @", ErrReference, s)
	}
	// REPOSITORY:TAG@DIGEST is valid OCI grammar, but the tag would be
	// dropped unseen: refuse it rather than sign something else than
	// what the operator named.
	if _, path, ok := strings.Cut(rest, "/"); ok {
		if repo, _, ok := strings.Cut(path, "@"); ok && strings.Contains(repo, ":") {
			return Reference{}, fmt.Errorf("%w %q: give a tag or a digest, not both", ErrReference, s)
		}
	}
	r, err := registry.ParseReference(rest)
	if err != nil {
		return Reference{}, fmt.Errorf("%w %q: %v", ErrReference, s, unwrapInvalid(err))
	}
	if r.Reference == "" {
		return Reference{}, fmt.Errorf("%w %q: name a tag (REPOSITORY:TAG) or a digest (REPOSITORY@sha256:...)", ErrReference, s)
	}
	ref := Reference{Registry: r.Registry, Repository: r.Repository}
	if d, err := r.Digest(); err == nil {
		if d.Algorithm() != digest.SHA256 {
			return Reference{}, fmt.Errorf("%w %q: digest algorithm %s: want sha256", ErrReference, s, d.Algorithm())
		}
		ref.Digest = d.String()
	} else {
		ref.Tag = r.Reference
	}
	return ref, nil
}

// unwrapInvalid drops oras's own "invalid reference: " prefix: the error
// names the reference already.
func unwrapInvalid(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, ": "); i >= 0 && strings.HasPrefix(msg, "invalid reference") {
		return msg[i+2:]
	}
	return msg
}

// String returns the reference as ParseReference reads it.
func (r Reference) String() string {
	s := Scheme + r.Registry + "/" + r.Repository
	if r.Digest != "" {
		return s + "@" + r.Digest
	}
	return s + ":" + r.Tag
}

// Name is the reference in the registry's own syntax, without scheme.
func (r Reference) Name() string { return strings.TrimPrefix(r.String(), Scheme) }

// Pinned returns the reference to the same repository at digest d.
func (r Reference) Pinned(d string) Reference {
	return Reference{Registry: r.Registry, Repository: r.Repository, Digest: d}
}

// reference is what oras-go's calls take: the tag or the digest.
func (r Reference) reference() string {
	if r.Digest != "" {
		return r.Digest
	}
	return r.Tag
}

// Base is the last element of the repository path: a module's default
// name.
func (r Reference) Base() string {
	return r.Repository[strings.LastIndexByte(r.Repository, '/')+1:]
}

// loopback reports whether host (host[:port]) is this machine.
func loopback(host string) bool {
	h := host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		h = hh
	}
	h = strings.Trim(h, "[]")
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}
