package main

import (
	"context"
	"errors"
	"reflect"
	"regexp"
	"testing"

	"github.com/vramrun/vramrun/sdk"
	"github.com/vramrun/vramrun/sdk/plugintest"
)

func TestConformance(t *testing.T) {
	plugintest.Run(t, myTrainer{}, []plugintest.Case{
		{Name: "mytrainer.py", Command: sdk.Command{Argv: []string{"python3", "mytrainer.py", "--mb", "256"}}, Expect: plugintest.ExpectClaimed},
		{Name: "equals form and half", Command: sdk.Command{Argv: []string{"python", "mytrainer.py", "--mb=32", "--accum-steps=4", "--half"}}, Expect: plugintest.ExpectClaimed},
		{Name: "imports mytrainer", Command: sdk.Command{Argv: []string{"python", "run.py"},
			Files: map[string][]byte{"run.py": []byte("from mytrainer import fit\nfit()\n")}}, Expect: plugintest.ExpectClaimed},
		{Name: "a torch script", Command: sdk.Command{Argv: []string{"python", "train.py"},
			Files: map[string][]byte{"train.py": []byte("import torch\n")}}, Expect: plugintest.ExpectNotClaimed},
		{Name: "no script", Command: sdk.Command{Argv: []string{"bash", "-c", "true"}}, Expect: plugintest.ExpectNotClaimed},
	})
}

func TestBatchFixKeepsTheProduct(t *testing.T) {
	cmd := sdk.Command{Argv: []string{"python3", "mytrainer.py", "--mb", "256"}}
	got, err := myTrainer{}.Apply(context.Background(), sdk.ApplyRequest{Command: cmd,
		Fix: sdk.Fix{ID: sdk.FixBatchSize, BatchSize: 64, GradAccumulation: 4}, CopyDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"python3", "mytrainer.py", "--mb", "64", "--accum-steps", "4"}
	if !reflect.DeepEqual(got.Argv, want) || got.Summary != "--mb 256 -> 64, --accum-steps 1 -> 4" {
		t.Errorf("Apply = %q (%s), want %q", got.Argv, got.Summary, want)
	}
}

func TestMixedPrecisionAddsHalfOnce(t *testing.T) {
	cmd := sdk.Command{Argv: []string{"python3", "mytrainer.py"}}
	got, err := myTrainer{}.Apply(context.Background(), sdk.ApplyRequest{Command: cmd,
		Fix: sdk.Fix{ID: sdk.FixMixedPrecision, Precision: "bf16"}, CopyDir: t.TempDir()})
	if err != nil || !reflect.DeepEqual(got.Argv, []string{"python3", "mytrainer.py", "--half"}) {
		t.Fatalf("Apply = %q, %v", got.Argv, err)
	}
	_, err = myTrainer{}.Apply(context.Background(), sdk.ApplyRequest{Command: sdk.Command{Argv: got.Argv},
		Fix: sdk.Fix{ID: sdk.FixMixedPrecision}, CopyDir: t.TempDir()})
	var unsupported *sdk.UnsupportedError
	if !errors.As(err, &unsupported) || unsupported.Reason != "already runs with --half" {
		t.Errorf("second mixed_precision: %v, want unsupported", err)
	}
}

func TestBadFlagValueIsAnError(t *testing.T) {
	_, err := myTrainer{}.Analyze(context.Background(), sdk.AnalyzeRequest{Command: sdk.Command{Argv: []string{"python", "mytrainer.py", "--mb", "lots"}}})
	if err == nil || err.Error() != `--mb "lots" is not a positive whole number` {
		t.Errorf("Analyze error = %v", err)
	}
}

// The OOM text MyTrainer prints, as it appears in a job's log.
const oomLog = `epoch 1 step 3 loss 2.31
Traceback (most recent call last):
  File "mytrainer.py", line 88, in train_step
mytrainer.errors.DeviceOOM: MyTrainer: device out of memory (wanted 2.50 GiB)
`

func TestPatternMatchesMyTrainerLog(t *testing.T) {
	d, err := myTrainer{}.Describe(context.Background(), sdk.DescribeRequest{})
	if err != nil || len(d.Patterns) != 1 {
		t.Fatalf("Describe = %+v, %v", d, err)
	}
	re := regexp.MustCompile(d.Patterns[0].Regexp)
	var tried []string
	for _, line := range regexp.MustCompile("\n").Split(oomLog, -1) {
		if m := re.FindStringSubmatch(line); m != nil {
			tried = append(tried, m[re.SubexpIndex("tried")])
		}
	}
	if !reflect.DeepEqual(tried, []string{"2.50 GiB"}) {
		t.Errorf("matched tried sizes %q, want the one OOM line's 2.50 GiB", tried)
	}
}

func TestOtherFixesAreTurnedDown(t *testing.T) {
	cmd := sdk.Command{Argv: []string{"python3", "mytrainer.py"}}
	for _, id := range []sdk.FixID{sdk.FixAllocator, sdk.FixGradCheckpointing, sdk.FixOptimizer8bit, sdk.FixCPUOffload, sdk.FixEvalBatchSize} {
		_, err := myTrainer{}.Apply(context.Background(), sdk.ApplyRequest{Command: cmd, Fix: sdk.Fix{ID: id, BatchSize: 8}, CopyDir: t.TempDir()})
		var unsupported *sdk.UnsupportedError
		if !errors.As(err, &unsupported) || unsupported.Fix != id || unsupported.Reason != "MyTrainer has no flag for "+string(id) {
			t.Errorf("Apply %s: %v, want it turned down as having no flag", id, err)
		}
	}
}
