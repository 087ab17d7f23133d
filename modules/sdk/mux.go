package sdk

import "strings"

// ServeMux routes requests by exact path and method. It is deliberately
// smaller than net/http's: no wildcards, no prefix matches, no host
// patterns, which is all a module's fixed set of endpoints needs.
//
// Methods are matched as net/http's ServeMux matches them: a GET pattern
// also answers HEAD (the host sends the headers of the GET response,
// Content-Length included, and no body), unless a HEAD pattern is
// registered for the path. A request whose path is registered but not for
// its method gets 405 with an Allow header listing the methods that would
// match, sorted (HEAD included wherever GET is); an unregistered path gets
// 404. Both go through Error.
type ServeMux struct {
	routes map[string]*route
	// Error writes the 404 and 405 responses; nil writes a short plain
	// text body. The Allow header is already set for a 405.
	Error func(w ResponseWriter, r *Request, status int)
}

type route struct {
	methods map[string]Handler // "" matches any method
	allow   string
}

// NewServeMux returns an empty ServeMux.
func NewServeMux() *ServeMux { return &ServeMux{routes: make(map[string]*route)} }

// Handle registers h for pattern, "METHOD /path" or "/path" (any method).
// It panics on a malformed or duplicate pattern, which is a programming
// error found at start-up.
func (m *ServeMux) Handle(pattern string, h Handler) {
	method, path, ok := strings.Cut(pattern, " ")
	if !ok {
		method, path = "", pattern
	}
	if !strings.HasPrefix(path, "/") || h == nil {
		panic("sdk: invalid pattern or nil handler: " + pattern)
	}
	if m.routes == nil {
		m.routes = make(map[string]*route)
	}
	rt := m.routes[path]
	if rt == nil {
		rt = &route{methods: make(map[string]Handler)}
		m.routes[path] = rt
	}
	if _, dup := rt.methods[method]; dup {
		panic("sdk: duplicate pattern: " + pattern)
	}
	rt.methods[method] = h
	var allow []string
	for meth := range rt.methods {
		if meth != "" {
			allow = append(allow, meth)
		}
	}
	if _, get := rt.methods["GET"]; get {
		if _, head := rt.methods["HEAD"]; !head {
			allow = append(allow, "HEAD")
		}
	}
	sortStrings(allow)
	rt.allow = strings.Join(allow, ", ")
}

// HandleFunc registers f for pattern.
func (m *ServeMux) HandleFunc(pattern string, f func(ResponseWriter, *Request)) {
	m.Handle(pattern, HandlerFunc(f))
}

// ServeHTTP dispatches r.
func (m *ServeMux) ServeHTTP(w ResponseWriter, r *Request) {
	rt := m.routes[r.URL.Path]
	if rt == nil {
		m.fail(w, r, 404)
		return
	}
	if h := rt.methods[r.Method]; h != nil {
		h.ServeHTTP(w, r)
		return
	}
	if h := rt.methods["GET"]; h != nil && r.Method == "HEAD" {
		h.ServeHTTP(w, r)
		return
	}
	if h := rt.methods[""]; h != nil {
		h.ServeHTTP(w, r)
		return
	}
	w.Header().Set("Allow", rt.allow)
	m.fail(w, r, 405)
}

func (m *ServeMux) fail(w ResponseWriter, r *Request, status int) {
	if m.Error != nil {
		m.Error(w, r, status)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	if status == 405 {
		w.Write([]byte("405 method not allowed\n"))
	} else {
		w.Write([]byte("404 page not found\n"))
	}
}
