package wire

import (
	"fmt"
	"reflect"
	"time"
)

// Operator tokens of the controller's HTTP API (control/auth describes
// their form; control/api/routes.go which role each route needs).
//
//	POST /api/v1/tokens              TokenRequest → TokenCreated (the token, once)
//	GET  /api/v1/tokens              []Token, oldest first, revoked ones included
//	POST /api/v1/tokens/{id}/revoke  → Token; 409 if already revoked, or the last
//	                                 active admin token
//
// Every API request carries "Authorization: Bearer TOKEN" (or the
// dashboard's session cookie, set by POST /login). Without one the answer
// is 401; with a read token on a route that changes anything, 403.

// Token roles.
const (
	RoleRead  = "read"  // every GET route: dashboards, monitoring, /metrics
	RoleAdmin = "admin" // every route
)

// TokenRequest asks for a new operator token.
type TokenRequest struct {
	Name string `json:"name"` // who or what uses it (ValidateTokenName)
	Role string `json:"role"` // RoleRead or RoleAdmin
}

// Token describes an operator token; the token itself is never stored.
type Token struct {
	ID      string    `json:"id"`
	Name    string    `json:"name"`
	Role    string    `json:"role"`
	Created time.Time `json:"created"`
	// Revoked is set once the token is revoked; it is then refused.
	Revoked *time.Time `json:"revoked,omitempty"`
}

// TokenCreated answers a TokenRequest: the token, in this answer only.
type TokenCreated struct {
	Token
	Secret string `json:"token"`
}

// ValidateTokenName applies the device id rule to token names.
func ValidateTokenName(name string) error {
	if !deviceIDRe.MatchString(name) {
		return fmt.Errorf("invalid token name %q: want 1-63 of [A-Za-z0-9._-], starting with a letter or digit", name)
	}
	return nil
}

// The tokens' decoding rules join the table in decode.go here, beside the
// types they describe.
func init() {
	rules[reflect.TypeFor[TokenRequest]()] = rule{"token request", MaxRequestSize, false}
	rules[reflect.TypeFor[Token]()] = rule{"token", MaxAnswerSize, true}
	rules[reflect.TypeFor[[]Token]()] = rule{"token list", MaxAnswerSize, true}
	rules[reflect.TypeFor[TokenCreated]()] = rule{"new token", MaxAnswerSize, true}
}
