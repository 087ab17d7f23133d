// Package semver orders semantic versions (semver.org 2.0 precedence): the
// agent's "strictly newer" replay rule and the controller's "newest first"
// lists of versions across the fleet use the same order. It is a few dozen lines of the
// standard library rather than a dependency: wire.Manifest.Validate already
// restricts versions to MAJOR.MINOR.PATCH[-pre][+build].
package semver

import (
	"cmp"
	"fmt"
	"strconv"
	"strings"
)

// Compare returns -1, 0 or +1 as a is lower than, equal to or higher than
// b. Build metadata is ignored, as semver requires. Invalid versions are an
// error, never silently ordered.
func Compare(a, b string) (int, error) {
	pa, err := parse(a)
	if err != nil {
		return 0, err
	}
	pb, err := parse(b)
	if err != nil {
		return 0, err
	}
	for i := range 3 {
		if c := cmp.Compare(pa.core[i], pb.core[i]); c != 0 {
			return c, nil
		}
	}
	// A version without pre-release is higher than one with.
	switch {
	case len(pa.pre) == 0 && len(pb.pre) == 0:
		return 0, nil
	case len(pa.pre) == 0:
		return 1, nil
	case len(pb.pre) == 0:
		return -1, nil
	}
	for i := 0; i < len(pa.pre) && i < len(pb.pre); i++ {
		if c := cmpIdent(pa.pre[i], pb.pre[i]); c != 0 {
			return c, nil
		}
	}
	return cmp.Compare(uint64(len(pa.pre)), uint64(len(pb.pre))), nil
}

// Valid reports whether v is a version Compare accepts.
func Valid(v string) bool {
	_, err := parse(v)
	return err == nil
}

type version struct {
	core [3]uint64
	pre  []string
}

func parse(v string) (version, error) {
	var out version
	s, _, _ := strings.Cut(v, "+")
	s, pre, hasPre := strings.Cut(s, "-")
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return out, fmt.Errorf("version %q: want MAJOR.MINOR.PATCH", v)
	}
	for i, p := range parts {
		n, err := strconv.ParseUint(p, 10, 64)
		if err != nil || (len(p) > 1 && p[0] == '0') {
			return out, fmt.Errorf("version %q: bad number %q", v, p)
		}
		out.core[i] = n
	}
	if hasPre {
		out.pre = strings.Split(pre, ".")
		for _, id := range out.pre {
			if id == "" {
				return out, fmt.Errorf("version %q: empty pre-release identifier", v)
			}
			for _, c := range id {
				if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-') {
					return out, fmt.Errorf("version %q: bad pre-release identifier %q", v, id)
				}
			}
		}
	}
	return out, nil
}

// cmpIdent: numeric identifiers compare numerically and are lower than
// alphanumeric ones, which compare in ASCII order.
func cmpIdent(a, b string) int {
	na, ea := strconv.ParseUint(a, 10, 64)
	nb, eb := strconv.ParseUint(b, 10, 64)
	switch {
	case ea == nil && eb == nil:
		return cmp.Compare(na, nb)
	case ea == nil:
		return -1
	case eb == nil:
		return 1
	}
	return strings.Compare(a, b)
}
