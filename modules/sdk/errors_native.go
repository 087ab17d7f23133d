//go:build !wasip1

package sdk

import (
	"database/sql/driver"
	"errors"
	"net"
)

// isNativeUnavailable recognises the errors of native database drivers that
// mean "not reachable now": a network error (dial refused, reset, timeout),
// driver.ErrBadConn after database/sql gave up retrying, and SQLite's
// BUSY, LOCKED and CANTOPEN (modernc.org/sqlite's errors have a Code method;
// matching on it avoids linking the driver here).
func isNativeUnavailable(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, driver.ErrBadConn) {
		return true
	}
	var coded interface{ Code() int }
	if errors.As(err, &coded) {
		switch coded.Code() & 0xff {
		case 5, 6, 14: // SQLITE_BUSY, SQLITE_LOCKED, SQLITE_CANTOPEN
			return true
		}
	}
	return false
}
