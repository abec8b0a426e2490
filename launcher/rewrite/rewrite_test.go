package rewrite

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
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

func TestSubstitutePointsTheCommandAtTheCopy(t *testing.T) {
	c := New([]string{"python", "main.py", "fit", "-c", "/dev/fd/63", "--config=/dev/fd/63", "--other", "x/dev/fd/63"}, "", nil, nil)
	if !c.Substitute("/dev/fd/63", "/run/inputs/0-63") {
		t.Fatal("Substitute reported no change")
	}
	want := "python main.py fit -c /run/inputs/0-63 --config=/run/inputs/0-63 --other x/dev/fd/63"
	if got := strings.Join(c.Argv(), " "); got != want {
		t.Errorf("argv = %q, want %q", got, want)
	}
	if got := c.Inputs()["/dev/fd/63"]; got != "/run/inputs/0-63" {
		t.Errorf("Inputs = %v", c.Inputs())
	}
	if got := c.Launch().Files["/dev/fd/63"]; got != "/run/inputs/0-63" {
		t.Errorf("Launch().Files = %v", c.Launch().Files)
	}
	if c.Substitute("/dev/fd/62", "/run/inputs/1-62") {
		t.Error("Substitute of a path the command does not name reported a change")
	}
	if c.Clone().Inputs()["/dev/fd/63"] != "/run/inputs/0-63" {
		t.Error("Clone lost the inputs")
	}
}
