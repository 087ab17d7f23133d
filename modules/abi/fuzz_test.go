package abi

import (
	"bytes"
	"testing"
)

// The host decodes frames that come out of guest memory, and the guest
// decodes frames the host built: every decoder must reject any byte string
// without panicking or allocating more than the input justifies, and every
// frame it accepts must re-encode to the same bytes.

func FuzzDecodeRequest(f *testing.F) {
	f.Add(AppendRequest(nil, &Request{Method: "POST", URI: "/echo", Header: []Header{{"A", "b"}}, Body: []byte("x")}))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeRequest(b)
		if err != nil {
			return
		}
		if got := AppendRequest(nil, &r); !bytes.Equal(got, b) {
			t.Fatalf("re-encoding differs:\n got %x\nwant %x", got, b)
		}
	})
}

func FuzzDecodeResponse(f *testing.F) {
	f.Add(AppendResponse(nil, &Response{Status: 200, Header: []Header{{"A", "b"}}, Body: []byte("x")}))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeResponse(b)
		if err != nil {
			return
		}
		if got := AppendResponse(nil, &r); !bytes.Equal(got, b) {
			t.Fatalf("re-encoding differs:\n got %x\nwant %x", got, b)
		}
	})
}

func FuzzDecodeSQLRequest(f *testing.F) {
	f.Add(AppendSQLRequest(nil, &SQLRequest{Op: OpExec, Tx: 1, Query: "INSERT ?", Args: []Value{Int(1), Float(2), Text("t"), Blob([]byte{1}), Null()}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeSQLRequest(b)
		if err != nil {
			return
		}
		if got := AppendSQLRequest(nil, &r); !bytes.Equal(got, b) {
			t.Fatalf("re-encoding differs:\n got %x\nwant %x", got, b)
		}
	})
}

func FuzzDecodeSQLResult(f *testing.F) {
	f.Add(uint8(OpQuery), AppendSQLResult(nil, OpQuery, &SQLResult{Columns: []Column{{"a", "INT"}}, Rows: [][]Value{{Int(1)}}}))
	f.Add(uint8(OpExec), AppendSQLResult(nil, OpExec, &SQLResult{LastInsertID: 1, RowsAffected: 2}))
	f.Add(uint8(OpBegin), AppendSQLResult(nil, OpBegin, &SQLResult{Err: &Error{Code: CodeBadTx, Message: "x"}}))
	f.Fuzz(func(t *testing.T, op uint8, b []byte) {
		r, err := DecodeSQLResult(SQLOp(op), b)
		if err != nil {
			return
		}
		if got := AppendSQLResult(nil, SQLOp(op), &r); !bytes.Equal(got, b) {
			t.Fatalf("re-encoding differs:\n got %x\nwant %x", got, b)
		}
	})
}

func FuzzDecodeFetch(f *testing.F) {
	f.Add(AppendFetchRequest(nil, &FetchRequest{Method: "GET", URL: "http://a/b", TimeoutMS: 5}))
	f.Add(AppendFetchResult(nil, &FetchResult{Response: Response{Status: 200, Body: []byte("x")}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		if r, err := DecodeFetchRequest(b); err == nil {
			if got := AppendFetchRequest(nil, &r); !bytes.Equal(got, b) {
				t.Fatalf("request re-encoding differs")
			}
		}
		if r, err := DecodeFetchResult(b); err == nil {
			if got := AppendFetchResult(nil, &r); !bytes.Equal(got, b) {
				t.Fatalf("result re-encoding differs")
			}
		}
	})
}

func FuzzDecodeKV(f *testing.F) {
	f.Add(uint8(KVCompareAndSet), AppendKVRequest(nil, &KVRequest{Op: KVCompareAndSet, Key: "k", Value: []byte("v"), Version: 3}))
	f.Add(uint8(KVGet), AppendKVResult(nil, KVGet, &KVResult{Found: true, Version: 2, Value: []byte("v")}))
	f.Add(uint8(KVList), AppendKVResult(nil, KVList, &KVResult{Entries: []KVEntry{{"a", 1, []byte("x")}, {"b", 2, nil}}, More: true}))
	f.Add(uint8(KVDelete), AppendKVResult(nil, KVDelete, &KVResult{Err: &Error{Code: CodeConflict, Message: "x"}}))
	f.Fuzz(func(t *testing.T, op uint8, b []byte) {
		if r, err := DecodeKVRequest(b); err == nil {
			if got := AppendKVRequest(nil, &r); !bytes.Equal(got, b) {
				t.Fatalf("request re-encoding differs:\n got %x\nwant %x", got, b)
			}
		}
		if r, err := DecodeKVResult(KVOp(op), b); err == nil {
			if got := AppendKVResult(nil, KVOp(op), &r); !bytes.Equal(got, b) {
				t.Fatalf("result re-encoding differs:\n got %x\nwant %x", got, b)
			}
		}
	})
}

func FuzzDecodeCallRequest(f *testing.F) {
	f.Add(AppendCallRequest(nil, &CallRequest{Module: "orders", Method: "GET", URI: "/orders", Header: []Header{{"A", "b"}}, TimeoutMS: 5}))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeCallRequest(b)
		if err != nil {
			return
		}
		if got := AppendCallRequest(nil, &r); !bytes.Equal(got, b) {
			t.Fatalf("re-encoding differs:\n got %x\nwant %x", got, b)
		}
	})
}

func FuzzDecodeMessaging(f *testing.F) {
	f.Add(AppendPublishRequest(nil, &PublishRequest{Topic: "alerts/hot", Payload: []byte("x"), QoS: 1, Retain: true}))
	f.Add(AppendMessage(nil, &Message{ID: 7, Attempt: 1, Filter: "a/#", Topic: "a/b", Payload: []byte("x"), QoS: 1}))
	f.Add(AppendTimer(nil, &Timer{Name: "t", ScheduledMS: 1700000000000, Missed: 2}))
	f.Fuzz(func(t *testing.T, b []byte) {
		if r, err := DecodePublishRequest(b); err == nil {
			if got := AppendPublishRequest(nil, &r); !bytes.Equal(got, b) {
				t.Fatalf("publish request re-encoding differs")
			}
		}
		if m, err := DecodeMessage(b); err == nil {
			if got := AppendMessage(nil, &m); !bytes.Equal(got, b) {
				t.Fatalf("message re-encoding differs")
			}
		}
		if tm, err := DecodeTimer(b); err == nil {
			if got := AppendTimer(nil, &tm); !bytes.Equal(got, b) {
				t.Fatalf("timer re-encoding differs")
			}
		}
	})
}
