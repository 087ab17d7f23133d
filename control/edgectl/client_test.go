package edgectl

import (
	"net/http"
	"testing"
)

// TestAPIErrorStatusOnce: the status text reads once, whether the
// controller's message starts with the error's kind ("conflict: ..."),
// ends with it ("...: not found") or is nothing else; it used to read
// "Conflict: conflict: ...".
func TestAPIErrorStatusOnce(t *testing.T) {
	for _, tt := range []struct {
		code      int
		msg, want string
	}{
		{http.StatusConflict, "conflict: rollout r1 is done: cannot pause it", "PUT /x: Conflict: rollout r1 is done: cannot pause it"},
		{http.StatusForbidden, "forbidden: this needs a token with the admin role", "PUT /x: Forbidden: this needs a token with the admin role"},
		{http.StatusNotFound, "device pi-9: not found", "PUT /x: Not Found: device pi-9"},
		{http.StatusConflict, "token t1 was revoked at 2026-11-30T11:10:35Z: conflict", "PUT /x: Conflict: token t1 was revoked at 2026-11-30T11:10:35Z"},
		{http.StatusNotFound, "not found", "PUT /x: Not Found"},
		{http.StatusBadRequest, "bad request: no module", "PUT /x: Bad Request: no module"},
		{http.StatusBadRequest, "step \"1ns\": want whole minutes", "PUT /x: Bad Request: step \"1ns\": want whole minutes"},
		{http.StatusConflict, "conflicts with rollout r1", "PUT /x: Conflict: conflicts with rollout r1"},
		{599, "odd", "PUT /x: HTTP 599: odd"},
		{http.StatusBadRequest, "bad deployment request: no targets", "PUT /x: bad deployment request: no targets"},
		{http.StatusTooManyRequests, "too many log requests waiting", "PUT /x: too many log requests waiting"},
		{http.StatusInternalServerError, "internal error (see controller log)", "PUT /x: internal error (see controller log)"},
		{http.StatusBadRequest, "badly formed", "PUT /x: Bad Request: badly formed"},
	} {
		e := &APIError{Method: "PUT", URL: "/x", Status: tt.code, Message: tt.msg}
		if got := e.Error(); got != tt.want {
			t.Errorf("%d %q: got %q, want %q", tt.code, tt.msg, got, tt.want)
		}
	}
}
