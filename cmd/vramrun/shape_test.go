package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

// Limits on the shape of non-test code: a function a reader sees on one
// screen, a struct whose fields say one thing.
const (
	maxFuncLines    = 80
	maxStructFields = 12
)

// TestCodeShape keeps every function of the repository's non-test code
// (generated code and test fixtures aside) within maxFuncLines lines and
// every struct within maxStructFields fields (an embedded struct counts
// as one: it groups its fields under a name).
func TestCodeShape(t *testing.T) {
	root := repoRoot(t)
	fset := token.NewFileSet()
	files := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path != root && (strings.HasPrefix(name, ".") || name == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") || strings.HasSuffix(name, ".pb.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		files++
		rel, _ := filepath.Rel(root, path)
		checkShape(t, fset, rel, f)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 100 {
		t.Fatalf("checked only %d files: is the repository root right (%s)?", files, root)
	}
}

func checkShape(t *testing.T, fset *token.FileSet, rel string, f *ast.File) {
	ast.Inspect(f, func(n ast.Node) bool {
		switch x := n.(type) {
		case *ast.FuncDecl:
			if x.Body == nil {
				return true
			}
			start, end := fset.Position(x.Pos()).Line, fset.Position(x.End()).Line
			if lines := end - start + 1; lines > maxFuncLines {
				t.Errorf("%s:%d: func %s has %d lines, more than %d", rel, start, x.Name.Name, lines, maxFuncLines)
			}
		case *ast.StructType:
			fields := 0
			for _, field := range x.Fields.List {
				fields += max(len(field.Names), 1)
			}
			if fields > maxStructFields {
				t.Errorf("%s:%d: a struct with %d fields, more than %d", rel, fset.Position(x.Pos()).Line, fields, maxStructFields)
			}
		}
		return true
	})
}
