package auth

// Operator tokens authenticate people and programs to the controller's
// HTTP API (edgectl, the dashboard's sign-in, Prometheus). A token reads
//
//	edge_<id>_<secret>
//
// where id is 12 hex digits (public: listed, revoked by) and secret is 32
// random bytes in base64url. The controller keeps SHA-256 of the secret
// only, looks the row up by id and compares hashes in constant time. As
// with device passwords, 256 random bits make a slow hash pointless and a
// leaked database yields no usable token. The "edge_" prefix lets secret
// scanners recognise a leaked token.

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// Role is what a token may do. Roles are ordered: admin includes read.
type Role string

// Roles. RolePublic marks routes that need no token (health check, sign-in
// page, static assets); no token has it.
const (
	RolePublic Role = "public"
	RoleRead   Role = "read"  // every GET: dashboards, monitoring, /metrics
	RoleAdmin  Role = "admin" // every change: devices, deployments, rollouts, tokens
)

// ParseRole accepts the roles a token can have.
func ParseRole(s string) (Role, error) {
	switch r := Role(s); r {
	case RoleRead, RoleAdmin:
		return r, nil
	}
	return "", fmt.Errorf("role %q: want read or admin", s)
}

// Allows reports whether a token of role r may use a route that requires
// need.
func (r Role) Allows(need Role) bool {
	switch need {
	case RolePublic:
		return true
	case RoleRead:
		return r == RoleRead || r == RoleAdmin
	case RoleAdmin:
		return r == RoleAdmin
	}
	return false
}

// Token format bounds.
const (
	tokenPrefix = "edge_"
	tokenIDLen  = 12 // hex digits
	secretLen   = 43 // base64url of 32 bytes, unpadded
	// MaxTokenLen is the length of every token; anything longer is
	// refused before it is hashed.
	MaxTokenLen = len(tokenPrefix) + tokenIDLen + 1 + secretLen
)

// ErrMalformedToken is returned for a string that is not a token.
var ErrMalformedToken = errors.New("malformed token")

// NewToken returns a fresh token, its id and the hash to store.
func NewToken() (token, id string, hash []byte) {
	var idb [tokenIDLen / 2]byte
	rand.Read(idb[:])
	id = hex.EncodeToString(idb[:])
	secret, hash := NewPassword()
	return tokenPrefix + id + "_" + secret, id, hash
}

// ParseToken splits a token into its id and secret, checking the form only.
func ParseToken(token string) (id, secret string, err error) {
	if len(token) != MaxTokenLen || !strings.HasPrefix(token, tokenPrefix) {
		return "", "", ErrMalformedToken
	}
	rest := token[len(tokenPrefix):]
	id, secret = rest[:tokenIDLen], rest[tokenIDLen+1:]
	if rest[tokenIDLen] != '_' || !ValidTokenID(id) {
		return "", "", ErrMalformedToken
	}
	if _, err := base64.RawURLEncoding.DecodeString(secret); err != nil {
		return "", "", ErrMalformedToken
	}
	return id, secret, nil
}

// ValidTokenID reports whether id has a token id's form.
func ValidTokenID(id string) bool {
	if len(id) != tokenIDLen {
		return false
	}
	for _, c := range []byte(id) {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// CheckSecret compares a token's secret with a stored hash in constant time
// (a nil hash, for an unknown id, is compared against a dummy).
func CheckSecret(hash []byte, secret string) bool {
	return CheckPassword(hash, secret) == nil
}

// SessionID returns a fresh random session identifier and its hash (the
// dashboard's cookie holds the identifier; the controller keeps the hash).
func SessionID() (id string, hash [32]byte) {
	var b [32]byte
	rand.Read(b[:])
	id = base64.RawURLEncoding.EncodeToString(b[:])
	return id, sha256.Sum256([]byte(id))
}
