package sdk

import (
	"context"
	"database/sql/driver"
	"errors"
)

// The "edge" database/sql driver. Its connections are not network
// connections: each is a handle through which abi.SQLRequest frames reach
// the host's sql import, plus the id of the transaction it has open. The
// host owns the real connections, the DSN and the prepared-statement cache,
// so Prepare only remembers the query text.
//
// The driver code builds on every platform and is registered under "edge"
// only on wasip1 (sql_wasip1.go); natively, tests drive it through an
// in-process host that speaks the same frames to a real SQLite database.

// sqlTransport sends a request frame and returns the result frame. buf is
// a buffer the result may be written to; the returned slice may be buf or
// a larger one.
type sqlTransport func(req, buf []byte) ([]byte, error)

// DriverName is the name the driver is registered under on wasip1.
const DriverName = "edge"

// sqlDriver implements driver.Driver and driver.DriverContext.
type sqlDriver struct{ call sqlTransport }

// Open ignores name: the agent, not the module, chooses the database.
func (d *sqlDriver) Open(string) (driver.Conn, error) { return &conn{call: d.call}, nil }

func (d *sqlDriver) OpenConnector(string) (driver.Connector, error) { return &connector{d}, nil }

type connector struct{ d *sqlDriver }

func (c *connector) Connect(context.Context) (driver.Conn, error) { return c.d.Open("") }
func (c *connector) Driver() driver.Driver                        { return c.d }

var (
	errNamedArgs = errors.New("edge sql: named arguments are not supported; use ? placeholders")
	errNestedTx  = errors.New("edge sql: connection already has an open transaction")
	errTxOptions = errors.New("edge sql: isolation levels and read-only transactions are not supported")
)
