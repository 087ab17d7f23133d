package dashboard

import "net/http"

// LogoutPath ends the dashboard session (a form on every page posts to it).
const LogoutPath = "/logout"

// Login renders the sign-in page: a form that posts an operator token to
// LoginPath, then goes to next (a path on this controller). problem, when
// not empty, says why the last try failed. The page runs no script.
func (h *Handler) Login(w http.ResponseWriter, r *http.Request, code int, next, problem string) {
	w.Header().Set("Cache-Control", "no-store")
	h.render(w, r, code, pageData{Page: pageLogin, Title: "Sign in", Next: next, Problem: problem})
}
