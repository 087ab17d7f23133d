// Package dashboard serves edge-control's web dashboard: three pages (the
// fleet at /, a device at /devices/{id}, a module at /modules/{name}) and
// the scripts, stylesheets and charting library they load, all embedded in
// the binary. Boards and controllers may run with no internet, so nothing
// comes from a CDN.
//
// The fleet and module pages show staged rollouts live (GET
// /api/v1/rollouts): each one's state, its waves with their state and
// progress, and the gate's latest figures against its thresholds.
//
// # Pages are shells; the data comes from the JSON API
//
// A page is a small server-rendered HTML shell (headings, empty sections,
// the device or module name in a data attribute). Its script fetches the
// controller's JSON API (wire/api.go) with fetch(..., {credentials:
// "same-origin"}) and renders with DOM calls (textContent, never innerHTML),
// so the dashboard shows exactly what `edgectl --json` shows and needs no
// endpoint of its own. It polls every few seconds and stops while the tab is
// hidden (see RATIONALE.md, "Dashboard"). Every section fails on its own: an
// endpoint that errors leaves its message in that section and the rest of the
// page live. A 401 from any endpoint turns the page into a "not signed in"
// notice linking to /login.
//
// # Signing in
//
// The sign-in page (Login, at LoginPath) is a plain form, no script, that
// posts an operator token; the API (control/api/session.go) checks it and
// sets the session cookie every page's fetches carry, and decides which
// routes need a session (control/api/routes.go: the pages need the read
// role, the assets nothing). Every page has a sign-out form posting to
// LogoutPath. This package serves no route of its own without the API's
// access table in front of it (Routes; Register is for its own tests).
//
// # Caching and content types
//
//	/ui/{version}/{file}   assets; version is a hash of every embedded file,
//	                       so a new binary means new URLs: Cache-Control
//	                       immutable for a year, ETag, gzip when accepted;
//	                       another version is 404 (reload the page)
//	/, /devices/{id}, ...  Cache-Control no-cache with an ETag (304 when
//	                       unchanged), so a page never names stale assets
//
// Content types come from a fixed table (never the system's mime.types), and
// every answer carries X-Content-Type-Options: nosniff.
//
// # Content-Security-Policy
//
// Every answer carries CSP (below): scripts only from this origin, no inline
// script or style, no eval, fetch only to this origin, no framing, and
// Trusted Types required for the DOM's script sinks, so an innerHTML with
// data in it would throw instead of running. The vendored charting library
// (uPlot) styles elements through the CSSOM only, which CSP allows.
package dashboard
