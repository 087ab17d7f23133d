package abi

import (
	"errors"
	"math"
	"reflect"
	"testing"
)

func TestRequestRoundTrip(t *testing.T) {
	tests := []Request{
		{},
		{Method: "GET", URI: "/orders?x=1", RemoteAddr: "127.0.0.1:5555"},
		{Method: "POST", URI: "/echo", Header: []Header{{"Content-Type", "application/json"}, {"X-A", "1"}, {"X-A", "2"}}, Body: []byte(`{"a":1}`)},
	}
	for _, want := range tests {
		got, err := DecodeRequest(AppendRequest(nil, &want))
		if err != nil {
			t.Fatalf("DecodeRequest(%+v): %v", want, err)
		}
		if len(want.Body) == 0 {
			want.Body = nil
		}
		if len(got.Body) == 0 {
			got.Body = nil
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("round trip: got %+v, want %+v", got, want)
		}
	}
}

func TestResponseRoundTrip(t *testing.T) {
	want := Response{Status: 201, Header: []Header{{"Content-Type", "text/plain"}}, Body: []byte("hi")}
	got, err := DecodeResponse(AppendResponse(nil, &want))
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v, %v; want %+v", got, err, want)
	}
	for _, status := range []int{0, 99, 600, 65535} {
		_, err := DecodeResponse(AppendResponse(nil, &Response{Status: status}))
		if !errors.Is(err, ErrFrame) {
			t.Errorf("status %d: err = %v, want ErrFrame", status, err)
		}
	}
}

func TestSQLRoundTrip(t *testing.T) {
	req := SQLRequest{Op: OpQuery, Tx: 7, Query: "SELECT ?", Args: []Value{Null(), Int(-5), Float(math.Pi), Text("héllo"), Blob([]byte{0, 1})}}
	gotReq, err := DecodeSQLRequest(AppendSQLRequest(nil, &req))
	if err != nil || !reflect.DeepEqual(gotReq, req) {
		t.Fatalf("request: got %+v, %v; want %+v", gotReq, err, req)
	}
	tests := []struct {
		op  SQLOp
		res SQLResult
	}{
		{OpQuery, SQLResult{Columns: []Column{{"a", "INTEGER"}, {"b", "TEXT"}}, Rows: [][]Value{{Int(1), Text("x")}, {Null(), Text("")}}}},
		{OpQuery, SQLResult{Columns: []Column{{"a", "INTEGER"}}}},
		{OpExec, SQLResult{LastInsertID: 42, RowsAffected: 3}},
		{OpBegin, SQLResult{Tx: 9}},
		{OpCommit, SQLResult{}},
		{OpExec, SQLResult{Err: &Error{Code: CodeUnavailable, Message: "connection refused"}}},
	}
	for _, tt := range tests {
		got, err := DecodeSQLResult(tt.op, AppendSQLResult(nil, tt.op, &tt.res))
		if err != nil || !reflect.DeepEqual(got, tt.res) {
			t.Errorf("op %d: got %+v, %v; want %+v", tt.op, got, err, tt.res)
		}
	}
}

func TestStreamedRows(t *testing.T) {
	cols := []Column{{"id", "INTEGER"}}
	b := append([]byte(nil), 0)
	b = AppendColumns(b, cols)
	b, off := AppendRowCount(b)
	for i := int64(0); i < 3; i++ {
		v := Int(i)
		b = AppendRowValue(b, &v)
	}
	PatchRowCount(b, off, 3)
	got, err := DecodeSQLResult(OpQuery, b)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Rows) != 3 || got.Rows[2][0].Int != 2 {
		t.Errorf("rows = %+v, want 3 rows 0..2", got.Rows)
	}
}

func TestFetchRoundTrip(t *testing.T) {
	req := FetchRequest{Method: "POST", URL: "http://eu.httpbin.org/post", Header: []Header{{"A", "b"}}, Body: []byte("msg=WasmEdge"), TimeoutMS: 1500}
	got, err := DecodeFetchRequest(AppendFetchRequest(nil, &req))
	if err != nil || !reflect.DeepEqual(got, req) {
		t.Fatalf("got %+v, %v; want %+v", got, err, req)
	}
	for _, res := range []FetchResult{
		{Response: Response{Status: 200, Body: []byte("ok")}},
		{Err: &Error{Code: CodeDenied, Message: "host not allowed"}},
	} {
		got, err := DecodeFetchResult(AppendFetchResult(nil, &res))
		if err != nil || !reflect.DeepEqual(got, res) {
			t.Errorf("got %+v, %v; want %+v", got, err, res)
		}
	}
}

// TestMalformed feeds each decoder bad input: truncations of a valid frame,
// trailing bytes, unknown tags and counts larger than the frame.
func TestMalformed(t *testing.T) {
	valid := AppendSQLRequest(nil, &SQLRequest{Op: OpExec, Query: "INSERT", Args: []Value{Int(1), Text("a")}})
	for n := 0; n < len(valid); n++ {
		if _, err := DecodeSQLRequest(valid[:n]); !errors.Is(err, ErrFrame) {
			t.Errorf("truncated to %d bytes: err = %v, want ErrFrame", n, err)
		}
	}
	if _, err := DecodeSQLRequest(append(valid, 0)); !errors.Is(err, ErrFrame) {
		t.Errorf("trailing byte: err = %v, want ErrFrame", err)
	}
	bad := [][]byte{
		{9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},             // unknown op
		{1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 99},         // unknown value kind
		{1, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff},       // 65535 args in 0 bytes
		{1, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0}, // 4 GiB query
	}
	for _, b := range bad {
		if _, err := DecodeSQLRequest(b); !errors.Is(err, ErrFrame) {
			t.Errorf("DecodeSQLRequest(%v) err = %v, want ErrFrame", b, err)
		}
	}
	// A query result declaring 2^32-1 rows of one column in a few bytes.
	huge := []byte{0}
	huge = AppendColumns(huge, []Column{{"a", "b"}})
	huge = append(huge, 0xff, 0xff, 0xff, 0xff)
	if _, err := DecodeSQLResult(OpQuery, huge); !errors.Is(err, ErrFrame) {
		t.Errorf("huge row count: err = %v, want ErrFrame", err)
	}
	if _, err := DecodeRequest([]byte{1, 0, 0}); !errors.Is(err, ErrFrame) {
		t.Errorf("short request: err = %v", err)
	}
}

func TestPackPtrLen(t *testing.T) {
	p, n := UnpackPtrLen(PackPtrLen(0xdeadbeef, 0x12345678))
	if p != 0xdeadbeef || n != 0x12345678 {
		t.Errorf("got %x %x", p, n)
	}
}

func TestErrorIs(t *testing.T) {
	err := error(&Error{Code: CodeUnavailable, Message: "down"})
	if !errors.Is(err, &Error{Code: CodeUnavailable}) {
		t.Error("errors.Is by code failed")
	}
	if errors.Is(err, &Error{Code: CodeDenied}) {
		t.Error("errors.Is matched another code")
	}
}
