package dashboard

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"html/template"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/edgeplane/edge/wire"
)

// CSP is the Content-Security-Policy of every dashboard answer.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; " +
	"require-trusted-types-for 'script'; trusted-types 'none'"

// writeTimeout bounds writing one answer.
const writeTimeout = 30 * time.Second

// PollInterval is how often a visible page asks the API again (the pages
// read it from their data-poll-ms attribute). A variable so that tests may
// shorten it before they start a controller.
var PollInterval = 5 * time.Second

// LoginPath is the sign-in page a "not signed in" notice links to.
const LoginPath = "/login"

// Handler serves the dashboard's pages and assets.
type Handler struct {
	log   *slog.Logger
	b     *bundle
	pages map[string]*template.Template
}

// Page names, also the data-page attribute the scripts read.
const (
	pageFleet    = "fleet"
	pageDevice   = "device"
	pageModule   = "module"
	pageNotFound = "notfound"
	pageLogin    = "login"
)

// New returns the dashboard. The pages and assets are embedded at build
// time, so it panics only on a broken build, which the package's tests rule
// out (as template.Must would).
func New(log *slog.Logger) *Handler {
	b, err := loadBundle()
	if err != nil {
		panic(err)
	}
	h := &Handler{log: log, b: b, pages: map[string]*template.Template{}}
	funcs := template.FuncMap{"asset": b.URL, "panel": func(id, title string) panel { return panel{id, title} }}
	for _, p := range []string{pageFleet, pageDevice, pageModule, pageNotFound, pageLogin} {
		h.pages[p] = template.Must(template.New("layout.html").Funcs(funcs).ParseFS(files, "templates/layout.html", "templates/"+p+".html"))
	}
	return h
}

// Route is one of the dashboard's routes. The controller's API mounts
// them behind its access table (control/api/routes.go), which says who may
// see each.
type Route struct {
	Pattern string // http.ServeMux pattern
	Handler http.HandlerFunc
}

// Routes of the dashboard: its pages and their assets. The sign-in page is
// served by the API (it checks tokens) with Login.
func (h *Handler) Routes() []Route {
	return []Route{
		{"GET /{$}", h.fleet},
		{"GET /devices/{id}", h.device},
		{"GET /modules/{name}", h.module},
		{"GET " + AssetPrefix + "{version}/{file...}", h.asset},
	}
}

// Register adds the dashboard's routes to mux, with no access control
// (the package's own tests).
func (h *Handler) Register(mux *http.ServeMux) {
	for _, r := range h.Routes() {
		mux.HandleFunc(r.Pattern, r.Handler)
	}
}

// panel is a titled section the page's script fills (template "panel").
type panel struct{ ID, Title string }

// pageData is what a page template sees.
type pageData struct {
	Page   string
	Title  string
	Device string
	Module string
	Login  string
	Logout string
	PollMS int64
	// The sign-in page: where to go after it, and why the last try failed.
	Next, Problem string
}

func (h *Handler) fleet(w http.ResponseWriter, r *http.Request) {
	h.render(w, r, http.StatusOK, pageData{Page: pageFleet, Title: "Fleet"})
}

// device and module pages name their subject in the path; a name that
// cannot exist is answered 404 with the naming rule.
func (h *Handler) device(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	h.named(w, r, wire.ValidateDeviceID(id), pageData{Page: pageDevice, Title: id, Device: id})
}

func (h *Handler) module(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	h.named(w, r, wire.ValidateModuleName(name), pageData{Page: pageModule, Title: name, Module: name})
}

func (h *Handler) named(w http.ResponseWriter, r *http.Request, invalid error, d pageData) {
	if invalid != nil {
		d.Page, d.Title = pageNotFound, "Not found"
		h.render(w, r, http.StatusNotFound, d)
		return
	}
	h.render(w, r, http.StatusOK, d)
}

// securityHeaders are set on every answer.
func securityHeaders(w http.ResponseWriter) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", CSP)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "same-origin")
	hd.Set("X-Frame-Options", "DENY")
}

// render writes a page with no-cache and an ETag of its bytes.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, code int, d pageData) {
	d.Login, d.Logout, d.PollMS = LoginPath, LogoutPath, PollInterval.Milliseconds()
	var buf bytes.Buffer
	if err := h.pages[d.Page].Execute(&buf, d); err != nil {
		h.log.Error("render dashboard page", "page", d.Page, "err", err)
		http.Error(w, "internal error (see controller log)", http.StatusInternalServerError)
		return
	}
	sum := sha256.Sum256(buf.Bytes())
	securityHeaders(w)
	hd := w.Header()
	hd.Set("Cache-Control", "no-cache")
	hd.Set("Content-Type", contentTypes[".html"])
	serve(w, r, code, `"`+hex.EncodeToString(sum[:8])+`"`, buf.Bytes())
}

// asset serves an embedded file of the current bundle.
func (h *Handler) asset(w http.ResponseWriter, r *http.Request) {
	securityHeaders(w)
	a, ok := h.b.files[r.PathValue("file")]
	if r.PathValue("version") != h.b.version || !ok {
		w.Header().Set("Cache-Control", "no-store")
		http.Error(w, "no such asset in this controller version: reload the page", http.StatusNotFound)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", a.ctype)
	hd.Set("Cache-Control", "public, max-age=31536000, immutable")
	hd.Set("Vary", "Accept-Encoding")
	body, etag := a.body, a.etag
	if a.gz != nil && acceptsGzip(r.Header.Get("Accept-Encoding")) {
		body, etag = a.gz, etag[:len(etag)-1]+`-gz"`
		hd.Set("Content-Encoding", "gzip")
	}
	serve(w, r, http.StatusOK, etag, body)
}

// serve answers 304 when the request's If-None-Match names etag, else the
// body (none for HEAD).
func serve(w http.ResponseWriter, r *http.Request, code int, etag string, body []byte) {
	hd := w.Header()
	hd.Set("ETag", etag)
	if code == http.StatusOK && etagMatch(r.Header.Get("If-None-Match"), etag) {
		hd.Del("Content-Type")
		hd.Del("Content-Encoding")
		w.WriteHeader(http.StatusNotModified)
		return
	}
	hd.Set("Content-Length", strconv.Itoa(len(body)))
	// A client that stops reading holds its connection no longer than this.
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(writeTimeout))
	w.WriteHeader(code)
	if r.Method != http.MethodHead {
		w.Write(body)
	}
}
