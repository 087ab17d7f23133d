package dashboard

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
)

//go:embed static templates
var files embed.FS

// AssetPrefix is the path under which assets are served, followed by the
// bundle version and the file name.
const AssetPrefix = "/ui/"

// contentTypes maps the extensions of embedded files to their content type.
// An embedded file with another extension is a build error (assets panics),
// caught by the package's tests.
var contentTypes = map[string]string{
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
	".html": "text/html; charset=utf-8",
	"":      "text/plain; charset=utf-8", // LICENSE, VERSION
}

// asset is one embedded file ready to serve.
type asset struct {
	body  []byte
	gz    []byte // nil when gzip does not make it smaller
	ctype string
	etag  string // quoted; the gzip form adds "-gz" inside the quotes
}

// bundle is every file under static/, by its path below static/, and the
// version naming them all.
type bundle struct {
	version string
	files   map[string]*asset
}

// loadBundle reads, hashes and compresses the embedded assets.
func loadBundle() (*bundle, error) {
	sub, err := fs.Sub(files, "static")
	if err != nil {
		return nil, err
	}
	b := &bundle{files: map[string]*asset{}}
	err = fs.WalkDir(sub, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := fs.ReadFile(sub, name)
		if err != nil {
			return err
		}
		ctype, ok := contentTypes[path.Ext(name)]
		if !ok {
			return fmt.Errorf("asset %s: no content type for %q", name, path.Ext(name))
		}
		sum := sha256.Sum256(body)
		a := &asset{body: body, ctype: ctype, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
		if gz := gzipped(body); len(gz) < len(body) {
			a.gz = gz
		}
		b.files[name] = a
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("dashboard assets: %w", err)
	}
	b.version = versionOf(b.files)
	return b, nil
}

// versionOf names a set of files: a hash of every name and content hash.
func versionOf(files map[string]*asset) string {
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	h := sha256.New()
	for _, n := range names {
		fmt.Fprintf(h, "%s\x00%s\x00", n, files[n].etag)
	}
	return hex.EncodeToString(h.Sum(nil)[:6])
}

func gzipped(b []byte) []byte {
	var buf bytes.Buffer
	w, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

// URL is the path of an embedded asset in this bundle.
func (b *bundle) URL(name string) string {
	if _, ok := b.files[name]; !ok {
		panic("dashboard: no asset " + name) // a template names a missing file: caught by tests
	}
	return AssetPrefix + b.version + "/" + name
}

// acceptsGzip reports whether an Accept-Encoding header allows gzip.
func acceptsGzip(header string) bool {
	for _, part := range strings.Split(header, ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if !strings.EqualFold(strings.TrimSpace(coding), "gzip") {
			continue
		}
		q := strings.ReplaceAll(strings.TrimSpace(params), " ", "")
		return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
	}
	return false
}

// etagMatch reports whether an If-None-Match header names etag (or *).
func etagMatch(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == etag || t == "*" {
			return true
		}
	}
	return false
}
