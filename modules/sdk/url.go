package sdk

import (
	"errors"
	"strings"
)

// URL is the parsed request target. It has the fields of net/url's URL
// that a server sees in an origin-form target, and is this package's own
// because net/url adds ~200 KB to a guest (measured: 3.19 → 3.40 MB for a
// database/sql module), which its handful of uses here do not justify.
type URL struct {
	Path     string // unescaped path: "/a b" for "/a%20b"
	RawPath  string // the path as sent, still escaped
	RawQuery string // the query, without '?', still escaped
}

// ErrBadURI is returned for a request target that is not a valid
// origin-form or absolute-form URI (for example a bad %-escape).
var ErrBadURI = errors.New("malformed request URI")

// badURIBody is the plain text answer of both builds to such a target
// (400): the handler is not called.
const badURIBody = "malformed request URI\n"

// String returns the request target: escaped path and query.
func (u *URL) String() string {
	if u.RawQuery == "" {
		return u.RawPath
	}
	return u.RawPath + "?" + u.RawQuery
}

// Query parses RawQuery. Like net/url, pairs with a bad escape are dropped
// and ';' is not a separator.
func (u *URL) Query() Values { return ParseQuery(u.RawQuery) }

// parseRequestURI parses a request target: "*", an origin-form "/path?query"
// or an absolute-form "http://host/path?query" (of which it keeps path and
// query, as the Host header names the host).
func parseRequestURI(uri string) (*URL, error) {
	if uri == "*" {
		return &URL{Path: "*", RawPath: "*"}, nil
	}
	rest := uri
	if !strings.HasPrefix(rest, "/") {
		scheme, after, ok := strings.Cut(rest, "://")
		if !ok || scheme == "" || !isScheme(scheme) {
			return nil, ErrBadURI
		}
		i := strings.IndexAny(after, "/?")
		switch {
		case i < 0:
			rest = "/"
		case after[i] == '?':
			rest = "/" + after[i:]
		default:
			rest = after[i:]
		}
	}
	rawPath, rawQuery, _ := strings.Cut(rest, "?")
	path, ok := unescape(rawPath, false)
	if !ok {
		return nil, ErrBadURI
	}
	for i := 0; i < len(uri); i++ {
		if c := uri[i]; c <= ' ' || c == 0x7f {
			return nil, ErrBadURI // control characters and spaces, as net/url refuses
		}
	}
	return &URL{Path: path, RawPath: rawPath, RawQuery: rawQuery}, nil
}

func isScheme(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case i > 0 && ('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.'):
		default:
			return false
		}
	}
	return true
}

// unescape decodes %XX escapes, and '+' as a space when plusSpace is set
// (query components). It reports false for a malformed escape.
func unescape(s string, plusSpace bool) (string, bool) {
	if !strings.ContainsAny(s, "%+") || (!plusSpace && !strings.Contains(s, "%")) {
		return s, true
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '%':
			if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
				return "", false
			}
			b = append(b, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
		case c == '+' && plusSpace:
			b = append(b, ' ')
		default:
			b = append(b, c)
		}
	}
	return string(b), true
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

// Values maps query keys to their values, like net/url's Values.
type Values map[string][]string

// Get returns the first value of key, or "".
func (v Values) Get(key string) string {
	if vs := v[key]; len(vs) > 0 {
		return vs[0]
	}
	return ""
}

// Has reports whether key is present.
func (v Values) Has(key string) bool { _, ok := v[key]; return ok }

// ParseQuery parses a URL query. Pairs are separated by '&'; a pair with a
// malformed escape or a ';' is dropped, as net/url does.
func ParseQuery(query string) Values {
	v := make(Values)
	for query != "" {
		var pair string
		pair, query, _ = strings.Cut(query, "&")
		if pair == "" || strings.Contains(pair, ";") {
			continue
		}
		k, val, _ := strings.Cut(pair, "=")
		k, ok1 := unescape(k, true)
		val, ok2 := unescape(val, true)
		if ok1 && ok2 {
			v[k] = append(v[k], val)
		}
	}
	return v
}
