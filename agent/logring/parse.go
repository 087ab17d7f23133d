package logring

import (
	"bytes"
	"strconv"
	"strings"
	"time"
)

// ParseLine reads one line of slog's text format,
//
//	time=2025-03-14T09:30:00.123+01:00 level=INFO msg="worker ready" k=v ...
//
// into its time, level (DEBUG, INFO, WARN or ERROR: slog's "INFO+2" is
// INFO) and message: the msg value followed by the other attributes as
// they were written, less those named in drop (e.g. "worker" and "pid",
// which every line of a worker carries). ok is false for a line that is
// not such a record.
func ParseLine(line []byte, drop ...string) (t time.Time, level, msg string, ok bool) {
	rest := bytes.TrimRight(line, "\r\n")
	var key, val []byte
	var quoted bool
	if key, val, _, rest, ok = nextAttr(rest); !ok || string(key) != "time" {
		return t, "", "", false
	}
	t, err := time.Parse(time.RFC3339Nano, string(val))
	if err != nil {
		return t, "", "", false
	}
	if key, val, _, rest, ok = nextAttr(rest); !ok || string(key) != "level" {
		return t, "", "", false
	}
	level = baseLevel(string(val))
	if key, val, quoted, rest, ok = nextAttr(rest); !ok || string(key) != "msg" {
		return t, "", "", false
	}
	if msg, ok = unquote(val, quoted); !ok {
		return t, "", "", false
	}
	var b strings.Builder
	b.WriteString(msg)
	for len(rest) > 0 {
		start := rest
		key, _, _, rest, ok = nextAttr(rest)
		if !ok {
			// Not an attribute (cannot happen with slog): keep the rest.
			b.WriteByte(' ')
			b.Write(bytes.TrimSpace(start))
			break
		}
		if dropped(string(key), drop) {
			continue
		}
		b.WriteByte(' ')
		b.Write(bytes.TrimSpace(start[:len(start)-len(rest)]))
	}
	return t, level, b.String(), true
}

// nextAttr reads `key=value` (value bare up to a space, or a Go-quoted
// string) after any spaces; rest is what follows.
func nextAttr(s []byte) (key, val []byte, quoted bool, rest []byte, ok bool) {
	s = bytes.TrimLeft(s, " ")
	eq := bytes.IndexByte(s, '=')
	if eq <= 0 || bytes.IndexByte(s[:eq], ' ') >= 0 {
		return nil, nil, false, nil, false
	}
	key, s = s[:eq], s[eq+1:]
	if len(s) > 0 && s[0] == '"' {
		end := quotedEnd(s)
		if end < 0 {
			return nil, nil, false, nil, false
		}
		return key, s[:end], true, s[end:], true
	}
	end := bytes.IndexByte(s, ' ')
	if end < 0 {
		end = len(s)
	}
	return key, s[:end], false, s[end:], true
}

// quotedEnd returns the index after the closing quote of the string s
// starts with, or -1.
func quotedEnd(s []byte) int {
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return -1
}

func unquote(v []byte, quoted bool) (string, bool) {
	if !quoted {
		return string(v), true
	}
	s, err := strconv.Unquote(string(v))
	return s, err == nil
}

// baseLevel maps slog's level names (with offsets, e.g. "WARN-2") to
// DEBUG, INFO, WARN or ERROR.
func baseLevel(s string) string {
	for _, l := range []string{"DEBUG", "INFO", "WARN", "ERROR"} {
		if strings.HasPrefix(s, l) {
			return l
		}
	}
	return "INFO"
}

func dropped(key string, drop []string) bool {
	for _, d := range drop {
		if key == d {
			return true
		}
	}
	return false
}
