package auth

import (
	"strings"
	"testing"
)

func TestToken(t *testing.T) {
	token, id, hash := NewToken()
	if len(token) != MaxTokenLen || !strings.HasPrefix(token, "edge_"+id+"_") {
		t.Fatalf("token %q (id %s): want edge_ID_SECRET of %d bytes", token, id, MaxTokenLen)
	}
	gotID, secret, err := ParseToken(token)
	if err != nil || gotID != id {
		t.Fatalf("ParseToken = %q, %v; want id %s", gotID, err, id)
	}
	if !CheckSecret(hash, secret) {
		t.Error("CheckSecret(own secret) = false")
	}
	// The last character changed to another one (always "A" was the same
	// secret once in 64 runs).
	last := "A"
	if strings.HasSuffix(secret, "A") {
		last = "B"
	}
	if CheckSecret(hash, secret[:len(secret)-1]+last) || CheckSecret(nil, secret) {
		t.Error("CheckSecret accepts a wrong secret or a nil hash")
	}
	other, _, _ := NewToken()
	if other == token {
		t.Error("two tokens are equal")
	}
}

// TestParseTokenRefuses: what is not exactly a token is refused before any
// hashing or lookup.
func TestParseTokenRefuses(t *testing.T) {
	token, id, _ := NewToken()
	_, secret, _ := ParseToken(token)
	for _, bad := range []string{
		"", "edge_", token + "A", token[:len(token)-1], strings.Repeat("A", 1<<20),
		"EDGE_" + token[5:], "edge-" + token[5:],
		"edge_" + strings.ToUpper(id) + "_" + secret,
		"edge_" + id + "-" + secret,
		"edge_" + id + "_" + strings.Repeat("*", len(secret)),
		"edge_" + id[:11] + "g_" + secret,
		"edge_" + id + "_" + secret[:42] + "=",
	} {
		if _, _, err := ParseToken(bad); err == nil {
			t.Errorf("ParseToken(%.60q) accepted", bad)
		}
	}
}

func TestRoles(t *testing.T) {
	for _, tt := range []struct {
		have, need Role
		want       bool
	}{
		{RoleAdmin, RoleAdmin, true}, {RoleAdmin, RoleRead, true}, {RoleAdmin, RolePublic, true},
		{RoleRead, RoleRead, true}, {RoleRead, RoleAdmin, false}, {RoleRead, RolePublic, true},
		{"", RoleRead, false}, {"root", RoleAdmin, false}, {RoleAdmin, "root", false},
	} {
		if got := tt.have.Allows(tt.need); got != tt.want {
			t.Errorf("%q.Allows(%q) = %v, want %v", tt.have, tt.need, got, tt.want)
		}
	}
	for _, s := range []string{"", "Admin", "public", "device"} {
		if _, err := ParseRole(s); err == nil {
			t.Errorf("ParseRole(%q) accepted", s)
		}
	}
}

// FuzzParseToken: whatever arrives in an Authorization header, ParseToken
// does not panic, and what it accepts has a token's exact form.
func FuzzParseToken(f *testing.F) {
	token, _, _ := NewToken()
	f.Add(token)
	f.Add("edge_0123456789ab_" + strings.Repeat("A", 43))
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		id, secret, err := ParseToken(s)
		if err != nil {
			return
		}
		if len(s) != MaxTokenLen || s != "edge_"+id+"_"+secret || !ValidTokenID(id) {
			t.Fatalf("ParseToken(%q) accepted id %q secret %q", s, id, secret)
		}
	})
}
