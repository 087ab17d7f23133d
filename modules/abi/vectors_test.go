package abi

import (
	"bytes"
	"encoding/hex"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"
)

var updateVectors = flag.Bool("update", false, "rewrite testdata/vectors.txt")

// A vector is one frame and this package's verdict on it. Guests in other
// languages (the Rust SDK's tests read testdata/vectors.txt) must decode
// the frames this package decodes, refuse the ones it refuses, and encode
// what they decode back to the same bytes.
type vector struct {
	kind  string // a key of vectorKinds
	frame []byte
}

// vectorKinds maps each kind to this package's decoder.
var vectorKinds = map[string]func([]byte) error{
	"request":      func(b []byte) error { _, err := DecodeRequest(b); return err },
	"response":     func(b []byte) error { _, err := DecodeResponse(b); return err },
	"sqlrequest":   func(b []byte) error { _, err := DecodeSQLRequest(b); return err },
	"fetchrequest": func(b []byte) error { _, err := DecodeFetchRequest(b); return err },
	"fetchresult":  func(b []byte) error { _, err := DecodeFetchResult(b); return err },
	"query":        func(b []byte) error { _, err := DecodeSQLResult(OpQuery, b); return err },
	"exec":         func(b []byte) error { _, err := DecodeSQLResult(OpExec, b); return err },
	"begin":        func(b []byte) error { _, err := DecodeSQLResult(OpBegin, b); return err },
	"end":          func(b []byte) error { _, err := DecodeSQLResult(OpCommit, b); return err },
	"publish":      func(b []byte) error { _, err := DecodePublishRequest(b); return err },
	"message":      func(b []byte) error { _, err := DecodeMessage(b); return err },
	"timer":        func(b []byte) error { _, err := DecodeTimer(b); return err },
}

// wellFormed are frames of every kind, with the values at their edges.
func wellFormed() []vector {
	hs := []Header{{"Host", "example.com"}, {"Content-Type", "application/json"}, {"X-Twice", "1"}, {"X-Twice", "2"}, {"X-Empty", ""}}
	hostErr := &Error{Code: CodeUnavailable, Message: "dial tcp 127.0.0.1:3306: connection refused"}
	var vs []vector
	add := func(kind string, b []byte) { vs = append(vs, vector{kind, b}) }
	add("request", AppendRequest(nil, &Request{}))
	add("request", AppendRequest(nil, &Request{Method: "POST", URI: "/create_order?x=%20", RemoteAddr: "127.0.0.1:40000",
		Header: hs, Body: []byte(`{"order_id":1}`)}))
	add("request", AppendRequest(nil, &Request{Method: "GET", URI: "/\xff", Body: []byte{0, 0xff}}))
	add("response", AppendResponse(nil, &Response{Status: 200}))
	add("response", AppendResponse(nil, &Response{Status: 599, Header: hs, Body: []byte("body\x00")}))
	add("response", AppendResponse(nil, &Response{Status: 100}))
	add("sqlrequest", AppendSQLRequest(nil, &SQLRequest{Op: OpBegin}))
	add("sqlrequest", AppendSQLRequest(nil, &SQLRequest{Op: OpExec, Tx: 3, Query: "INSERT INTO t VALUES (?, ?, ?, ?, ?)",
		Args: []Value{Null(), Int(math.MinInt64), Float(-0.0), Text("héllo"), Blob([]byte{0, 1, 2})}}))
	add("sqlrequest", AppendSQLRequest(nil, &SQLRequest{Op: OpQuery, Query: "SELECT ?", Args: []Value{Float(math.Inf(1))}}))
	add("sqlrequest", AppendSQLRequest(nil, &SQLRequest{Op: OpRollback, Tx: math.MaxUint32}))
	add("fetchrequest", AppendFetchRequest(nil, &FetchRequest{}))
	add("fetchrequest", AppendFetchRequest(nil, &FetchRequest{Method: "PUT", URL: "https://inventory.local/stock?id=1",
		Header: hs, Body: []byte("{}"), TimeoutMS: 2500}))
	add("fetchresult", AppendFetchResult(nil, &FetchResult{Response: Response{Status: 418, Header: hs[:2], Body: []byte("tea")}}))
	add("fetchresult", AppendFetchResult(nil, &FetchResult{Err: &Error{Code: CodeDenied, Message: "host not allowed"}}))
	add("query", AppendSQLResult(nil, OpQuery, &SQLResult{Columns: []Column{{"order_id", "INT"}, {"amount", "DOUBLE"},
		{"shipping_address", "VARCHAR"}, {"b", "BLOB"}},
		Rows: [][]Value{{Int(1), Float(56), Text("Mataderos 2312"), Null()}, {Null(), Float(math.NaN()), Text(""), Blob([]byte{0xff})}}}))
	add("query", AppendSQLResult(nil, OpQuery, &SQLResult{Columns: []Column{{"x", ""}}}))
	add("query", AppendSQLResult(nil, OpQuery, &SQLResult{}))
	add("query", AppendSQLResult(nil, OpQuery, &SQLResult{Err: hostErr}))
	add("exec", AppendSQLResult(nil, OpExec, &SQLResult{LastInsertID: -1, RowsAffected: math.MaxInt64}))
	add("exec", AppendSQLResult(nil, OpExec, &SQLResult{Err: &Error{Code: 99, Message: "a code from a newer host"}}))
	add("begin", AppendSQLResult(nil, OpBegin, &SQLResult{Tx: 1}))
	add("begin", AppendSQLResult(nil, OpBegin, &SQLResult{Err: &Error{Code: CodeTimeout}}))
	add("end", AppendSQLResult(nil, OpCommit, &SQLResult{}))
	add("end", AppendSQLResult(nil, OpCommit, &SQLResult{Err: &Error{Code: CodeBadTx, Message: "no open transaction 9"}}))
	add("publish", AppendPublishRequest(nil, &PublishRequest{Topic: "alerts/hot", Payload: []byte("42"), QoS: 1}))
	add("publish", AppendPublishRequest(nil, &PublishRequest{Retain: true}))
	add("publish", AppendPublishRequest(nil, &PublishRequest{Topic: "x/\xff", Payload: []byte{0, 0xff}, Retain: true}))
	add("message", AppendMessage(nil, &Message{ID: math.MaxUint64, Attempt: 5, Filter: "edge/v1/dev/{device}/in/t/#",
		Topic: "edge/v1/dev/d1/in/t/a", Payload: []byte(`{"t":21.5}`), QoS: 1, Retain: true}))
	add("message", AppendMessage(nil, &Message{}))
	add("timer", AppendTimer(nil, &Timer{Name: "tick", ScheduledMS: 1764489600000, Missed: 3}))
	add("timer", AppendTimer(nil, &Timer{ScheduledMS: math.MinInt64, Missed: math.MaxUint32}))
	return vs
}

// verdict is this package's judgement of a frame: 'o' decoded, 'e' refused.
func verdict(kind string, frame []byte) byte {
	if vectorKinds[kind](frame) != nil {
		return 'e'
	}
	return 'o'
}

// renderVectors writes each well-formed frame with this package's verdict
// on frames derived from it: every truncation, one trailing byte, and
// each byte replaced by 0x00 and by 0xff (counts and lengths out of range,
// unknown kinds and codes). Derived verdicts are one character per
// position ('-' where the byte already has that value), which keeps the
// file small.
func renderVectors() []byte {
	var b bytes.Buffer
	b.WriteString("# Frames of the host ABI and modules/abi's verdict on frames derived from\n")
	b.WriteString("# them (o: decodes, e: refused). Generated by\n")
	b.WriteString("#   go test ./modules/abi -run TestVectors -update\n")
	b.WriteString("# Guests in other languages check their codecs against it (modules/sdk-rs).\n")
	b.WriteString("# frame KIND HEX, then for that frame:\n")
	b.WriteString("#   truncate V...   verdict on frame[:n] for n = 0 .. len-1\n")
	b.WriteString("#   trailing V      verdict on the frame followed by one 0x00 byte\n")
	b.WriteString("#   zero V...       verdict with frame[i] = 0x00, for each i\n")
	b.WriteString("#   ones V...       verdict with frame[i] = 0xff, for each i\n")
	for _, v := range wellFormed() {
		fmt.Fprintf(&b, "frame %s %s\n", v.kind, hex.EncodeToString(v.frame))
		trunc := make([]byte, len(v.frame))
		for n := range v.frame {
			trunc[n] = verdict(v.kind, v.frame[:n])
		}
		fmt.Fprintf(&b, "truncate %s\n", trunc)
		fmt.Fprintf(&b, "trailing %c\n", verdict(v.kind, append(bytes.Clone(v.frame), 0)))
		for _, set := range []struct {
			name string
			c    byte
		}{{"zero", 0x00}, {"ones", 0xff}} {
			line := make([]byte, len(v.frame))
			for i := range v.frame {
				if v.frame[i] == set.c {
					line[i] = '-'
					continue
				}
				m := bytes.Clone(v.frame)
				m[i] = set.c
				line[i] = verdict(v.kind, m)
			}
			fmt.Fprintf(&b, "%s %s\n", set.name, line)
		}
	}
	return b.Bytes()
}

// TestVectors keeps testdata/vectors.txt in step with this package.
func TestVectors(t *testing.T) {
	path := filepath.Join("testdata", "vectors.txt")
	want := renderVectors()
	if *updateVectors {
		if err := os.WriteFile(path, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s is stale: run go test ./modules/abi -run TestVectors -update", path)
	}
	for _, v := range wellFormed() {
		if err := vectorKinds[v.kind](v.frame); err != nil {
			t.Errorf("well-formed %s frame %x: %v", v.kind, v.frame, err)
		}
	}
}
