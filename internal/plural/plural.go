// Package plural writes a count with its noun for people to read: "1
// wave", "3 waves", never "1 waves" or "3 wave(s)". edgectl and the
// controller word their messages with it. Standard library only (it is
// linked by edgectl and edge-control; tests/deps holds internal/ to that).
package plural

import (
	"strconv"
	"strings"
)

// Integer is any count.
type Integer interface {
	~int | ~int8 | ~int16 | ~int32 | ~int64 | ~uint | ~uint8 | ~uint16 | ~uint32 | ~uint64
}

// Count is n followed by noun, in the plural unless n is 1: "1 device",
// "0 devices", "2 retained topics" (Count(2, "retained topic")).
func Count[N Integer](n N, noun string) string {
	s := strconv.FormatInt(int64(n), 10)
	if n > 0 && uint64(n) > 1<<63-1 { // an unsigned count beyond int64
		s = strconv.FormatUint(uint64(n), 10)
	}
	return s + " " + Of(n, noun, Plural(noun))
}

// Of is one when n is 1, else many: the word that agrees with a count
// ("1 device runs", "2 devices run").
func Of[N Integer](n N, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// Plural is the plural of an English noun (of its last word): -s, -es
// after s, x, z, ch and sh, -ies after a consonant and y.
func Plural(noun string) string {
	switch {
	case noun == "":
		return noun
	case strings.HasSuffix(noun, "s"), strings.HasSuffix(noun, "x"), strings.HasSuffix(noun, "z"),
		strings.HasSuffix(noun, "ch"), strings.HasSuffix(noun, "sh"):
		return noun + "es"
	case strings.HasSuffix(noun, "y") && len(noun) > 1 && !strings.ContainsRune("aeiou", rune(noun[len(noun)-2])):
		return noun[:len(noun)-1] + "ies"
	}
	return noun + "s"
}
