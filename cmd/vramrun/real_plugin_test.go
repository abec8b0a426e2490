package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// TestRealPlugin runs the Python plugin of examples/plugin-mytrainer/README.md
// as a user would: its code generated from the repository's own .proto by
// the README's protoc command (Debian's protobuf-compiler and
// protobuf-compiler-grpc), served with Debian's grpcio, found by vramrun
// as an executable vramrun-plugin-pymytrainer. The scripts in
// testdata/real-plugin get:
//
//   - $PYPLUGIN: the plugin, examples/plugin-mytrainer/python/vramrun-plugin-pymytrainer,
//     which this test checks is the README's Python block byte for byte;
//   - $PYPLUGIN_GEN: the folder protoc wrote, holding vramrun/plugin/v2/;
//   - $DEBIAN_PYTHON: /usr/bin/python3, which is also the first python3 on
//     PATH, so that the plugin's #!/usr/bin/env python3 finds grpcio;
//   - $MYTRAINER_PLUGIN: the Go plugin of the same folder, to compare with.
func TestRealPlugin(t *testing.T) {
	requirePythonModules(t, "python3-grpcio python3-protobuf", "grpc", "google.protobuf")
	requirePart(t, "protobuf-compiler protobuf-compiler-grpc", "protoc", "--version")
	root := repoRoot(t)
	readme := readText(t, filepath.Join(root, "examples", "plugin-mytrainer", "README.md"))
	gen := t.TempDir()
	generatePythonCode(t, root, readme, gen)
	plugin := filepath.Join(root, "examples", "plugin-mytrainer", "python", "vramrun-plugin-pymytrainer")
	checkRecipe(t, readme, plugin)

	python := t.TempDir()
	if err := os.Symlink(DebianPython, filepath.Join(python, "python3")); err != nil {
		t.Fatal(err)
	}
	goPlugin := buildGoMyTrainer(t, root)
	testscript.Run(t, testscript.Params{
		Dir: "testdata/real-plugin",
		Setup: func(env *testscript.Env) error {
			setupScriptEnv(env, root)
			env.Setenv("PATH", python+string(os.PathListSeparator)+env.Getenv("PATH"))
			env.Setenv("PYPLUGIN", plugin)
			env.Setenv("PYPLUGIN_GEN", gen)
			env.Setenv("DEBIAN_PYTHON", DebianPython)
			env.Setenv("MYTRAINER_PLUGIN", goPlugin)
			return nil
		},
		Cmds: scriptCmds(),
	})
}

// buildGoMyTrainer builds examples/plugin-mytrainer, the Go plugin that the
// Python one should answer like.
func buildGoMyTrainer(t *testing.T, root string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "vramrun-plugin-mytrainer")
	cmd := exec.Command("go", "build", "-o", out, "./examples/plugin-mytrainer")
	cmd.Dir = root
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build the Go plugin: %v\n%s", err, msg)
	}
	return out
}

// generatePythonCode runs the README's first protoc command (the one with
// grpc_python_plugin, Debian's protobuf-compiler-grpc) from the repository
// root, with out as the output folder in place of its ".".
func generatePythonCode(t *testing.T, root, readme, out string) {
	t.Helper()
	var argv []string
	for _, block := range fencedBlocks(readme, "") {
		if strings.HasPrefix(block, "protoc ") {
			argv = strings.Fields(strings.ReplaceAll(block, "\\\n", " "))
			break
		}
	}
	if argv == nil {
		t.Fatal("examples/plugin-mytrainer/README.md has no ``` block with a protoc command")
	}
	var grpcPlugin string
	replaced := 0
	for i, a := range argv {
		switch {
		case a == "--python_out=." || a == "--grpc_python_out=.":
			argv[i] = strings.TrimSuffix(a, ".") + out
			replaced++
		case strings.HasPrefix(a, "--plugin=protoc-gen-grpc_python="):
			grpcPlugin = strings.TrimPrefix(a, "--plugin=protoc-gen-grpc_python=")
		}
	}
	if replaced != 2 || grpcPlugin == "" {
		t.Fatalf("the README's protoc command no longer has --python_out=., --grpc_python_out=. and --plugin=protoc-gen-grpc_python=PATH: %q", argv)
	}
	requirePart(t, "protobuf-compiler-grpc", "test", "-x", grpcPlugin)
	requireProtoc315(t, argv[0])
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = root
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, msg)
	}
	for _, f := range []string{"plugin_pb2.py", "plugin_pb2_grpc.py"} {
		if _, err := os.Stat(filepath.Join(out, "vramrun", "plugin", "v2", f)); err != nil {
			t.Fatalf("protoc wrote no %s: %v", f, err)
		}
	}
}

// requireProtoc315 fails unless protoc is 3.15 or newer, the first that
// takes proto3 optional fields without a flag.
func requireProtoc315(t *testing.T, protoc string) {
	t.Helper()
	out, err := exec.Command(protoc, "--version").Output()
	if err != nil {
		t.Fatalf("%s --version: %v", protoc, err)
	}
	m := regexp.MustCompile(`(\d+)\.(\d+)`).FindStringSubmatch(string(out))
	if m == nil {
		t.Fatalf("%s --version says %q", protoc, out)
	}
	major, _ := strconv.Atoi(m[1])
	minor, _ := strconv.Atoi(m[2])
	if major < 3 || major == 3 && minor < 15 {
		t.Fatalf("%s is %s: plugin.proto's optional fields need protoc 3.15 or newer (apt-get install protobuf-compiler)",
			protoc, strings.TrimSpace(string(out)))
	}
}

// checkRecipe fails unless the README's Python block is the plugin file,
// byte for byte, and the file is executable and serves no health service:
// the test runs the code the README shows.
func checkRecipe(t *testing.T, readme, plugin string) {
	t.Helper()
	blocks := fencedBlocks(readme, "python")
	if len(blocks) != 1 {
		t.Fatalf("examples/plugin-mytrainer/README.md has %d ```python blocks, want 1 (the Python plugin)", len(blocks))
	}
	file := readText(t, plugin)
	if blocks[0] != file {
		t.Fatalf("the README's ```python block is not %s; copy the file into the README:\n%s",
			plugin, firstDifference(blocks[0], file))
	}
	// The recipe proves that a plugin without the health service loads
	// (grpcio registers none by itself).
	if strings.Contains(file, "grpc_health") || strings.Contains(file, "HealthServicer") {
		t.Fatalf("%s registers the gRPC health service: the test is to show that vramrun does not need it", plugin)
	}
	info, err := os.Stat(plugin)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm()&0o111 == 0 {
		t.Fatalf("%s is not executable (chmod 755 it)", plugin)
	}
}

// fencedBlocks are the contents of a Markdown text's ``` blocks that name
// lang ("" for none), each with its final newline.
func fencedBlocks(text, lang string) []string {
	var out []string
	var b strings.Builder
	in, keep := false, false
	for _, line := range strings.SplitAfter(text, "\n") {
		fence, isFence := strings.CutPrefix(strings.TrimSpace(line), "```")
		switch {
		case !in && isFence:
			in, keep = true, fence == lang
			b.Reset()
		case in && isFence && fence == "":
			in = false
			if keep {
				out = append(out, b.String())
			}
		case in:
			b.WriteString(line)
		}
	}
	return out
}

// firstDifference shows the first line where two texts differ.
func firstDifference(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := 0; i < len(al) || i < len(bl); i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			return "line " + strconv.Itoa(i+1) + ":\n  README: " + strconv.Quote(x) + "\n  file:   " + strconv.Quote(y)
		}
	}
	return "(they differ only in line endings)"
}

func readText(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
