package sdk

import "strings"

// configEnvName maps a configuration key to the environment variable that
// native builds read: "db.pool-size" → "EDGE_CONFIG_DB_POOL_SIZE".
func configEnvName(key string) string {
	var b strings.Builder
	b.WriteString("EDGE_CONFIG_")
	for _, c := range []byte(key) {
		switch {
		case 'a' <= c && c <= 'z':
			b.WriteByte(c - 'a' + 'A')
		case 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
			b.WriteByte(c)
		default:
			b.WriteByte('_')
		}
	}
	return b.String()
}
