package orders

import (
	"encoding/json"
	"errors"
	"testing"
)

const benchBody = `[
 {"order_id":1,"product_id":12,"quantity":2,"amount":56.0,"shipping":15.0,"tax":2.0,"shipping_address":"Mataderos 2312"},
 {"order_id":2,"product_id":15,"quantity":3,"amount":256.0,"shipping":30.0,"tax":16.0,"shipping_address":"1234 NW Bobcat"},
 {"order_id":3,"product_id":11,"quantity":5,"amount":536.0,"shipping":50.0,"tax":24.0,"shipping_address":"20 Havelock"},
 {"order_id":4,"product_id":8,"quantity":8,"amount":126.0,"shipping":20.0,"tax":12.0,"shipping_address":"224 Pandan Loop"},
 {"order_id":5,"product_id":24,"quantity":1,"amount":46.0,"shipping":10.0,"tax":2.0,"shipping_address":"No.10 Jalan Besar"}
]`

// jsonOrder is what the service would decode with encoding/json.
type jsonOrder struct {
	OrderID         int32   `json:"order_id"`
	ProductID       int32   `json:"product_id"`
	Quantity        int32   `json:"quantity"`
	Amount          float64 `json:"amount"`
	Shipping        float64 `json:"shipping"`
	Tax             float64 `json:"tax"`
	ShippingAddress string  `json:"shipping_address"`
}

// BenchmarkDecodeOrders compares the decoder the service uses with
// encoding/json on the demo's five orders. Run it natively and, for the
// guest's numbers, under GOOS=wasip1 with a Wasm runtime as -exec.
func BenchmarkDecodeOrders(b *testing.B) {
	body := []byte(benchBody)
	b.Run("jsond", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := DecodeOrders(body); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding_json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var list []jsonOrder
			if err := json.Unmarshal(body, &list); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func TestDecodeOrdersMatchesEncodingJSON(t *testing.T) {
	got, err := DecodeOrders([]byte(benchBody))
	if err != nil {
		t.Fatal(err)
	}
	var want []jsonOrder
	if err := json.Unmarshal([]byte(benchBody), &want); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("decoded %d orders, want %d", len(got), len(want))
	}
	for i := range got {
		if Order(want[i]) != got[i] {
			t.Errorf("order %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

// FuzzDecodeOrder checks that any body either decodes to an order that
// encoding/json agrees with, or fails with ErrInvalid; never a panic.
func FuzzDecodeOrder(f *testing.F) {
	for _, s := range []string{
		`{"order_id":1,"product_id":12,"quantity":2,"amount":56.0,"shipping":15.0,"tax":2.0,"shipping_address":"Mataderos 2312"}`,
		`{"order_id":1}`, `{"quantity":"abc"}`, `{`, `[]`, `{"order_id":1,"order_id":2}`, `{"x":[{"y":null}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		o, err := DecodeOrder(b)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("DecodeOrder(%q): error %v does not wrap ErrInvalid", b, err)
			}
			return
		}
		var want jsonOrder
		if err := json.Unmarshal(b, &want); err != nil {
			t.Fatalf("DecodeOrder(%q) = %+v, but encoding/json fails: %v", b, o, err)
		}
		if Order(want) != o {
			t.Fatalf("DecodeOrder(%q) = %+v, encoding/json %+v", b, o, want)
		}
	})
}
