package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/vramrun/vramrun/launcher/speed"
	"github.com/vramrun/vramrun/plugins/host"
	"github.com/vramrun/vramrun/sdk"
)

// lightningBarFormat is Lightning's TQDMProgressBar.BAR_FORMAT
// (src/lightning/pytorch/callbacks/progress/tqdm_progress.py): the rate
// without inversion, so a slow step still shows it/s.
const lightningBarFormat = "{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}, {rate_noinv_fmt}{postfix}]"

// tqdmCase is one tool's training bar as testdata/real-tqdm/bars.py draws
// it with the real tqdm: the plugin whose patterns must read it, the
// pattern that should, and the rate the fixed clock makes tqdm show.
type tqdmCase struct {
	name, plugin, pattern string
	bars                  map[string]any
	rate                  float64
}

func tqdmCases() []tqdmCase {
	return []tqdmCase{
		// transformers' ProgressCallback: tqdm(total=max_steps,
		// dynamic_ncols=True), the logs through training_bar.write, the
		// prediction bar (leave=False) under it at each evaluation.
		{"HF Trainer", "transformers", "transformers.tqdm_rate", map[string]any{"total": 30, "dt": 0.25,
			"kwargs": map[string]any{"dynamic_ncols": true}, "eval_every": 10, "eval_total": 4, "eval_dt": 0.05, "log_every": 5}, 4},
		{"HF Trainer, steps over a second", "transformers", "transformers.tqdm_period", map[string]any{"total": 12, "dt": 2.5,
			"kwargs": map[string]any{"dynamic_ncols": true}}, 0.4},
		{"HF Trainer, a narrow terminal", "transformers", "transformers.tqdm_rate", map[string]any{"total": 30, "dt": 0.5,
			"kwargs": map[string]any{"ncols": 60, "ascii": true}}, 2},
		// Lightning's bar: desc "Epoch N", smoothing 0 (the mean since the
		// epoch began), its bar format, the metrics as postfix.
		{"Lightning", "lightning", "lightning.tqdm_rate", map[string]any{"total": 20, "dt": 0.125,
			"kwargs":  map[string]any{"desc": "Epoch 0", "dynamic_ncols": true, "smoothing": 0, "bar_format": lightningBarFormat},
			"postfix": map[string]any{"v_num": 0, "train_loss": "2.310"}}, 8},
		{"Lightning, steps over a second", "lightning", "lightning.tqdm_rate", map[string]any{"total": 12, "dt": 2.5,
			"kwargs":  map[string]any{"desc": "Epoch 3", "dynamic_ncols": true, "smoothing": 0, "bar_format": lightningBarFormat},
			"postfix": map[string]any{"v_num": 1}}, 0.4},
		// OpenRLHF's SFTTrainer: the step bar under the epoch bar, its logs
		// dict as postfix, on an 80-column terminal that trims the line.
		{"OpenRLHF", "openrlhf", "openrlhf.tqdm_rate", map[string]any{"total": 20, "dt": 0.5, "outer": "Train epoch",
			"kwargs":  map[string]any{"desc": "Train step of epoch 0", "ncols": 80},
			"postfix": map[string]any{"gpt_loss": 2.3125, "loss_mean": 2.3125, "lr": 1e-05}}, 2},
		// verl's SFT trainer iterates tqdm(train_dataloader, total=...,
		// desc=f"Epoch {epoch + 1}/{total_epochs}").
		{"verl SFT", "hydra", "hydra.verl_sft.tqdm_rate", map[string]any{"total": 20, "dt": 0.5, "iterate": true,
			"kwargs": map[string]any{"desc": "Epoch 1/4"}}, 2},
		// torchtune's recipes: tqdm(total=steps_per_epoch), then after each
		// update set_description(f"{epoch + 1}|{global_step}|Loss: {loss}").
		{"torchtune", "torchtune", "torchtune.tqdm_rate", map[string]any{"total": 20, "dt": 0.5,
			"desc_each": "1|{step}|Loss: 2.3125"}, 2},
	}
}

// TestRealTqdm draws each tool's training bar with the real tqdm (Debian's
// python3-tqdm) on a fixed clock and reads the job's two streams the way
// an attempt's are read: the pattern the tool's plugin declares must read
// tqdm's exact rate, after the warm-up, from enough ticks, whatever else
// the bar's lines carry (evaluation bars, logs, nesting, postfixes, a
// trimmed line).
func TestRealTqdm(t *testing.T) {
	requirePythonModules(t, "python3-tqdm", "tqdm")
	script := filepath.Join(repoRoot(t), "cmd", "vramrun", "testdata", "real-tqdm", "bars.py")
	plugins := map[string]sdk.DescribeResponse{}
	for _, f := range host.Builtins() {
		d, err := f.Describe(context.Background(), sdk.DescribeRequest{})
		if err != nil {
			t.Fatal(err)
		}
		plugins[d.Name] = d
	}
	for _, c := range tqdmCases() {
		t.Run(c.name, func(t *testing.T) {
			d, ok := plugins[c.plugin]
			if !ok {
				t.Fatalf("no built-in plugin %q", c.plugin)
			}
			arg, err := json.Marshal(c.bars)
			if err != nil {
				t.Fatal(err)
			}
			var stdout, stderr bytes.Buffer
			cmd := exec.Command(DebianPython, script, string(arg))
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Run(); err != nil {
				t.Fatalf("%v\n%s", err, stderr.Bytes())
			}
			set, err := speed.Compile(d.Progress)
			if err != nil {
				t.Fatal(err)
			}
			readings := set.NewReadings()
			for _, out := range [][]byte{stdout.Bytes(), stderr.Bytes()} {
				m := readings.Meter()
				_, _ = m.Write(out)
				_ = m.Close()
			}
			got := readings.Speed(speed.Shape{Micro: 1, Accumulation: 1, World: 1})
			if got == nil {
				t.Fatalf("no reading from %s's patterns; the bar drew:\n%q", c.plugin, stderr.String())
			}
			total := int(c.bars["total"].(int))
			if got.Pattern != c.pattern || got.Rate != c.rate || got.Readings < total/2 {
				t.Errorf("read %s at %g a second from %d readings; want %s at %g from %d or more; the bar drew:\n%q",
					got.Pattern, got.Rate, got.Readings, c.pattern, c.rate, total/2, stderr.String())
			}
		})
	}
}

// TestRealTqdmMatchesTheSimulation: the simulated jobs' bar
// (examples/simtrain/simgpu_speed.Progress, which their HF, Lightning,
// verl, OpenRLHF and torchtune trainers draw) draws, frame for frame, what
// the real tqdm draws for the same ticks on the same clock
// (testdata/real-tqdm/sim_frames.py), so the testscripts' speed readings
// come from tqdm's own format.
func TestRealTqdmMatchesTheSimulation(t *testing.T) {
	requirePythonModules(t, "python3-tqdm", "tqdm")
	root := repoRoot(t)
	script := filepath.Join(root, "cmd", "vramrun", "testdata", "real-tqdm", "sim_frames.py")
	out, err := exec.Command(DebianPython, script, filepath.Join(root, "examples", "simtrain")).CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if n := bytes.Count(out, []byte("frames alike\n")); n < 7 {
		t.Fatalf("%d cases compared, want 7:\n%s", n, out)
	}
}
