//go:build !wasip1

package sdk

import "os"

// Config returns the environment variable configEnvName(key) ("db.pool-size"
// → EDGE_CONFIG_DB_POOL_SIZE), and whether it is set.
func Config(key string) (string, bool) { return os.LookupEnv(configEnvName(key)) }
