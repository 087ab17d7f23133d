//go:build wasip1

package sdk

import "database/sql"

func init() { sql.Register(DriverName, &sqlDriver{call: hostSQL}) }
