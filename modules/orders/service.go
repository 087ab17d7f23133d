package orders

import (
	"database/sql"
	"errors"
	"sync"

	"github.com/edgeplane/edge/modules/sdk"
	"github.com/edgeplane/edge/modules/sdk/jsonw"
)

// Endpoints is the body of GET /, as the demo sent it.
const Endpoints = "The valid endpoints are /init /create_order /create_orders /update_order /orders /delete_order"

// Option configures a service.
type Option func(*service)

// WithLog sets the function the service logs database failures and
// panics with; the default is sdk.Log (the host's log in a guest, slog's
// default logger natively).
func WithLog(log func(level sdk.Level, msg string)) Option {
	return func(s *service) { s.log = log }
}

type service struct {
	db      *sql.DB
	rdb     *sdk.DB // db with the direct read path, for GET /orders
	log     func(sdk.Level, string)
	mux     *sdk.ServeMux
	writers sync.Pool // *jsonw.Writer, reused between requests
}

// New returns the order service's handler over db, which must reach a
// SQLite or MySQL/MariaDB database (the SQL is common to both).
func New(db *sql.DB, opts ...Option) sdk.Handler {
	s := &service{db: db, rdb: sdk.NewDB(db), log: sdk.Log}
	for _, o := range opts {
		o(s)
	}
	s.writers.New = func() any { return &jsonw.Writer{Buf: make([]byte, 0, 4096)} }
	m := sdk.NewServeMux()
	m.HandleFunc("GET /", s.root)
	m.HandleFunc("POST /echo", s.echo)
	m.HandleFunc("GET /init", s.initTable)
	m.HandleFunc("POST /create_order", s.createOrder)
	m.HandleFunc("POST /create_orders", s.createOrders)
	m.HandleFunc("GET /orders", s.listOrders)
	m.HandleFunc("GET /orders/count", s.countOrders)
	m.HandleFunc("POST /update_order", s.updateOrder)
	m.HandleFunc("GET /delete_order", s.deleteOrder)
	m.Error = func(w sdk.ResponseWriter, _ *sdk.Request, status int) {
		if status == 405 {
			s.writeError(w, status, "method not allowed")
			return
		}
		s.writeError(w, status, "not found")
	}
	s.mux = m
	return s
}

// ServeHTTP adds the demo's CORS headers to every response and answers
// OPTIONS (a CORS preflight) on any path.
func (s *service) ServeHTTP(w sdk.ResponseWriter, r *sdk.Request) {
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
	h.Set("Access-Control-Allow-Headers", "api,Keep-Alive,User-Agent,Content-Type")
	if r.Method == "OPTIONS" {
		w.WriteHeader(200)
		return
	}
	s.mux.ServeHTTP(w, r)
}

// json runs fill on a pooled writer and sends the result with status.
func (s *service) json(w sdk.ResponseWriter, status int, fill func(*jsonw.Writer)) {
	jw := s.writers.Get().(*jsonw.Writer)
	jw.Reset()
	fill(jw)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(jw.Bytes())
	s.writers.Put(jw)
}

func (s *service) writeError(w sdk.ResponseWriter, status int, msg string) {
	s.json(w, status, func(jw *jsonw.Writer) {
		jw.BeginObject()
		jw.Key("error")
		jw.String(msg)
		jw.EndObject()
	})
}

// writeStatusTrue sends the demo's success body of mutating calls.
func (s *service) writeStatusTrue(w sdk.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	w.Write([]byte(`{"status":true}`))
}

// dbError answers a failed database operation: 503 if the database could
// not be reached, 413 if the request needs more than a limit of the host
// allows (the message names the limit), else 500. The detail of a 500 goes
// to the log, not to the client.
func (s *service) dbError(w sdk.ResponseWriter, op string, err error) {
	switch {
	case sdk.IsUnavailable(err):
		s.log(sdk.LevelWarn, "orders: "+op+": database unavailable: "+err.Error())
		s.writeError(w, 503, "database unavailable: "+op)
	case errors.Is(err, sdk.ErrTooLarge):
		s.log(sdk.LevelWarn, "orders: "+op+": "+err.Error())
		s.writeError(w, 413, op+": "+hostLimit(err))
	default:
		s.log(sdk.LevelError, "orders: "+op+": "+err.Error())
		s.writeError(w, 500, "database error: "+op)
	}
}

// hostLimit is the host's message about the limit err ran into.
func hostLimit(err error) string {
	var he *sdk.HostError
	if errors.As(err, &he) {
		return he.Message
	}
	return err.Error()
}
