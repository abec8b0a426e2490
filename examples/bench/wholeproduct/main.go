// Command wholeproduct times vramrun end to end the way a user meets it: a
// freshly built binary, run in a project folder, its job's output redirected
// to a file. Each case alternates vramrun with what the user would run
// without it (A B A B ...) so that a noisy machine slows both sides alike,
// and compares the medians.
//
//	go run ./examples/bench/wholeproduct           # 54 MB, 7 runs per side
//	go run ./examples/bench/wholeproduct -quick    # 8 MB, 3 runs per side
//	go run ./examples/bench/wholeproduct -size 200MB -runs 11
//
// It is a measurement, not a test: a missed target is reported in the table
// and the exit status stays 0; only something that could not run (the build,
// a command that failed) exits 1. A copy whose output is not byte-exact is
// reported on its own line before the table.
package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The targets of issue 14: what a user should pay for running through vramrun.
const (
	pipeTarget    = 1.2                   // x the time of `cat big.txt | cat`
	ptyTarget     = 1.0                   // x the time of util-linux `script -qc`
	startTarget   = 10 * time.Millisecond // more than `true` alone
	versionTarget = 5 * time.Millisecond  // `vramrun version`, all of it
)

// config is what one benchmark run needs; main fills it from the flags.
type config struct {
	size int64  // bytes of big.txt, about
	runs int    // timed runs of each side of a pair
	tmp  string // an empty folder for the binary, the project and the outputs
}

// row is one line of the table, already in words.
type row struct {
	what, vramrun, baseline, ratio, target string
}

// result is what bench found: the table's rows, the copies that were not
// byte-exact, and lines about cases it could not time (script missing).
type result struct {
	rows       []row
	mismatches []string
	notes      []string
	file       int64 // the real size of big.txt
}

func main() {
	cfg, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "wholeproduct:", err)
		os.Exit(2)
	}
	tmp, err := os.MkdirTemp("", "vramrun-wholeproduct-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "wholeproduct:", err)
		os.Exit(1)
	}
	cfg.tmp = tmp
	res, err := bench(cfg, os.Stderr)
	os.RemoveAll(tmp)
	if err != nil {
		fmt.Fprintln(os.Stderr, "wholeproduct:", err)
		os.Exit(1)
	}
	printResult(os.Stdout, cfg, res)
}

// parseFlags reads the flags; -quick changes only the flags not given, so
// `-quick -runs 5` still means 5 runs.
func parseFlags(args []string) (config, error) {
	fs := flag.NewFlagSet("wholeproduct", flag.ContinueOnError)
	size := fs.String("size", "54MB", "about how big big.txt is (B, KB, MB, GB; KiB, MiB, GiB)")
	runs := fs.Int("runs", 7, "timed runs of each side of a pair")
	quick := fs.Bool("quick", false, "a fast check: -size 8MB -runs 3 unless given")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if *quick {
		given := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
		if !given["size"] {
			*size = "8MB"
		}
		if !given["runs"] {
			*runs = 3
		}
	}
	n, err := parseSize(*size)
	if err != nil {
		return config{}, err
	}
	if *runs < 1 {
		return config{}, fmt.Errorf("-runs %d: need at least 1", *runs)
	}
	return config{size: n, runs: *runs}, nil
}

// parseSize reads "54MB", "8MiB" or a plain number of bytes. MB is 10^6,
// as in the "54 MB".
func parseSize(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{
		// Longer suffixes first: "MiB" must not be read as "B".
		{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30},
		{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1},
	}
	num, mult := strings.TrimSpace(s), int64(1)
	for _, u := range units {
		if strings.HasSuffix(strings.ToUpper(num), strings.ToUpper(u.suffix)) {
			num, mult = strings.TrimSpace(num[:len(num)-len(u.suffix)]), u.mult
			break
		}
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || f <= 0 {
		return 0, fmt.Errorf("-size %q: want a positive size such as 54MB", s)
	}
	return int64(f * float64(mult)), nil
}

// bench builds vramrun, makes the project and big.txt, and times the four
// cases. progress gets a line per step, since a full run takes a while.
func bench(cfg config, progress io.Writer) (result, error) {
	bin := filepath.Join(cfg.tmp, "bin", "vramrun")
	fmt.Fprintln(progress, "building vramrun ...")
	if err := buildVramrun(bin); err != nil {
		return result{}, err
	}
	project := filepath.Join(cfg.tmp, "project")
	if err := os.MkdirAll(project, 0o755); err != nil {
		return result{}, err
	}
	fmt.Fprintf(progress, "writing big.txt (%s) ...\n", megabytes(cfg.size))
	want, err := writeBigFile(filepath.Join(project, "big.txt"), cfg.size)
	if err != nil {
		return result{}, err
	}
	b := &bencher{dir: project, env: benchEnv(os.Environ()), runs: cfg.runs, want: want, seen: map[string]bool{}}
	res := result{file: int64(len(want))}
	steps := []func(string) (row, error){b.pipes, b.pty, b.start, b.version}
	for _, step := range steps {
		r, err := step(bin)
		if err != nil {
			return result{}, err
		}
		fmt.Fprintf(progress, "timed %s\n", r.what)
		res.rows = append(res.rows, r)
	}
	res.mismatches, res.notes = b.mismatches, b.notes
	return res, nil
}

// buildVramrun builds ./cmd/vramrun of the module this program is in, so
// the figures are of the code in the working tree, not of an installed copy.
func buildVramrun(bin string) error {
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return fmt.Errorf("go env GOMOD: %v", err)
	}
	mod := strings.TrimSpace(string(gomod))
	if mod == "" || mod == os.DevNull {
		return errors.New("not inside the vramrun module: run it from the repository (go run ./examples/bench/wholeproduct)")
	}
	root := filepath.Dir(mod)
	// -buildvcs=false: a copy of the tree without .git (or owned by someone
	// else) still builds. CGO_CFLAGS as examples/bench/cpu.sh: go-nvml's cgo
	// otherwise warns about deprecated declarations on every fresh build.
	cmd := exec.Command("go", "build", "-buildvcs=false", "-o", bin, "./cmd/vramrun")
	cmd.Dir = root
	cmd.Env = os.Environ()
	if os.Getenv("CGO_CFLAGS") == "" {
		cmd.Env = append(cmd.Env, "CGO_CFLAGS=-O2 -g -Wno-deprecated-declarations")
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/vramrun: %v\n%s", err, out)
	}
	return nil
}

// writeBigFile writes lines of 76 base64 characters and "\n" (57 random
// bytes each), about size bytes, from a fixed seed so every run and every
// machine copies the same bytes. It returns the content, which the checks
// compare the outputs with.
func writeBigFile(path string, size int64) ([]byte, error) {
	const raw, line = 57, 77 // 57 bytes encode to exactly 76 characters
	lines := max(size/line, 1)
	rng := rand.New(rand.NewSource(14)) // issue 14
	content := make([]byte, lines*line)
	src := make([]byte, raw)
	for i := range lines {
		rng.Read(src)
		dst := content[i*line : (i+1)*line]
		base64.StdEncoding.Encode(dst, src)
		dst[line-1] = '\n'
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	if _, err := w.Write(content); err != nil {
		f.Close()
		return nil, err
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return nil, err
	}
	return content, f.Close()
}

// benchEnv is the user's environment without VRAMRUN_* (a VRAMRUN_PTY or
// VRAMRUN_SIMGPU of the user's would change what is measured), with
// VRAMRUN_TRUST=1 so that no project-file trust question can stop a run.
func benchEnv(environ []string) []string {
	env := make([]string, 0, len(environ)+1)
	for _, kv := range environ {
		if !strings.HasPrefix(kv, "VRAMRUN_") {
			env = append(env, kv)
		}
	}
	return append(env, "VRAMRUN_TRUST=1")
}

// bencher runs the commands of the cases in the project folder and keeps
// what the checks found.
type bencher struct {
	dir        string
	env        []string
	runs       int
	want       []byte          // big.txt
	seen       map[string]bool // sides already reported as not byte-exact
	mismatches []string
	notes      []string
}

// side is one command of a pair: what it runs, where its output goes, and
// how the output is checked.
type side struct {
	label string   // for the mismatch line and file names
	argv  []string // argv[0] is resolved before the clock starts
	check bool     // its stdout should be big.txt
	crlf  bool     // its stdout came through a pty, which writes "\n" as "\r\n"
}

func (b *bencher) pipes(bin string) (row, error) {
	a := side{label: "vramrun --pty never", argv: []string{bin, "--no-learn", "--pty", "never", "--", "cat", "big.txt"}, check: true}
	base := side{label: "baseline sh -c 'cat big.txt | cat'", argv: []string{"sh", "-c", "cat big.txt | cat"}, check: true}
	ta, tb, err := b.alternate(a, base)
	if err != nil {
		return row{}, err
	}
	ratio := seconds(ta) / seconds(tb)
	return row{
		what:     "pipes: `vramrun --no-learn --pty never -- cat big.txt` vs `sh -c 'cat big.txt \\| cat'`",
		vramrun:  b.copyCell(ta),
		baseline: b.copyCell(tb),
		ratio:    fmt.Sprintf("%.2fx", ratio),
		target:   verdict(fmt.Sprintf("<= %.1fx cat\\|cat", pipeTarget), ratio <= pipeTarget),
	}, nil
}

func (b *bencher) pty(bin string) (row, error) {
	what := "pty: `vramrun --no-learn --pty always -- cat big.txt` vs `script -qc 'cat big.txt' /dev/null`"
	target := fmt.Sprintf("<= %.1fx script -qc", ptyTarget)
	if why := scriptMissing(); why != "" {
		b.notes = append(b.notes, "pty pair skipped: "+why)
		return row{what: what, vramrun: "skipped", baseline: "skipped", ratio: "-", target: target + ": not measured"}, nil
	}
	a := side{label: "vramrun --pty always", argv: []string{bin, "--no-learn", "--pty", "always", "--", "cat", "big.txt"}, check: true, crlf: true}
	base := side{label: "baseline script -qc (the pty itself, without vramrun)", argv: []string{"script", "-qc", "cat big.txt", "/dev/null"}, check: true, crlf: true}
	ta, tb, err := b.alternate(a, base)
	if err != nil {
		return row{}, err
	}
	ratio := seconds(ta) / seconds(tb)
	return row{
		what:     what,
		vramrun:  b.copyCell(ta),
		baseline: b.copyCell(tb),
		ratio:    fmt.Sprintf("%.2fx", ratio),
		target:   verdict(target, ratio <= ptyTarget),
	}, nil
}

func (b *bencher) start(bin string) (row, error) {
	a := side{label: "vramrun -- true", argv: []string{bin, "--no-learn", "--", "true"}}
	base := side{label: "baseline true", argv: []string{"true"}}
	ta, tb, err := b.alternate(a, base)
	if err != nil {
		return row{}, err
	}
	diff := ta - tb
	return row{
		what:     "start: `vramrun --no-learn -- true` vs `true`",
		vramrun:  ms(ta),
		baseline: ms(tb),
		ratio:    fmt.Sprintf("%+.1f ms", seconds(diff)*1e3),
		target:   verdict(fmt.Sprintf("<= +%s over true", ms(startTarget)), diff <= startTarget),
	}, nil
}

func (b *bencher) version(bin string) (row, error) {
	a := side{label: "vramrun version", argv: []string{bin, "version"}}
	times, err := b.timeRuns(a)
	if err != nil {
		return row{}, err
	}
	t := median(times)
	return row{
		what:     "`vramrun version`",
		vramrun:  ms(t),
		baseline: "-",
		ratio:    "-",
		target:   verdict("<= "+ms(versionTarget), t <= versionTarget),
	}, nil
}

// scriptMissing says why the pty baseline cannot run, or "". Only
// util-linux script takes -c; a BSD script (macOS) fails the probe.
func scriptMissing() string {
	path, err := exec.LookPath("script")
	if err != nil {
		return "`script` (util-linux) is not on PATH"
	}
	if err := exec.Command(path, "-qc", "true", os.DevNull).Run(); err != nil {
		return fmt.Sprintf("%s -qc true %s failed (%v): not util-linux script?", path, os.DevNull, err)
	}
	return ""
}

// alternate times a and base in turns, after one untimed run of each (the
// first exec of a fresh binary pays for reading it from disk), and returns
// the median of each.
func (b *bencher) alternate(a, base side) (time.Duration, time.Duration, error) {
	for _, s := range []side{a, base} {
		if _, err := b.runOnce(s); err != nil {
			return 0, 0, err
		}
	}
	var times [2][]time.Duration
	for range b.runs {
		for i, s := range []side{a, base} {
			t, err := b.runOnce(s)
			if err != nil {
				return 0, 0, err
			}
			times[i] = append(times[i], t)
		}
	}
	return median(times[0]), median(times[1]), nil
}

// timeRuns times s alone, after one untimed run (see alternate).
func (b *bencher) timeRuns(s side) ([]time.Duration, error) {
	times := make([]time.Duration, 0, b.runs)
	for i := range b.runs + 1 {
		t, err := b.runOnce(s)
		if err != nil {
			return nil, err
		}
		if i > 0 {
			times = append(times, t)
		}
	}
	return times, nil
}

// runOnce runs s once in the project folder, its stdout and stderr to files
// (vramrun's own lines go to stderr), and times the process alone: the
// files are opened and the output checked outside the clock.
func (b *bencher) runOnce(s side) (time.Duration, error) {
	name := fileName(s.label)
	outPath := filepath.Join(b.dir, name+".out")
	errPath := filepath.Join(b.dir, name+".err")
	out, err := os.Create(outPath) // truncates: each run writes its output afresh
	if err != nil {
		return 0, err
	}
	defer out.Close()
	errFile, err := os.Create(errPath)
	if err != nil {
		return 0, err
	}
	defer errFile.Close()
	cmd := exec.Command(s.argv[0], s.argv[1:]...)
	cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr = b.dir, b.env, out, errFile
	start := time.Now()
	err = cmd.Run()
	took := time.Since(start)
	if err != nil {
		return 0, fmt.Errorf("%s: %v%s", strings.Join(s.argv, " "), err, stderrTail(errPath))
	}
	if s.check {
		if err := b.checkOutput(s, outPath); err != nil {
			return 0, err
		}
	}
	return took, nil
}

// checkOutput compares what s wrote with big.txt and notes the first
// difference, once per side (every run is checked, so a copy that is only
// sometimes wrong is caught too).
func (b *bencher) checkOutput(s side, path string) error {
	got, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	how := "byte for byte"
	if s.crlf {
		got = bytes.ReplaceAll(got, []byte("\r\n"), []byte("\n"))
		how = `after "\r\n" -> "\n"`
	}
	if bytes.Equal(got, b.want) || b.seen[s.label] {
		return nil
	}
	b.seen[s.label] = true
	at := 0
	for at < min(len(got), len(b.want)) && got[at] == b.want[at] {
		at++
	}
	b.mismatches = append(b.mismatches, fmt.Sprintf("NOT BYTE-EXACT: %s: output differs from big.txt (%s) at byte %d: %d bytes, want %d",
		s.label, how, at, len(got), len(b.want)))
	return nil
}

// fileName turns a label into a file name of letters, digits and dashes.
func fileName(label string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '-'
	}, label)
}

// stderrTail is the end of a failed command's stderr, for the error.
func stderrTail(path string) string {
	data, err := os.ReadFile(path)
	if err != nil || len(data) == 0 {
		return ""
	}
	const keep = 2000
	if len(data) > keep {
		data = data[len(data)-keep:]
	}
	return "\n" + strings.TrimRight(string(data), "\n")
}

// median of times; times is not reordered.
func median(times []time.Duration) time.Duration {
	s := slices.Clone(times)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func seconds(d time.Duration) float64 { return d.Seconds() }

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", seconds(d)*1e3) }

func megabytes(n int64) string { return fmt.Sprintf("%.1f MB", float64(n)/1e6) }

// copyCell is a copy's median time and the rate it moved big.txt at.
func (b *bencher) copyCell(d time.Duration) string {
	return fmt.Sprintf("%s (%.0f MB/s)", ms(d), float64(len(b.want))/1e6/seconds(d))
}

func verdict(target string, met bool) string {
	if met {
		return target + ": met"
	}
	return target + ": missed"
}

// printResult prints the mismatch and skip lines, the machine, and the
// Markdown table.
func printResult(w io.Writer, cfg config, res result) {
	for _, line := range res.mismatches {
		fmt.Fprintln(w, line)
	}
	for _, line := range res.notes {
		fmt.Fprintln(w, line)
	}
	if len(res.mismatches) == 0 {
		fmt.Fprintln(w, "all copies byte-exact (pty output compared after \"\\r\\n\" -> \"\\n\")")
	}
	fmt.Fprintf(w, "\nmachine: %d CPUs, %s/%s; big.txt %s (%d bytes); %d timed runs per side, alternating; medians\n\n",
		runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, megabytes(res.file), res.file, cfg.runs)
	fmt.Fprintln(w, "| what | vramrun | baseline | ratio (or difference) | target |")
	fmt.Fprintln(w, "|---|---|---|---|---|")
	for _, r := range res.rows {
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s |\n", r.what, r.vramrun, r.baseline, r.ratio, r.target)
	}
}
