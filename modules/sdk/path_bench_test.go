//go:build !wasip1

package sdk

import (
	"context"
	"database/sql"
	"testing"

	"github.com/edgeplane/edge/modules/abi"
	"github.com/edgeplane/edge/modules/sdk/jsonw"
)

// BenchmarkGuestPath runs a guest's hot path natively: a Request frame
// through the frame server, a handler shaped like the order service's
// GET /orders (CORS headers, a 5-row query on the direct read path, JSON
// written with jsonw) and the Response frame. Its allocations are the
// guest's (go test -memprofile shows where they are); its time is not.
func BenchmarkGuestPath(b *testing.B) {
	db, _ := openEdgeDB(b)
	ctx := context.Background()
	for _, q := range []string{
		`CREATE TABLE orders (order_id INT, product_id INT, quantity INT, amount DOUBLE, shipping DOUBLE, tax DOUBLE, shipping_address VARCHAR(256))`,
		`INSERT INTO orders VALUES (1,12,2,56.0,15.0,2.0,'Mataderos 2312'),(2,15,3,256.0,30.0,16.0,'1234 NW Bobcat'),` +
			`(3,11,5,536.0,50.0,24.0,'20 Havelock'),(4,8,8,126.0,20.0,12.0,'224 Pandan Loop'),(5,24,1,46.0,10.0,2.0,'No.10 Jalan Besar')`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			b.Fatal(err)
		}
	}
	rdb := NewDB(db)
	names := []string{"order_id", "product_id", "quantity", "amount", "shipping", "tax", "shipping_address"}
	jw := &jsonw.Writer{}
	h := HandlerFunc(func(w ResponseWriter, r *Request) {
		hd := w.Header()
		hd.Set("Access-Control-Allow-Origin", "*")
		hd.Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
		hd.Set("Access-Control-Allow-Headers", "api,Keep-Alive,User-Agent,Content-Type")
		rows, err := rdb.QueryRows(r.Context(), `SELECT * FROM orders ORDER BY order_id`)
		if err != nil {
			b.Fatal(err)
		}
		defer rows.Close()
		var ints [3]sql.NullInt64
		var floats [3]sql.NullFloat64
		var addr sql.RawBytes
		jw.Reset()
		jw.BeginArray()
		for rows.Next() {
			if err := rows.Scan(&ints[0], &ints[1], &ints[2], &floats[0], &floats[1], &floats[2], &addr); err != nil {
				b.Fatal(err)
			}
			jw.BeginObject()
			for i, v := range ints {
				jw.Key(names[i])
				jw.Int(v.Int64)
			}
			for i, v := range floats {
				jw.Key(names[3+i])
				jw.Float(v.Float64)
			}
			jw.Key(names[6])
			jw.StringBytes(addr)
			jw.EndObject()
		}
		jw.EndArray()
		hd.Set("Content-Type", "application/json")
		w.Write(jw.Bytes())
	})
	s := &frameServer{h: h}
	frame := abi.AppendRequest(nil, &abi.Request{Method: "GET", URI: "/orders", RemoteAddr: "127.0.0.1:4000",
		Header: []abi.Header{{Name: "Host", Value: "127.0.0.1:8080"}, {Name: "Accept-Encoding", Value: "gzip"}, {Name: "User-Agent", Value: "Go-http-client/1.1"}}})
	b.ReportAllocs()
	for b.Loop() {
		buf := s.alloc(len(frame))
		copy(buf, frame)
		if resp := s.handle(buf); resp[0] != 200 {
			b.Fatalf("status %d", resp[0])
		}
	}
}
