package dashboard

import (
	"bytes"
	"compress/gzip"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"regexp"
	"strings"
	"testing"
)

func newServer(t *testing.T) (*Handler, *httptest.Server) {
	t.Helper()
	h := New(slog.New(slog.DiscardHandler))
	mux := http.NewServeMux()
	h.Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return h, srv
}

func get(t *testing.T, url string, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	// The transport would ask for gzip and decode it itself.
	tr := &http.Transport{DisableCompression: true}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

// TestPages: each page is HTML with the CSP and security headers, no-cache
// with an ETag that a revalidation matches, names its subject, and every
// asset it references is served with its content type.
func TestPages(t *testing.T) {
	_, srv := newServer(t)
	tests := []struct {
		path, page, subject string
	}{
		{"/", pageFleet, ""},
		{"/devices/pi-1", pageDevice, `data-device="pi-1"`},
		{"/devices/a.b_c-9", pageDevice, `data-device="a.b_c-9"`},
		{"/modules/orders", pageModule, `data-module="orders"`},
	}
	refRe := regexp.MustCompile(`(?:src|href)="(/ui/[^"]+)"`)
	for _, tt := range tests {
		resp, body := get(t, srv.URL+tt.path)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d", tt.path, resp.StatusCode)
		}
		checkHeaders(t, tt.path, resp, "text/html; charset=utf-8")
		if got := resp.Header.Get("Cache-Control"); got != "no-cache" {
			t.Errorf("GET %s: Cache-Control %q, want no-cache", tt.path, got)
		}
		if !bytes.Contains(body, []byte(`data-page="`+tt.page+`"`)) || !bytes.Contains(body, []byte(tt.subject)) ||
			!bytes.Contains(body, []byte(`data-poll-ms="5000"`)) || !bytes.Contains(body, []byte(`data-login="/login"`)) {
			t.Errorf("GET %s: page does not name page %s, %s, the 5 s poll and the sign-in page:\n%s", tt.path, tt.page, tt.subject, body)
		}
		etag := resp.Header.Get("ETag")
		if resp, body := get(t, srv.URL+tt.path, "If-None-Match", etag); resp.StatusCode != 304 || len(body) != 0 {
			t.Errorf("GET %s with If-None-Match %s: %d with %d bytes, want 304 and none", tt.path, etag, resp.StatusCode, len(body))
		}
		refs := refRe.FindAllStringSubmatch(string(body), -1)
		if len(refs) < 3 { // icon, stylesheet, script
			t.Errorf("GET %s: %d assets referenced, want at least 3", tt.path, len(refs))
		}
		for _, m := range refs {
			resp, _ := get(t, srv.URL+m[1])
			want := contentTypes[path.Ext(m[1])]
			if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != want {
				t.Errorf("%s references %s: %d %q, want 200 %q", tt.path, m[1], resp.StatusCode, resp.Header.Get("Content-Type"), want)
			}
		}
	}
}

func checkHeaders(t *testing.T, what string, resp *http.Response, ctype string) {
	t.Helper()
	for k, want := range map[string]string{
		"Content-Type":            ctype,
		"Content-Security-Policy": CSP,
		"X-Content-Type-Options":  "nosniff",
		"X-Frame-Options":         "DENY",
		"Referrer-Policy":         "same-origin",
	} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("%s: %s %q, want %q", what, k, got, want)
		}
	}
	if resp.Header.Get("ETag") == "" {
		t.Errorf("%s: no ETag", what)
	}
}

// TestBadNames: a device or module name that cannot exist is a 404 page
// that explains the rule; the name is escaped, never markup.
func TestBadNames(t *testing.T) {
	_, srv := newServer(t)
	for _, p := range []string{"/devices/-x", "/devices/" + strings.Repeat("a", 64), "/modules/a%3Cb%3E", "/devices/%22onload=x"} {
		resp, body := get(t, srv.URL+p)
		if resp.StatusCode != 404 {
			t.Errorf("GET %s: %d, want 404", p, resp.StatusCode)
		}
		checkHeaders(t, p, resp, "text/html; charset=utf-8")
		if !bytes.Contains(body, []byte("names are 1–63 letters")) {
			t.Errorf("GET %s: page does not explain the naming rule:\n%s", p, body)
		}
		if bytes.Contains(body, []byte("<b>")) || bytes.Contains(body, []byte(`"onload`)) {
			t.Errorf("GET %s: the name reached the page unescaped:\n%s", p, body)
		}
	}
}

// TestAssets: immutable caching under the bundle version, gzip only when
// accepted (and then the same bytes), 304 on a matching ETag, HEAD without
// a body, and 404 (not cached) for another version or an unknown file.
func TestAssets(t *testing.T) {
	h, srv := newServer(t)
	raw, _ := fs.ReadFile(files, "static/common.js")
	url := srv.URL + h.b.URL("common.js")

	resp, body := get(t, url)
	checkHeaders(t, "common.js", resp, "text/javascript; charset=utf-8")
	if !bytes.Equal(body, raw) || resp.Header.Get("Content-Encoding") != "" {
		t.Errorf("plain GET: %d bytes, encoding %q; want the file as it is", len(body), resp.Header.Get("Content-Encoding"))
	}
	if got := resp.Header.Get("Cache-Control"); got != "public, max-age=31536000, immutable" {
		t.Errorf("Cache-Control %q, want immutable for a year", got)
	}
	if got := resp.Header.Get("Vary"); got != "Accept-Encoding" {
		t.Errorf("Vary %q, want Accept-Encoding", got)
	}

	resp, body = get(t, url, "Accept-Encoding", "br, gzip;q=0.8")
	if resp.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("Accept-Encoding gzip: encoding %q, want gzip", resp.Header.Get("Content-Encoding"))
	}
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if unzipped, _ := io.ReadAll(zr); !bytes.Equal(unzipped, raw) || len(body) >= len(raw) {
		t.Errorf("gzip answer: %d bytes unzip to %d; want smaller and the same file", len(body), len(unzipped))
	}
	gzTag := resp.Header.Get("ETag")
	if resp, _ := get(t, url, "Accept-Encoding", "gzip;q=0"); resp.Header.Get("Content-Encoding") != "" {
		t.Errorf("gzip;q=0 got %q encoding, want none", resp.Header.Get("Content-Encoding"))
	}
	if resp, _ := get(t, url, "Accept-Encoding", "gzip", "If-None-Match", gzTag); resp.StatusCode != 304 {
		t.Errorf("revalidation with %s: %d, want 304", gzTag, resp.StatusCode)
	}
	if resp, _ := get(t, url, "If-None-Match", gzTag); resp.StatusCode != 200 {
		t.Errorf("revalidation of the plain file with the gzip ETag: %d, want 200", resp.StatusCode)
	}

	req, _ := http.NewRequest("HEAD", url, nil)
	hr, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	hr.Body.Close()
	if hr.StatusCode != 200 || hr.ContentLength != int64(len(raw)) {
		t.Errorf("HEAD: %d, length %d; want 200, %d", hr.StatusCode, hr.ContentLength, len(raw))
	}

	for _, p := range []string{"/ui/000000000000/common.js", AssetPrefix + h.b.version + "/nope.js", AssetPrefix + h.b.version + "/", AssetPrefix + h.b.version + "/../dashboard.go"} {
		resp, _ := get(t, srv.URL+p)
		if resp.StatusCode != 404 || resp.Header.Get("Cache-Control") == "public, max-age=31536000, immutable" {
			t.Errorf("GET %s: %d, Cache-Control %q; want 404, not cached", p, resp.StatusCode, resp.Header.Get("Cache-Control"))
		}
	}
}

// TestBundle: every embedded file has a content type, the version changes
// with any file, and the vendored chart library is the recorded version.
func TestBundle(t *testing.T) {
	b, err := loadBundle()
	if err != nil {
		t.Fatal(err)
	}
	if len(b.version) != 12 {
		t.Errorf("version %q, want 12 hex digits", b.version)
	}
	if again, _ := loadBundle(); again.version != b.version {
		t.Fatal("loadBundle is not deterministic")
	}
	b.files["app.css"].etag = `"changed"`
	if versionOf(b.files) == b.version {
		t.Error("changing one file keeps the bundle version: browsers would keep the old file")
	}
	b.files["app.css"] = nil
	delete(b.files, "app.css")
	b.files["app2.css"] = &asset{etag: `"changed"`}
	if versionOf(b.files) == b.version {
		t.Error("renaming a file keeps the bundle version")
	}
	version, _ := fs.ReadFile(files, "static/vendor/uplot/VERSION")
	lib, _ := fs.ReadFile(files, "static/vendor/uplot/uPlot.iife.min.js")
	script, err := os.ReadFile("vendor.sh")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^RECORDED_VERSION=(\S+)$`).FindSubmatch(script)
	if m == nil {
		t.Fatal("vendor.sh records no RECORDED_VERSION")
	}
	v := string(m[1])
	if !strings.HasPrefix(string(version), "uplot "+v+" sha512-") || !bytes.HasPrefix(lib, []byte("/*! https://github.com/leeoniya/uPlot (v"+v+") */")) {
		t.Errorf("vendored uPlot: VERSION %q, banner %q; want both at %s (vendor.sh)", version, lib[:60], v)
	}
	if _, err := fs.Stat(files, "static/vendor/uplot/LICENSE"); err != nil {
		t.Errorf("the vendored library's license is missing: %v", err)
	}
}

// TestNoUnsafeMarkup keeps the pages within their CSP and away from HTML
// injection: no inline script or style in the templates, no event-handler
// attributes, and in the scripts no HTML sinks, eval or string timers. (The
// CSP would block most of these at run time; the browser tests check the
// console for violations.)
func TestNoUnsafeMarkup(t *testing.T) {
	bad := map[string]*regexp.Regexp{
		".html": regexp.MustCompile(`<script(?:\s[^>]*)?>[^<\s]|<style|\sstyle=|\son[a-z]+=|javascript:`),
		".js":   regexp.MustCompile(`innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function|setTimeout\(["'\x60]|setAttribute\(["']style|\.cssText`),
	}
	n := 0
	for _, dir := range []string{"templates", "static"} {
		fs.WalkDir(files, dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || strings.Contains(p, "/vendor/") {
				return err
			}
			re := bad[path.Ext(p)]
			if re == nil {
				return nil
			}
			n++
			body, _ := fs.ReadFile(files, p)
			for _, m := range re.FindAll(body, -1) {
				t.Errorf("%s: %q", p, m)
			}
			return nil
		})
	}
	if n < 8 {
		t.Fatalf("checked %d files; want every template and script", n)
	}
}

// TestModuleImports: every relative import of a script names an embedded
// file (a typo is a 404 only a browser would see).
func TestModuleImports(t *testing.T) {
	importRe := regexp.MustCompile(`from "\./([^"]+)"`)
	entries, _ := fs.ReadDir(files, "static")
	for _, e := range entries {
		if path.Ext(e.Name()) != ".js" {
			continue
		}
		body, _ := fs.ReadFile(files, "static/"+e.Name())
		for _, m := range importRe.FindAllSubmatch(body, -1) {
			if _, err := fs.Stat(files, "static/"+string(m[1])); err != nil {
				t.Errorf("%s imports %s: %v", e.Name(), m[1], err)
			}
		}
	}
}

func TestAcceptsGzip(t *testing.T) {
	tests := []struct {
		header string
		want   bool
	}{
		{"", false},
		{"gzip", true},
		{"GZIP", true},
		{"gzip, deflate, br", true},
		{"br;q=1.0, gzip;q=0.5", true},
		{"gzip;q=0", false},
		{"gzip; q=0.000", false},
		{"deflate", false},
		{"x-gzip", false},
		{"*", false}, // not worth the ambiguity: served plain
	}
	for _, tt := range tests {
		if got := acceptsGzip(tt.header); got != tt.want {
			t.Errorf("acceptsGzip(%q) = %v, want %v", tt.header, got, tt.want)
		}
	}
}

func TestETagMatch(t *testing.T) {
	tests := []struct {
		header, etag string
		want         bool
	}{
		{`"abc"`, `"abc"`, true},
		{`W/"abc"`, `"abc"`, true},
		{`"x", "abc"`, `"abc"`, true},
		{`*`, `"abc"`, true},
		{`"abc-gz"`, `"abc"`, false},
		{``, `"abc"`, false},
		{`abc`, `"abc"`, false},
	}
	for _, tt := range tests {
		if got := etagMatch(tt.header, tt.etag); got != tt.want {
			t.Errorf("etagMatch(%q, %q) = %v, want %v", tt.header, tt.etag, got, tt.want)
		}
	}
}

// FuzzRequestHeaders: the two request headers the dashboard parses never
// panic, and spaces around a header never change what it means.
func FuzzRequestHeaders(f *testing.F) {
	for _, s := range []string{"gzip", "br, gzip;q=0.5", "gzip;q=0", `W/"a", "b"`, "*", ",,;=", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		padded := " " + header + "\t"
		if acceptsGzip(header) != acceptsGzip(padded) {
			t.Errorf("acceptsGzip(%q) != acceptsGzip(%q)", header, padded)
		}
		if etagMatch(header, `"abc"`) != etagMatch(padded, `"abc"`) {
			t.Errorf("etagMatch(%q) != etagMatch(%q)", header, padded)
		}
	})
}
