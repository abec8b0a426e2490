package runner

import (
	"context"
	"io"
	"os/exec"
	"strconv"
	"testing"
)

// benchBytes is what the throughput benchmarks' job writes.
const benchBytes = 64 << 20

// BenchmarkPTYThroughput measures how fast a job's output crosses a
// pseudo-terminal to vramrun (MB/s, from b.SetBytes): a job writing 64 MB
// of zeros run through Start/Wait in PTY mode ("runner"), against the same
// job run directly with os/exec and its stdout copied to io.Discard through
// a pipe ("exec", no pty: the ceiling), and under util-linux `script -qc`
// ("script", a pty relay in C: the reference for the pty's own cost).
func BenchmarkPTYThroughput(b *testing.B) {
	job := []string{"head", "-c", strconv.Itoa(benchBytes), "/dev/zero"}
	b.Run("runner", func(b *testing.B) {
		b.SetBytes(benchBytes)
		for b.Loop() {
			j, err := Start(context.Background(), Spec{Argv: job, Mode: PTY, Stdout: io.Discard})
			if err != nil {
				b.Fatal(err)
			}
			if res := j.Wait(); res.Status() != 0 {
				b.Fatalf("status %d", res.Status())
			}
		}
	})
	b.Run("exec", func(b *testing.B) {
		b.SetBytes(benchBytes)
		for b.Loop() {
			cmd := exec.Command(job[0], job[1:]...)
			cmd.Stdout = io.Discard
			if err := cmd.Run(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("script", func(b *testing.B) {
		if _, err := exec.LookPath("script"); err != nil {
			b.Skip("util-linux script is not installed")
		}
		b.SetBytes(benchBytes)
		for b.Loop() {
			cmd := exec.Command("script", "-qc", "head -c "+strconv.Itoa(benchBytes)+" /dev/zero", "/dev/null")
			cmd.Stdout = io.Discard
			if err := cmd.Run(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkStartOverhead measures the fixed cost of one attempt: running
// `true` through Start/Wait in Pipes mode (program lookup, pipes, process
// group, the /proc scans for children and leftovers) against
// exec.Command("true").Run().
func BenchmarkStartOverhead(b *testing.B) {
	b.Run("runner", func(b *testing.B) {
		for b.Loop() {
			j, err := Start(context.Background(), Spec{Argv: []string{"true"}, Mode: Pipes})
			if err != nil {
				b.Fatal(err)
			}
			if res := j.Wait(); res.Status() != 0 {
				b.Fatalf("status %d", res.Status())
			}
		}
	})
	b.Run("exec", func(b *testing.B) {
		for b.Loop() {
			if err := exec.Command("true").Run(); err != nil {
				b.Fatal(err)
			}
		}
	})
}
