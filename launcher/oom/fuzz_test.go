package oom_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/vramrun/vramrun/launcher/oom"
	"github.com/vramrun/vramrun/sdk"
)

func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"2.30 GiB", "1.25GiB", "0 bytes", "512 B", "1342177280", "1.5 GB", "16.00GiB",
		"3.5 KiB", "17179869184.00 GiB", "1.2.3", "", " ", "9223372036854775807", "0.5 B", "1e9 KiB"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := oom.ParseSize(s)
		if err != nil {
			if n != 0 || !strings.HasPrefix(err.Error(), "size ") || strings.Contains(err.Error(), "\n") {
				t.Errorf("ParseSize(%q) = %d, %q", s, n, err)
			}
			return
		}
		if n < 0 {
			t.Errorf("ParseSize(%q) = %d, negative", s, n)
		}
		// A figure printed in whole bytes reads back exactly.
		if back, err := oom.ParseSize(fmt.Sprintf("%d bytes", n)); err != nil || back != n {
			t.Errorf("ParseSize(%q) = %d, but %d bytes reads %d, %v", s, n, n, back, err)
		}
	})
}

func FuzzDiagnose(f *testing.F) {
	m := builtinMatcher(f)
	lines := corpusLines(f)
	for i, line := range lines {
		if i%3 == 0 || strings.Contains(line, "memory") || strings.Contains(line, "OOM") {
			f.Add(line, 0, false, 0, 0, false)
		}
	}
	f.Add("Traceback (most recent call last):\n  File \"train.py\", line 1, in evaluate\n"+lines[0], 9, false, 137, 1, true)
	f.Add("", 9, true, 0, 0, false)
	f.Add("Allocation on device 0 would exceed allowed memory. (out of memory)\nCurrently allocated     : 1 bytes\r\n", 0, true, 1, 0, false)
	f.Fuzz(func(t *testing.T, log string, signal int, exited bool, exitCode, kills int, kernel bool) {
		end := oom.Ending{Exited: exited, ExitCode: exitCode, Signal: signal, HostOOMKills: kills, KernelOOM: kernel}
		d, err := oom.Diagnose(m, strings.NewReader(log), end, "train.py")
		if err != nil {
			t.Fatalf("Diagnose: %v", err)
		}
		if _, err := json.Marshal(d); err != nil {
			t.Fatalf("marshal: %v", err)
		}
		checkInvariants(t, d)
	})
}

// checkInvariants are the rules every diagnosis keeps (the explain --json shape in the README).
func checkInvariants(t *testing.T, d oom.Diagnosis) {
	t.Helper()
	if d.OtherProcesses == nil || d.NextFixes == nil || len(d.NextFixes) != 0 {
		t.Errorf("other_processes %#v next_fixes %#v: want non-nil, next_fixes empty", d.OtherProcesses, d.NextFixes)
	}
	if d.Phase != sdk.PhaseTrain && d.Phase != sdk.PhaseEval && d.Phase != sdk.PhaseUnknown {
		t.Errorf("phase %q", d.Phase)
	}
	if !d.OOM {
		assertNoOOM(t, d)
		return
	}
	if d.Kind != sdk.KindGPU && d.Kind != sdk.KindHost || d.Signature == "" || d.Framework == "" || d.Message == "" {
		t.Errorf("OOM diagnosis missing kind, signature, framework or message: %+v", d)
	}
	for _, p := range []*int64{d.TriedBytes, d.CapacityBytes, d.FreeBytes, d.AllocatedBytes, d.ReservedUnallocatedBytes, d.AllowedBytes} {
		if p != nil && *p < 0 {
			t.Errorf("negative size in %+v", d)
		}
	}
	if d.Device != nil && *d.Device < 0 {
		t.Errorf("device %d", *d.Device)
	}
	if d.Fragmented && d.ReservedUnallocatedBytes == nil {
		t.Errorf("fragmented without reserved_unallocated_bytes")
	}
	for _, p := range d.OtherProcesses {
		if p.PID < 0 || p.UsedBytes < 0 {
			t.Errorf("other process %+v", p)
		}
	}
}
