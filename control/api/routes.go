package api

import (
	"fmt"
	"net/http"

	"github.com/edgeplane/edge/control/auth"
	"github.com/edgeplane/edge/control/dashboard"
	"github.com/edgeplane/edge/wire"
)

// The access table: every route of the controller's HTTP server, with the
// role it requires and the body it takes. It is the only way a route is
// registered (Handler.handle), so a route cannot exist without an entry;
// the route-by-route test (access_test.go) walks Handler.Routes.
//
//	public  no token: health check, sign-in, sign-out, the dashboard's
//	        static assets (code and styles, no data)
//	read    every GET that shows state: the API's reads, the dashboard's
//	        pages, /metrics (Prometheus needs a read token)
//	admin   every change: uploads, deployments, rollouts, devices,
//	        labels, quarantine clears, tokens
//
// No route is meant for devices: agents speak MQTT only (package auth's
// ACL), so no device credential opens anything here.

// body is what a route reads from the request.
type body int

const (
	noBody   body = iota
	jsonBody      // Content-Type application/json, else 415
	blobBody      // raw module bytes (PUT only: a browser cannot send it cross-origin without a preflight)
	formBody      // the sign-in form (application/x-www-form-urlencoded)
)

// Route is one entry of the access table, as registered.
type Route struct {
	Pattern string    // http.ServeMux pattern, "METHOD /path"
	Role    auth.Role // what the caller must hold
	Page    bool      // an HTML page: without credentials, 303 to the sign-in page instead of 401
	body    body
}

// JSON reports whether the route takes a JSON body.
func (r Route) JSON() bool { return r.body == jsonBody }

type route struct {
	Route
	h http.HandlerFunc
}

// routes is the access table.
func (h *Handler) routes(metrics, controllerMetrics http.Handler) []route {
	p := wire.APIPrefix
	read, admin := auth.RoleRead, auth.RoleAdmin
	rs := []route{
		{Route{"PUT " + p + "/blobs/{sha256}", admin, false, blobBody}, h.putBlob},
		{Route{"POST " + p + "/blobs/{sha256}/pull", admin, false, jsonBody}, h.pullBlob},
		{Route{"POST " + p + "/plan", admin, false, jsonBody}, h.postPlan},
		{Route{"POST " + p + "/deployments", admin, false, jsonBody}, h.postDeployment},
		{Route{"GET " + p + "/deployments", read, false, noBody}, h.listDeployments},
		{Route{"GET " + p + "/deployments/{id}", read, false, noBody}, h.getDeployment},
		{Route{"POST " + p + "/deployments/{id}/cancel", admin, false, noBody}, h.cancelDeployment},
		{Route{"POST " + p + "/undeploy", admin, false, jsonBody}, h.postUndeploy},
		{Route{"POST " + p + "/rollouts", admin, false, jsonBody}, h.postRollout},
		{Route{"GET " + p + "/rollouts", read, false, noBody}, h.listRollouts},
		{Route{"GET " + p + "/rollouts/{id}", read, false, noBody}, h.getRollout},
		{Route{"POST " + p + "/rollouts/{id}/{action}", admin, false, noBody}, h.rolloutAction},
		{Route{"GET " + p + "/devices", read, false, noBody}, h.listDevices},
		{Route{"POST " + p + "/devices", admin, false, jsonBody}, h.postDevice},
		{Route{"GET " + p + "/devices/{id}", read, false, noBody}, h.getDevice},
		{Route{"DELETE " + p + "/devices/{id}", admin, false, noBody}, h.removeDevice},
		{Route{"POST " + p + "/devices/{id}/rotate", admin, false, noBody}, h.rotateDevice},
		{Route{"GET " + p + "/devices/{id}/detail", read, false, noBody}, h.getDeviceDetail},
		{Route{"GET " + p + "/devices/{id}/logs", read, false, noBody}, h.getLogs},
		{Route{"GET " + p + "/devices/{id}/labels", read, false, noBody}, h.getLabels},
		{Route{"POST " + p + "/devices/{id}/labels", admin, false, jsonBody}, h.postLabels},
		{Route{"POST " + p + "/devices/{id}/quarantine/clear", admin, false, jsonBody}, h.clearQuarantine},
		{Route{"GET " + p + "/modules", read, false, noBody}, h.listModules},
		{Route{"GET " + p + "/history", read, false, noBody}, h.getHistory},
		{Route{"POST " + p + "/tokens", admin, false, jsonBody}, h.postToken},
		{Route{"GET " + p + "/tokens", admin, false, noBody}, h.listTokens},
		{Route{"POST " + p + "/tokens/{id}/revoke", admin, false, noBody}, h.revokeToken},
		// Unknown API paths: 401 before 404, so a caller without a
		// token learns nothing of the API's shape.
		{Route{p + "/", read, false, noBody}, h.noEndpoint},

		{Route{"GET /healthz", auth.RolePublic, false, noBody}, healthz},
		{Route{"GET " + dashboard.LoginPath, auth.RolePublic, true, noBody}, h.loginPage},
		{Route{"POST " + dashboard.LoginPath, auth.RolePublic, false, formBody}, h.login},
		{Route{"POST " + dashboard.LogoutPath, auth.RolePublic, false, noBody}, h.logout},
	}
	if metrics != nil {
		rs = append(rs, route{Route{"GET /metrics", read, false, noBody}, metrics.ServeHTTP})
	}
	if controllerMetrics != nil {
		rs = append(rs, route{Route{"GET /metrics/controller", read, false, noBody}, controllerMetrics.ServeHTTP})
	}
	for _, d := range h.dash.Routes() {
		a, ok := dashboardAccess[d.Pattern]
		if !ok {
			panic(fmt.Sprintf("dashboard route %q has no entry in the access table (control/api/routes.go)", d.Pattern))
		}
		a.Pattern = d.Pattern
		rs = append(rs, route{a, d.Handler})
	}
	return rs
}

// dashboardAccess gives the dashboard's routes their roles: the pages need
// read, their assets (code and styles, no data) nothing.
var dashboardAccess = map[string]Route{
	"GET /{$}":            {Role: auth.RoleRead, Page: true},
	"GET /devices/{id}":   {Role: auth.RoleRead, Page: true},
	"GET /modules/{name}": {Role: auth.RoleRead, Page: true},
	"GET " + dashboard.AssetPrefix + "{version}/{file...}": {Role: auth.RolePublic},
}

// Routes returns the access table as registered.
func (h *Handler) Routes() []Route {
	out := make([]Route, len(h.table))
	for i, r := range h.table {
		out[i] = r.Route
	}
	return out
}

func healthz(w http.ResponseWriter, _ *http.Request) {
	noSniff(w)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write([]byte("ok"))
}

func (h *Handler) noEndpoint(w http.ResponseWriter, r *http.Request) {
	h.answer(w, r, 0, nil, errNoEndpoint)
}
