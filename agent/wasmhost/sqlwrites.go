package wasmhost

import "strings"

// changesRows reports whether query is a statement whose RowsAffected
// counts rows it changed: INSERT, UPDATE, DELETE or REPLACE, also after a
// WITH clause. SQLite reports, for any other statement (CREATE, DROP,
// SELECT through exec, PRAGMA), the row count of the connection's last
// INSERT/UPDATE/DELETE (sqlite3_changes is not reset), which must not be
// counted as a write again.
func changesRows(query string) bool {
	s := skipSpace(query)
	w, rest := word(s)
	switch strings.ToUpper(w) {
	case "INSERT", "UPDATE", "DELETE", "REPLACE":
		return true
	case "WITH":
		return dmlAfterWith(rest)
	}
	return false
}

// dmlAfterWith finds the statement a WITH clause belongs to: the first
// verb outside parentheses, string literals and quoted names.
func dmlAfterWith(s string) bool {
	depth := 0
	for len(s) > 0 {
		s = skipSpace(s)
		if s == "" {
			return false
		}
		switch c := s[0]; c {
		case '(':
			depth++
			s = s[1:]
		case ')':
			depth--
			s = s[1:]
		case '\'', '"', '`':
			end := strings.IndexByte(s[1:], c)
			if end < 0 {
				return false
			}
			s = s[end+2:]
		case '[':
			end := strings.IndexByte(s, ']')
			if end < 0 {
				return false
			}
			s = s[end+1:]
		default:
			w, rest := word(s)
			if w == "" {
				s = s[1:]
				continue
			}
			if depth == 0 {
				switch strings.ToUpper(w) {
				case "INSERT", "UPDATE", "DELETE", "REPLACE":
					return true
				case "SELECT", "VALUES":
					return false
				}
			}
			s = rest
		}
	}
	return false
}

// skipSpace skips white space and SQL comments.
func skipSpace(s string) string {
	for {
		s = strings.TrimLeft(s, " \t\r\n\f")
		switch {
		case strings.HasPrefix(s, "--"):
			i := strings.IndexByte(s, '\n')
			if i < 0 {
				return ""
			}
			s = s[i+1:]
		case strings.HasPrefix(s, "/*"):
			i := strings.Index(s[2:], "*/")
			if i < 0 {
				return ""
			}
			s = s[i+4:]
		default:
			return s
		}
	}
}

// word splits a leading identifier or keyword off s.
func word(s string) (string, string) {
	i := 0
	for i < len(s) && (s[i] == '_' || s[i] >= 'a' && s[i] <= 'z' || s[i] >= 'A' && s[i] <= 'Z' || s[i] >= '0' && s[i] <= '9') {
		i++
	}
	return s[:i], s[i:]
}
