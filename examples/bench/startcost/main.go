// Command startcost measures what vramrun's dependencies cost at start-up,
// before vramrun's own code runs: it builds, inside the vramrun module (so
// with the very versions go.mod pins), one small program per probe that
// only links some dependencies (blank imports: their package initialisation
// runs, nothing else), and times each program's whole life — fork, exec,
// page faults, package init, exit — against an empty Go program and against
// `vramrun version` itself.
//
//	go run ./examples/bench/startcost              # 21 rounds
//	go run ./examples/bench/startcost -runs 51
//
// The probes are built with `go build -overlay`, so nothing is written into
// the repository. The rounds run every program once each, in turn, so a
// noisy machine slows them all alike; the table shows medians. Like
// wholeproduct it is a measurement, not a test: it exits 1 only when
// something could not be built or run.
//
// Why it exists: the start-up targets of issue 14 cannot be met by vramrun's
// own code alone; this table says which dependency the rest is, which is
// what a decision to move external-plugin hosting or report drawing out of
// the main binary needs.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// probe is one program of the table: the packages it links and why.
type probe struct {
	name    string
	imports []string
	// part says the packages are vramrun's dependencies (net/http is
	// measured alone, as what go-plugin brings); required that the run
	// path needs them whatever the layout (go-nvml, cobra, viper).
	part, required bool
}

// probes are the dependencies vramrun's main binary links that have
// package initialisation worth measuring, one a row, then all together,
// then the required ones alone: what a run path would link if
// external-plugin hosting and report drawing were separate executables,
// the floor of that layout decision.
func probes() []probe {
	list := []probe{
		{name: "go-nvml (cgo)", imports: []string{"github.com/NVIDIA/go-nvml/pkg/nvml"}, part: true, required: true},
		{name: "cobra", imports: []string{"github.com/spf13/cobra"}, part: true, required: true},
		{name: "viper", imports: []string{"github.com/spf13/viper"}, part: true, required: true},
		{name: "gonum/plot (SVG)", imports: []string{"gonum.org/v1/plot", "gonum.org/v1/plot/vg/vgsvg"}, part: true},
		{name: "net/http alone", imports: []string{"net/http"}},
		{name: "go-plugin (gRPC, protobuf, net/http)", imports: []string{"github.com/hashicorp/go-plugin"}, part: true},
	}
	var all, required []string
	for _, p := range list {
		if p.part {
			all = append(all, p.imports...)
		}
		if p.required {
			required = append(required, p.imports...)
		}
	}
	return append(list, probe{name: "all of the above", imports: all},
		probe{name: "go-nvml, cobra and viper only (no plugin hosting, no report drawing)", imports: required})
}

// source is a probe's main package: the blank imports and a write, so the
// program is as short-lived as `vramrun version`.
func source(p probe) string {
	var b strings.Builder
	b.WriteString("package main\n\nimport (\n\t\"os\"\n")
	for _, imp := range p.imports {
		fmt.Fprintf(&b, "\t_ %q\n", imp)
	}
	b.WriteString(")\n\nfunc main() { os.Stdout.WriteString(\"probe\\n\") }\n")
	return b.String()
}

func main() {
	runs := flag.Int("runs", 21, "rounds: each program runs once a round")
	flag.Parse()
	if *runs < 1 {
		fmt.Fprintln(os.Stderr, "startcost: -runs must be at least 1")
		os.Exit(2)
	}
	tmp, err := os.MkdirTemp("", "vramrun-startcost-")
	if err == nil {
		defer os.RemoveAll(tmp)
		err = measure(os.Stdout, os.Stderr, tmp, *runs)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "startcost:", err)
		os.Exit(1)
	}
}

// program is something timed: its row label and the command line.
type program struct {
	label string
	argv  []string
}

// timing is a program's medians: wall time and minor page faults.
type timing struct {
	wall   time.Duration
	faults int64
}

func measure(out, progress io.Writer, tmp string, runs int) error {
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	progress.Write([]byte("building the probes and vramrun...\n"))
	progs := []program{{label: "empty Go program", argv: []string{filepath.Join(tmp, "empty")}}}
	if err := build(root, tmp, "empty", probe{}); err != nil {
		return err
	}
	for i, p := range probes() {
		name := fmt.Sprintf("probe%d", i)
		if err := build(root, tmp, name, p); err != nil {
			return err
		}
		progs = append(progs, program{label: p.name, argv: []string{filepath.Join(tmp, name)}})
	}
	vramrun := filepath.Join(tmp, "vramrun")
	if err := goBuild(root, vramrun, "./cmd/vramrun", ""); err != nil {
		return err
	}
	progs = append(progs, program{label: "`vramrun version`", argv: []string{vramrun, "version"}})
	if truePath, err := exec.LookPath("true"); err == nil {
		progs = append([]program{{label: "`true` (fork and exec alone)", argv: []string{truePath}}}, progs...)
	}
	times, err := timeRounds(progs, runs)
	if err != nil {
		return err
	}
	printTable(out, progs, times, runs)
	return nil
}

func moduleRoot() (string, error) {
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %v", err)
	}
	mod := strings.TrimSpace(string(gomod))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("not inside the vramrun module: run it from the repository (go run ./examples/bench/startcost)")
	}
	return filepath.Dir(mod), nil
}

// build compiles probe p as if its main.go lay in the module (an overlay
// names a file that does not exist), so it links the module's versions.
func build(root, tmp, name string, p probe) error {
	src := filepath.Join(tmp, name+".go")
	if err := os.WriteFile(src, []byte(source(p)), 0o644); err != nil {
		return err
	}
	virtual := filepath.Join(root, "examples", "bench", "startcost", "probe", "main.go")
	overlay := filepath.Join(tmp, name+".json")
	body := fmt.Sprintf(`{"Replace":{%q:%q}}`, virtual, src)
	if err := os.WriteFile(overlay, []byte(body), 0o644); err != nil {
		return err
	}
	return goBuild(root, filepath.Join(tmp, name), "./examples/bench/startcost/probe", overlay)
}

func goBuild(root, bin, pkg, overlay string) error {
	args := []string{"build", "-buildvcs=false", "-o", bin}
	if overlay != "" {
		args = append(args, "-overlay", overlay)
	}
	cmd := exec.Command("go", append(args, pkg)...)
	cmd.Dir = root
	cmd.Env = os.Environ()
	if os.Getenv("CGO_CFLAGS") == "" {
		// As wholeproduct: go-nvml's cgo warns about deprecated
		// declarations on every fresh build otherwise.
		cmd.Env = append(cmd.Env, "CGO_CFLAGS=-O2 -g -Wno-deprecated-declarations")
	}
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %v\n%s", pkg, err, b)
	}
	return nil
}

// timeRounds runs every program once a round, runs rounds, and returns each
// one's medians.
func timeRounds(progs []program, runs int) ([]timing, error) {
	walls := make([][]time.Duration, len(progs))
	faults := make([][]int64, len(progs))
	for r := 0; r < runs; r++ {
		for i, p := range progs {
			cmd := exec.Command(p.argv[0], p.argv[1:]...)
			start := time.Now()
			if err := cmd.Run(); err != nil {
				return nil, fmt.Errorf("%s: %v", strings.Join(p.argv, " "), err)
			}
			walls[i] = append(walls[i], time.Since(start))
			if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
				faults[i] = append(faults[i], ru.Minflt)
			}
		}
	}
	out := make([]timing, len(progs))
	for i := range progs {
		out[i] = timing{wall: median(walls[i]), faults: median(faults[i])}
	}
	return out, nil
}

func median[T int64 | time.Duration](xs []T) T {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

// printTable prints one row a program: its median wall time, its minor
// page faults, and how much more than the empty Go program it takes.
func printTable(w io.Writer, progs []program, times []timing, runs int) {
	var empty timing
	for i, p := range progs {
		if p.label == "empty Go program" {
			empty = times[i]
		}
	}
	fmt.Fprintf(w, "\nmedians of %d rounds\n\n", runs)
	fmt.Fprintln(w, "| links | wall time | minor page faults | more than an empty Go program |")
	fmt.Fprintln(w, "|---|---|---|---|")
	for i, p := range progs {
		more := fmt.Sprintf("%+.1f ms, %+d faults", ms(times[i].wall-empty.wall), times[i].faults-empty.faults)
		if p.label == "empty Go program" {
			more = ""
		}
		fmt.Fprintf(w, "| %s | %.1f ms | %d | %s |\n", p.label, ms(times[i].wall), times[i].faults, more)
	}
}

func ms(d time.Duration) float64 { return d.Seconds() * 1e3 }
