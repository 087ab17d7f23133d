package orders

import (
	"errors"
	"strconv"

	"github.com/edgeplane/edge/modules/sdk"
	"github.com/edgeplane/edge/modules/sdk/jsonw"
)

func (s *service) root(w sdk.ResponseWriter, r *sdk.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write([]byte(Endpoints))
}

func (s *service) echo(w sdk.ResponseWriter, r *sdk.Request) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		w.Header().Set("Content-Type", ct)
	}
	w.Write(r.Body)
}

func (s *service) initTable(w sdk.ResponseWriter, r *sdk.Request) {
	if err := resetTable(r.Context(), s.db); err != nil {
		s.dbError(w, "init", err)
		return
	}
	s.writeStatusTrue(w)
}

func (s *service) createOrder(w sdk.ResponseWriter, r *sdk.Request) {
	o, err := DecodeOrder(r.Body)
	if err != nil {
		s.writeError(w, 400, err.Error())
		return
	}
	if err := insertOrders(r.Context(), s.db, []Order{o}); err != nil {
		s.dbError(w, "create order", err)
		return
	}
	s.writeStatusTrue(w)
}

func (s *service) createOrders(w sdk.ResponseWriter, r *sdk.Request) {
	list, err := DecodeOrders(r.Body)
	if err != nil {
		s.writeError(w, 400, err.Error())
		return
	}
	if err := insertOrders(r.Context(), s.db, list); err != nil {
		s.dbError(w, "create orders", err)
		return
	}
	s.writeStatusTrue(w)
}

// listOrders answers GET /orders: every order, or with limit or after one
// page of them (keyset paging, parsePage), with a Link to the next page
// when there is one.
func (s *service) listOrders(w sdk.ResponseWriter, r *sdk.Request) {
	pp, err := parsePage(r.URL.Query())
	if err != nil {
		s.writeError(w, 400, err.Error())
		return
	}
	jw := s.writers.Get().(*jsonw.Writer)
	defer s.writers.Put(jw)
	jw.Reset()
	var p page
	if pp.paged {
		p, err = writePage(r.Context(), s.rdb, jw, pp.limit, pp.after)
	} else {
		err = writeAllOrders(r.Context(), s.rdb, jw)
	}
	if err != nil {
		if errors.Is(err, sdk.ErrTooLarge) {
			// More orders than the host lets one answer hold: not the
			// client's fault (no 4xx), not a failure either (no 500).
			s.log(sdk.LevelWarn, "orders: list orders: "+err.Error())
			s.writeError(w, 507, "list orders: "+hostLimit(err)+pagingHint)
			return
		}
		s.dbError(w, "list orders", err)
		return
	}
	if p.more {
		w.Header().Set("Link", nextLink(pp.limit, p.last))
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(jw.Bytes())
}

// countOrders answers GET /orders/count: {"count":N}, by one COUNT(*), for
// clients that need the number and not the orders (modules/telemetry).
func (s *service) countOrders(w sdk.ResponseWriter, r *sdk.Request) {
	n, err := selectCount(r.Context(), s.db)
	if err != nil {
		s.dbError(w, "count orders", err)
		return
	}
	s.json(w, 200, func(jw *jsonw.Writer) {
		jw.BeginObject()
		jw.Key("count")
		jw.Int(n)
		jw.EndObject()
	})
}

func (s *service) updateOrder(w sdk.ResponseWriter, r *sdk.Request) {
	o, err := DecodeOrder(r.Body)
	if err != nil {
		s.writeError(w, 400, err.Error())
		return
	}
	if err := updateOrder(r.Context(), s.db, &o); err != nil {
		s.dbError(w, "update order", err)
		return
	}
	s.writeStatusTrue(w)
}

func (s *service) deleteOrder(w sdk.ResponseWriter, r *sdk.Request) {
	q := r.URL.Query()
	if !q.Has("id") {
		s.writeError(w, 400, "invalid request: missing query parameter id")
		return
	}
	id, err := strconv.ParseInt(q.Get("id"), 10, 32)
	if err != nil {
		s.writeError(w, 400, "invalid request: id must be a 32-bit integer, got "+strconv.Quote(q.Get("id")))
		return
	}
	if err := deleteOrder(r.Context(), s.db, int32(id)); err != nil {
		s.dbError(w, "delete order", err)
		return
	}
	s.writeStatusTrue(w)
}
