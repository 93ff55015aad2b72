// Package scaworker_test holds the module's import rules, checked on the
// source itself (go/parser, imports only), so a change that breaks the
// layout fails here rather than in review.
package scaworker_test

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// goFile is one Go file of the module and what it imports.
type goFile struct {
	name    string // slash path from the module root
	pkg     string // the directory's import path, relative to the module
	test    bool   // a _test.go file
	imports []string
}

// module reads the module path from go.mod and the imports of every Go
// file, skipping testdata and hidden directories.
func module(t *testing.T) (string, []goFile) {
	t.Helper()
	mod, err := os.ReadFile("go.mod")
	if err != nil {
		t.Fatalf("read go.mod: %v", err)
	}
	var modPath string
	for _, line := range strings.Split(string(mod), "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "module "); ok {
			modPath = strings.Trim(strings.TrimSpace(rest), `"`)
		}
	}
	if modPath == "" {
		t.Fatal("go.mod has no module line")
	}
	var files []goFile
	fset := token.NewFileSet()
	err = filepath.WalkDir(".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != "." && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".") || strings.HasPrefix(d.Name(), "_")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") {
			return nil
		}
		f, err := parser.ParseFile(fset, p, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		name := filepath.ToSlash(p)
		gf := goFile{name: name, pkg: path.Dir(name), test: strings.HasSuffix(name, "_test.go")}
		for _, imp := range f.Imports {
			ip, err := strconv.Unquote(imp.Path.Value)
			if err != nil {
				return err
			}
			if rel, ok := strings.CutPrefix(ip, modPath+"/"); ok {
				gf.imports = append(gf.imports, rel)
			} else if ip == modPath {
				gf.imports = append(gf.imports, ".")
			}
		}
		files = append(files, gf)
		return nil
	})
	if err != nil {
		t.Fatalf("read the module's sources: %v", err)
	}
	if len(files) < 50 {
		t.Fatalf("found %d Go files, want the whole module", len(files))
	}
	return modPath, files
}

// under reports whether pkg is dir or a package below it.
func under(pkg, dir string) bool {
	return pkg == dir || strings.HasPrefix(pkg, dir+"/")
}

// TestImportRules: imports flow cmd → consumer → {enroll, events}.
//   - enroll and events are leaves: their product code imports no other
//     package of this module;
//   - nothing imports a binary's packages (cmd/<bin>/...) but that binary;
//   - product code never imports the simulator (mangosim) or the test
//     harness (internal/testworld), except where running the simulator is
//     the point (see simUsers).
func TestImportRules(t *testing.T) {
	t.Parallel()
	_, files := module(t)
	// simUsers are the non-test files allowed to import mangosim, and why.
	simUsers := map[string]string{
		"cmd/mangosim":                 "the simulator's own binary",
		"cmd/scaworker/demo.go":        "`scaworker demo` runs the simulator by design (README, Running it)",
		"cmd/scaworker/internal/bench": "`scaworker bench` measures the worker against the simulator by design (README, Performance)",
		"internal/testworld":           "the test harness; the rule on internal/testworld keeps it out of product code",
	}
	allowedSim := func(f goFile) bool {
		for k := range simUsers {
			if f.name == k || under(f.pkg, k) {
				return true
			}
		}
		return false
	}
	checked := 0
	for _, f := range files {
		for _, imp := range f.imports {
			checked++
			switch {
			case !f.test && (under(f.pkg, "enroll") || under(f.pkg, "events")) && !under(imp, f.pkg):
				t.Errorf("%s imports %s: enroll and events import no other package of this module", f.name, imp)
			case under(imp, "cmd"):
				bin := strings.Join(strings.SplitN(imp, "/", 3)[:2], "/") // cmd/<bin>
				if !under(f.pkg, bin) {
					t.Errorf("%s imports %s: only %s itself may import its packages", f.name, imp, bin)
				}
			case !f.test && under(imp, "internal/testworld") && !under(f.pkg, "internal/testworld"):
				t.Errorf("%s imports %s: the test harness is for _test.go files only", f.name, imp)
			case !f.test && under(imp, "mangosim") && !under(f.pkg, "mangosim") && !allowedSim(f):
				t.Errorf("%s imports %s: product code never talks to the simulator", f.name, imp)
			}
		}
	}
	if checked == 0 {
		t.Fatal("no import of this module found: the walk read nothing")
	}
	// The allowances name files and packages that exist.
	for k := range simUsers {
		if !slices.ContainsFunc(files, func(f goFile) bool { return f.name == k || under(f.pkg, k) }) {
			t.Errorf("simUsers names %s, which does not exist: drop it", k)
		}
	}
}
