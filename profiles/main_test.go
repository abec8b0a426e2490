package profiles

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/vramrun/vramrun/sdk"
)

// Environment variables that turn the test binary into a helper process
// for the concurrency test.
const (
	helperModeVar    = "PROFILES_TEST_HELPER"
	helperProjectVar = "PROFILES_TEST_PROJECT"
	helperIndexVar   = "PROFILES_TEST_INDEX"
	helperHomeVar    = "PROFILES_TEST_HOME"
)

func TestMain(m *testing.M) {
	if os.Getenv(helperModeVar) == "record" {
		if err := recordHelper(); err != nil {
			fmt.Fprintln(os.Stderr, "helper:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// helperFingerprint is the fingerprint helper process i records.
func helperFingerprint(i int) Fingerprint {
	return Fingerprint{Launcher: "python", WorldSize: 1, Script: "train.py",
		Knobs: map[string]string{"batch_size": strconv.Itoa(256 + i)}}
}

var helperGPU = GPUKey{Model: "NVIDIA A100-SXM4-80GB", TotalBytes: 85899345920}

// recordHelper is one of the concurrent vramrun processes: it waits until
// its stdin closes (the parent closes all of them at once, so the processes
// start together without any sleep), then opens the store, records its entry
// and writes its own run record.
func recordHelper() error {
	if _, err := io.Copy(io.Discard, os.Stdin); err != nil {
		return err
	}
	i, err := strconv.Atoi(os.Getenv(helperIndexVar))
	if err != nil {
		return err
	}
	store, _, err := OpenStore(os.Getenv(helperProjectVar), map[string]string{"HOME": os.Getenv(helperHomeVar)})
	if err != nil {
		return err
	}
	runID := fmt.Sprintf("run-%02d", i)
	learned := Learned{
		Fixes:    []sdk.Fix{{ID: sdk.FixBatchSize, BatchSize: 128, GradAccumulation: 2}},
		Argv:     []string{"python", "train.py", "--batch-size", "128"},
		Summary:  "batch 128 x accumulation 2",
		Recorded: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		RunID:    runID,
	}
	if err := store.Record(helperFingerprint(i), helperGPU, learned); err != nil {
		return err
	}
	runDir := filepath.Join(store.RunsDir(), runID)
	if err := os.MkdirAll(runDir, 0o755); err != nil {
		return err
	}
	record, err := json.Marshal(map[string]any{"id": runID, "argv": learned.Argv})
	if err != nil {
		return err
	}
	return store.WriteFileAtomic(filepath.Join(runDir, "run.json"), record)
}
