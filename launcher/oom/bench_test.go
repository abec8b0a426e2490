package oom_test

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/vramrun/vramrun/launcher/oom"
)

// chattyLog is about 4 MiB of what a training job prints: tqdm bars redrawn
// with \r, loss lines, warnings and a pip-style table, with no OOM.
func chattyLog() []byte {
	var b bytes.Buffer
	for epoch := 0; b.Len() < 4<<20; epoch++ {
		for step := 0; step < 200; step++ {
			fmt.Fprintf(&b, "Epoch %d:  %3d%%|██▍       | %d/200 [00:%02d<01:10,  2.91it/s, loss=%.4f, lr=3.0e-04]\r",
				epoch, step/2, step, step%60, 2.5-float64(step)/1000)
			if step%50 == 0 {
				fmt.Fprintf(&b, "\n{'loss': %.4f, 'grad_norm': 1.873, 'learning_rate': 4.5e-05, 'epoch': %d.%d}\n", 2.1, epoch, step)
				b.WriteString("/opt/conda/lib/python3.11/site-packages/torch/utils/checkpoint.py:92: UserWarning: None of the inputs have requires_grad=True. Gradients will be None\n")
				b.WriteString("INFO:__main__:memory allocated 17.21 GiB, reserved 18.00 GiB, peak 19.40 GiB\n")
			}
		}
		b.WriteString("\n")
	}
	return b.Bytes()
}

func BenchmarkScannerChattyLog(b *testing.B) {
	m := builtinMatcher(b)
	log := chattyLog()
	matches := 0
	s := oom.NewScanner(m, func(oom.Match) { matches++ })
	b.SetBytes(int64(len(log)))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		for chunk := log; len(chunk) > 0; {
			n := min(4096, len(chunk)) // a pipe's usual read size
			s.Write(chunk[:n])
			chunk = chunk[n:]
		}
	}
	b.StopTimer()
	if matches != 0 {
		b.Fatalf("%d matches in a log without OOM", matches)
	}
}

func BenchmarkDiagnoseChattyLog(b *testing.B) {
	m := builtinMatcher(b)
	log := chattyLog()
	b.SetBytes(int64(len(log)))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := oom.Diagnose(m, bytes.NewReader(log), oom.Ending{}, "train.py"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkScannerBase64: the whole-product benchmark's input, lines of
// base64 (every letter equally likely: the anchors' rare bytes are not
// rare there), in a pipe's 64 KiB reads.
func BenchmarkScannerBase64(b *testing.B) {
	m := builtinMatcher(b)
	raw := make([]byte, 3<<20)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range raw {
		raw[i] = byte(rng.Uint32())
	}
	enc := base64.StdEncoding.EncodeToString(raw)
	var log bytes.Buffer
	for len(enc) > 0 {
		n := min(76, len(enc))
		log.WriteString(enc[:n] + "\n")
		enc = enc[n:]
	}
	s := oom.NewScanner(m, nil)
	b.SetBytes(int64(log.Len()))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		for chunk := log.Bytes(); len(chunk) > 0; {
			n := min(64<<10, len(chunk))
			s.Write(chunk[:n])
			chunk = chunk[n:]
		}
	}
}

// BenchmarkCompile: compiling every built-in declaration, which each run
// does before its first attempt (component: part of `vramrun -- true`).
func BenchmarkCompile(b *testing.B) {
	patterns, frames := builtinPatterns(), builtinFrames()
	for b.Loop() {
		if _, err := oom.Compile(patterns, frames); err != nil {
			b.Fatal(err)
		}
	}
}
