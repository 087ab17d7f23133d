package orders

import (
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/edgeplane/edge/modules/sdk/jsond"
)

// MaxAddressLen is the length of the shipping_address column, VARCHAR(256),
// in characters.
const MaxAddressLen = 256

// Order is one row of the orders table. The integer columns are SQL INT,
// hence int32.
type Order struct {
	OrderID         int32
	ProductID       int32
	Quantity        int32
	Amount          float64
	Shipping        float64
	Tax             float64
	ShippingAddress string
}

// ErrInvalid is wrapped by every error about the content of a request; the
// service answers it with 400.
var ErrInvalid = errors.New("invalid request")

// field bits, to find missing and repeated fields.
const (
	fOrderID = 1 << iota
	fProductID
	fQuantity
	fAmount
	fShipping
	fTax
	fAddress
	fAll = 1<<iota - 1
)

var fieldNames = [...]string{"order_id", "product_id", "quantity", "amount", "shipping", "tax", "shipping_address"}

// decodeOrder reads one order object. All seven fields are required, each
// once; unknown fields are skipped.
func decodeOrder(d *jsond.Decoder) (Order, error) {
	var o Order
	seen := 0
	err := d.Object(func(key []byte) error {
		var bit int
		var err error
		switch string(key) {
		case "order_id":
			bit = fOrderID
			o.OrderID, err = d.Int32()
		case "product_id":
			bit = fProductID
			o.ProductID, err = d.Int32()
		case "quantity":
			bit = fQuantity
			o.Quantity, err = d.Int32()
		case "amount":
			bit = fAmount
			o.Amount, err = d.Float()
		case "shipping":
			bit = fShipping
			o.Shipping, err = d.Float()
		case "tax":
			bit = fTax
			o.Tax, err = d.Float()
		case "shipping_address":
			bit = fAddress
			o.ShippingAddress, err = d.String()
		default:
			return d.Skip()
		}
		if err != nil {
			return fmt.Errorf("field %q: %w", key, err)
		}
		if seen&bit != 0 {
			return fmt.Errorf("field %q given twice", key)
		}
		seen |= bit
		return nil
	})
	if err != nil {
		return o, err
	}
	if seen != fAll {
		for i, name := range fieldNames {
			if seen&(1<<i) == 0 {
				return o, fmt.Errorf("missing field %q", name)
			}
		}
	}
	if n := utf8.RuneCountInString(o.ShippingAddress); n > MaxAddressLen {
		return o, fmt.Errorf("shipping_address has %d characters, more than %d", n, MaxAddressLen)
	}
	return o, nil
}

// DecodeOrder decodes a body holding one order.
func DecodeOrder(body []byte) (Order, error) {
	d := jsond.New(body)
	o, err := decodeOrder(d)
	if err == nil {
		err = d.End()
	}
	if err != nil {
		return Order{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return o, nil
}

// DecodeOrders decodes a body holding an array of orders.
func DecodeOrders(body []byte) ([]Order, error) {
	d := jsond.New(body)
	var list []Order
	err := d.Array(func() error {
		o, err := decodeOrder(d)
		if err != nil {
			return fmt.Errorf("order %d: %w", len(list), err)
		}
		list = append(list, o)
		return nil
	})
	if err == nil {
		err = d.End()
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return list, nil
}
