package orders

import (
	"fmt"
	"math"
	"strconv"

	"github.com/edgeplane/edge/modules/sdk"
)

// MaxPage is the largest limit of GET /orders?limit=N: 1,000 orders of at
// most ~1.1 KB each (a 256-character address of 4-byte characters) stay
// far under the host's 4 MiB per SQL result.
const MaxPage = 1000

// pageParams are GET /orders' paging parameters; paged is false when the
// request has neither limit nor after (the full listing of the demo).
type pageParams struct {
	paged bool
	limit int
	after int64
}

// parsePage reads limit (1..MaxPage, default MaxPage) and after (a 32-bit
// order id, default below every id) of a query.
func parsePage(q sdk.Values) (pageParams, error) {
	p := pageParams{paged: q.Has("limit") || q.Has("after"), limit: MaxPage, after: math.MinInt32 - 1}
	if q.Has("limit") {
		n, err := strconv.ParseInt(q.Get("limit"), 10, 32)
		if err != nil || n < 1 || n > MaxPage {
			return p, fmt.Errorf("%w: limit must be an integer from 1 to %d, got %s", ErrInvalid, MaxPage, strconv.Quote(q.Get("limit")))
		}
		p.limit = int(n)
	}
	if q.Has("after") {
		n, err := strconv.ParseInt(q.Get("after"), 10, 32)
		if err != nil {
			return p, fmt.Errorf("%w: after must be a 32-bit integer, got %s", ErrInvalid, strconv.Quote(q.Get("after")))
		}
		p.after = n
	}
	return p, nil
}

// nextLink is the Link header of a full page that has a next one.
func nextLink(limit int, last int64) string {
	return "</orders?limit=" + strconv.Itoa(limit) + "&after=" + strconv.FormatInt(last, 10) + `>; rel="next"`
}

// pagingHint ends the 507 message of a full listing.
var pagingHint = "; page through them with GET /orders?limit=N&after=ID (N up to " + strconv.Itoa(MaxPage) + ", ID the last order_id of the page before)"
