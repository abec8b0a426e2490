package rewrite

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/vramrun/vramrun/sdk"
)

func TestNoteCopiesMapsBackToTheUsersFile(t *testing.T) {
	files := map[string]string{}
	noteCopies(files, []sdk.FileCopy{{Original: "ds.json", Path: "/run/files/attempt-2/ds.json"}})
	noteCopies(files, []sdk.FileCopy{{Original: "/run/files/attempt-2/ds.json", Path: "/run/files/attempt-4/ds.json"}})
	noteCopies(files, []sdk.FileCopy{{Original: "args.json", Path: "/run/files/attempt-4/args.json"}})
	want := map[string]string{"ds.json": "/run/files/attempt-4/ds.json", "args.json": "/run/files/attempt-4/args.json"}
	if !reflect.DeepEqual(files, want) {
		t.Fatalf("files = %v, want %v", files, want)
	}
}

func TestWriteCopiesRefusesPathsOutsideTheFolder(t *testing.T) {
	dir := t.TempDir()
	err := writeCopies(dir, []sdk.FileCopy{{Original: "cfg.yaml", Path: dir + "/../cfg.yaml", Content: []byte("x")}})
	if err == nil {
		t.Fatal("a copy outside the copy folder must be refused")
	}
	if err := writeCopies(dir, []sdk.FileCopy{{Original: "cfg.yaml", Path: dir + "/sub/cfg.yaml", Content: []byte("x")}}); err != nil {
		t.Fatal(err)
	}
}

func TestTake(t *testing.T) {
	dir := t.TempDir()
	c := New([]string{"python", "t.py", "--config", "c.yaml"}, "/work", map[string]string{"HOME": "/h", "A": "0"}, nil)
	copyPath := filepath.Join(dir, "c.yaml")
	resp := sdk.ApplyResponse{Argv: []string{"python", "t.py", "--config", copyPath}, Env: map[string]string{"A": "1"},
		Copies: []sdk.FileCopy{{Original: "c.yaml", Path: copyPath, Content: []byte("bs: 8\n")}}}
	if err := c.Take(sdk.FixBatchSize, resp, dir); err != nil {
		t.Fatal(err)
	}
	if data, err := os.ReadFile(copyPath); err != nil || string(data) != "bs: 8\n" {
		t.Fatalf("copy = %q, %v", data, err)
	}
	l := c.Launch()
	if !reflect.DeepEqual(l.Argv, resp.Argv) || !reflect.DeepEqual(l.Env, map[string]string{"A": "1"}) ||
		!reflect.DeepEqual(l.Files, map[string]string{"c.yaml": copyPath}) {
		t.Fatalf("launch = %+v", l)
	}
	if env := c.Env(); env["A"] != "1" || env["HOME"] != "/h" {
		t.Fatalf("env = %v", env)
	}
	if got := c.SDK(); got.Dir != "/work" || got.Argv[3] != copyPath {
		t.Fatalf("sdk command = %+v", got)
	}
	if !reflect.DeepEqual(c.Fixes(), []string{"batch_size"}) {
		t.Fatalf("fixes = %v", c.Fixes())
	}
	// The answer's slices are the plugin's: changing them later changes
	// nothing here.
	resp.Argv[0] = "changed"
	if c.Launch().Argv[0] != "python" {
		t.Fatal("Take kept the plugin's slice")
	}
}
