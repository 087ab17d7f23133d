package wasmhost

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"net"
	"syscall"

	"github.com/edgeplane/edge/internal/dbbind"
	"github.com/edgeplane/edge/modules/abi"
	"github.com/go-sql-driver/mysql"
)

// sqlErrorCode classifies a database error for the guest. Connection
// failures are CodeUnavailable, so the service can answer 503.
func sqlErrorCode(ctx context.Context, err error) abi.ErrorCode {
	var (
		opErr  *net.OpError
		dnsErr *net.DNSError
		myErr  *mysql.MySQLError
		coded  interface{ Code() int } // modernc.org/sqlite's *Error
	)
	switch {
	case ctx.Err() != nil && (errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)):
		return abi.CodeTimeout
	case errors.Is(err, dbbind.ErrUnavailable):
		return abi.CodeUnavailable
	case errors.Is(err, sql.ErrTxDone):
		return abi.CodeBadTx
	case errors.Is(err, driver.ErrBadConn), errors.Is(err, sql.ErrConnDone),
		errors.Is(err, mysql.ErrInvalidConn), errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EHOSTUNREACH),
		errors.As(err, &opErr), errors.As(err, &dnsErr):
		return abi.CodeUnavailable
	case errors.As(err, &myErr):
		switch myErr.Number {
		case 1040, 1045, 1049, 1053, 1129, 1130, 2002, 2003, 2006, 2013:
			// too many connections, access denied, unknown database,
			// shutdown, host blocked/not allowed, cannot connect, gone away
			return abi.CodeUnavailable
		}
		return abi.CodeBadRequest
	case errors.As(err, &coded):
		switch coded.Code() & 0xff {
		case 14, 5, 6, 10, 26: // CANTOPEN, BUSY, LOCKED, IOERR, NOTADB
			return abi.CodeUnavailable
		}
		return abi.CodeBadRequest
	}
	return abi.CodeInternal
}
