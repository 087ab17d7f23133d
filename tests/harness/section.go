package harness

import (
	"os"
	"strings"
)

// WriteSection puts report between the markers "<!-- make NAME: begin -->"
// and "<!-- make NAME: end -->" of the Markdown file at path, replacing
// what a previous run put there: the hand-written text around the markers
// (analysis, other benchmarks) survives. A file without the markers gets
// them at its end; a missing file is created.
func WriteSection(path, name, report string) error {
	begin, end := "<!-- make "+name+": begin -->\n", "<!-- make "+name+": end -->\n"
	body := begin + report + end
	old, err := os.ReadFile(path)
	if err == nil {
		s := string(old)
		i, j := strings.Index(s, begin), strings.Index(s, end)
		if i >= 0 && j > i {
			body = s[:i] + body + s[j+len(end):]
		} else {
			if s != "" && !strings.HasSuffix(s, "\n") {
				s += "\n"
			}
			body = s + "\n" + body
		}
	}
	return os.WriteFile(path, []byte(body), 0o644)
}
