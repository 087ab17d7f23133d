package abi

import (
	"go/ast"
	"go/constant"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// exportedConstants type-checks this package's source and returns each
// exported constant with its value as docs/ABI.md writes it.
func exportedConstants(t *testing.T) map[string]string {
	t.Helper()
	fset := token.NewFileSet()
	pkgs, err := parser.ParseDir(fset, ".", func(fi os.FileInfo) bool { return !strings.HasSuffix(fi.Name(), "_test.go") }, 0)
	if err != nil {
		t.Fatal(err)
	}
	var files []*ast.File
	for _, f := range pkgs["abi"].Files {
		files = append(files, f)
	}
	conf := types.Config{Importer: importer.ForCompiler(fset, "source", nil)}
	pkg, err := conf.Check("abi", fset, files, nil)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, name := range pkg.Scope().Names() {
		c, ok := pkg.Scope().Lookup(name).(*types.Const)
		if !ok || !c.Exported() {
			continue
		}
		v := c.Val()
		if v.Kind() == constant.String {
			out[name] = constant.StringVal(v)
		} else {
			out[name] = v.ExactString()
		}
	}
	return out
}

var docConstRow = regexp.MustCompile("^\\| `([A-Z][A-Za-z]*)` \\| `([^`]*)` \\|")

// TestSpecNamesEveryConstant keeps docs/ABI.md, the specification a guest
// in any language is written from, in step with this package: every
// exported constant has a row "| `Name` | `value` |" there, with this
// package's value, and every such row names a constant that exists.
func TestSpecNamesEveryConstant(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "ABI.md"))
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]string{}
	for _, line := range strings.Split(string(doc), "\n") {
		if m := docConstRow.FindStringSubmatch(line); m != nil {
			rows[m[1]] = m[2]
		}
	}
	consts := exportedConstants(t)
	if len(consts) < 30 {
		t.Fatalf("found only %d constants in the package: the check is broken", len(consts))
	}
	for name, want := range consts {
		got, ok := rows[name]
		switch {
		case !ok:
			t.Errorf("docs/ABI.md has no row for %s (value %s)", name, strconv.Quote(want))
		case got != want:
			t.Errorf("docs/ABI.md gives %s = %q, the package %q", name, got, want)
		}
	}
	for name := range rows {
		if _, ok := consts[name]; !ok {
			t.Errorf("docs/ABI.md has a row for %s, which the package does not define", name)
		}
	}
}
