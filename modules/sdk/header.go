package sdk

import "strings"

// Header holds HTTP header fields under canonical keys
// ("content-type" → "Content-Type"), like net/http's Header, whose
// underlying type it shares: a net/http Header converts to it for free.
type Header map[string][]string

// Get returns the first value of key, or "".
func (h Header) Get(key string) string {
	if v := h[CanonicalHeaderKey(key)]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// Values returns all values of key.
func (h Header) Values(key string) []string { return h[CanonicalHeaderKey(key)] }

// Set replaces the values of key with value.
func (h Header) Set(key, value string) { h[CanonicalHeaderKey(key)] = []string{value} }

// Add appends value to the values of key.
func (h Header) Add(key, value string) {
	k := CanonicalHeaderKey(key)
	h[k] = append(h[k], value)
}

// Del removes key.
func (h Header) Del(key string) { delete(h, CanonicalHeaderKey(key)) }

// CanonicalHeaderKey returns the canonical form of a header key: the first
// letter and each letter after a hyphen upper case, the rest lower case. A
// key with a space or a byte that is not a token character is returned
// unchanged, as net/textproto does.
//
// It runs on every Header call of a guest, mostly on keys already in
// canonical form, so the check is one table lookup per byte.
func CanonicalHeaderKey(s string) string {
	upper := true
	canonical := true
	for i := 0; i < len(s); i++ {
		c := headerChar[s[i]]
		if c == 0 {
			return s
		}
		if upper && c == charLower || !upper && c == charUpper {
			canonical = false
		}
		upper = s[i] == '-'
	}
	if canonical {
		return s
	}
	b := []byte(s)
	upper = true
	for i, c := range b {
		if upper && 'a' <= c && c <= 'z' {
			b[i] = c - 'a' + 'A'
		} else if !upper && 'A' <= c && c <= 'Z' {
			b[i] = c - 'A' + 'a'
		}
		upper = c == '-'
	}
	return string(b)
}

// Classes of headerChar: 0 is not a token character.
const (
	charToken = 1 + iota // a token character that is not a letter
	charLower
	charUpper
)

// headerChar classifies each byte for CanonicalHeaderKey.
var headerChar = func() (t [256]uint8) {
	for c := range 256 {
		switch {
		case 'a' <= c && c <= 'z':
			t[c] = charLower
		case 'A' <= c && c <= 'Z':
			t[c] = charUpper
		case '0' <= c && c <= '9' || c < 0x80 && strings.IndexByte("!#$%&'*+-.^_`|~", byte(c)) >= 0:
			t[c] = charToken
		}
	}
	return t
}()
