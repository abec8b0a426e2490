// Package transformers is the built-in plugin for Hugging Face Transformers
// training: Trainer scripts configured through TrainingArguments (flags,
// a <script>.args file or a single JSON args file), the accelerate-based
// no_trainer scripts, and both under accelerate launch, torchrun and the
// deepspeed launcher with a DeepSpeed JSON ("auto" values included).
//
// It reads the knobs from wherever the command sets them and applies a fix
// by rewriting flags, launcher options, environment or a copy of a JSON
// file; it never writes a file itself. PyTorch's OOM texts are declared by
// the pytorch plugin; this one adds the Trainer's traceback frames.
package transformers

import (
	"context"
	"regexp"
	"strings"
	"sync"

	"github.com/vramrun/vramrun/plugins/cmdline"
	"github.com/vramrun/vramrun/plugins/pyscript"
	"github.com/vramrun/vramrun/sdk"
)

// Name is the framework name the plan reports.
const Name = "transformers"

// Version is the plugin's version.
const Version = "1.0.0"

// Plugin is the Hugging Face Transformers plugin. It keeps no state between
// calls but what the job's Python answered to a probe.
type Plugin struct {
	probes *pyscript.Probes
}

// New returns the plugin.
func New() *Plugin { return &Plugin{probes: pyscript.NewProbes()} }

// Describe declares the plugin and the Trainer's traceback frames.
func (*Plugin) Describe(context.Context, sdk.DescribeRequest) (sdk.DescribeResponse, error) {
	return sdk.DescribeResponse{Name: Name, Version: Version, Frameworks: []string{Name}, Frames: Frames(), Progress: Progress(Name),
		Rejections: Rejections(Name)}, nil
}

// Rejections are the texts with which a script whose arguments an
// HfArgumentParser reads (the Trainer's scripts, TRL's CLI) rejects a flag:
// argparse's and Python's (pyscript.Rejections), and the parser's own for
// arguments no dataclass takes.
func Rejections(name string) []sdk.RejectionPattern {
	return append(pyscript.Rejections(name),
		sdk.RejectionPattern{ID: name + ".hf_unused_arguments", Regexp: `Some specified arguments are not used by the HfArgumentParser: (?P<name>.+)$`})
}

// hfFlagFields are HF fields distinctive enough that typing one says the
// command is a Hugging Face script (the examples' ModelArguments
// model_name_or_path included).
var hfFlagFields = []string{"per_device_train_batch_size", "per_device_eval_batch_size", "output_dir",
	"overwrite_output_dir", "do_train", "do_eval", "model_name_or_path", "eval_strategy", "evaluation_strategy"}

// otherTrainers are frameworks a script may import transformers into while
// training with their own loop: their plugins know those scripts better.
var otherTrainers = []string{"lightning", "pytorch_lightning", "tensorflow", "keras", "jax", "flax"}

// hfArgsWords show a script that parses HF training arguments, whatever
// else it imports.
var hfArgsWords = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`\b(HfArgumentParser|\w*TrainingArguments|(SFT|DPO|GRPO|KTO|ORPO|CPO|PPO|Reward)Config)\b`)
})

// Recognize claims scripts that import transformers, commands typed with
// TrainingArguments flags, and single JSON files of TrainingArguments.
func (*Plugin) Recognize(_ context.Context, req sdk.RecognizeRequest) (sdk.RecognizeResponse, error) {
	cmd := req.Command
	s, ok := pyscript.Load(cmd)
	if !ok {
		return sdk.RecognizeResponse{}, nil
	}
	rec := sdk.RecognizeResponse{Framework: Name}
	code := pythonCode(s.Source)
	switch {
	case s.ImportsAny("transformers", "trl"):
		rec.Confidence, rec.Reason = 80, "the script imports transformers"
		if !s.ImportsAny("transformers") {
			rec.Reason = "the script imports trl (built on transformers' Trainer)"
		}
		for _, other := range otherTrainers {
			if s.ImportsAny(other) && !hfArgsWords().MatchString(code) {
				rec.Confidence, rec.Reason = 50, "the script imports transformers but trains with "+other
				break
			}
		}
	default:
		if file := jsonArgsFile(cmd, s.Inv); file != "" {
			rec.Confidence, rec.Reason = 75, "a single JSON file of TrainingArguments ("+file+")"
		} else if flag := hfFlag(s); flag != "" {
			rec.Confidence, rec.Reason = 70, "HF TrainingArguments flags ("+flag+")"
		}
	}
	if rec.Confidence > 0 {
		switch s.Inv.Launcher {
		case "accelerate":
			rec.Confidence += 5
			rec.Reason += ", started by accelerate launch"
		case "deepspeed":
			rec.Confidence += 5
			rec.Reason += ", started by deepspeed"
		}
	}
	return rec, nil
}

// hfFlag is the first distinctive HF flag the command types, "" for none.
// A flag the script defines with its own argparse, in a script that does
// not import transformers, is the script's, not HF's.
func hfFlag(s *pyscript.Script) string {
	for _, field := range hfFlagFields {
		names := cmdline.HFNames(field)
		f, ok := cmdline.FindFlag(s.Inv.Args, names...)
		if !ok {
			continue
		}
		if _, own := s.Def(names...); own && !s.ImportsAny("transformers") {
			continue
		}
		return f.Name
	}
	return ""
}

// jsonArgsFile is the args file of `script.py args.json` when it holds
// TrainingArguments keys; "" otherwise.
func jsonArgsFile(cmd sdk.Command, inv cmdline.Invocation) string {
	if len(inv.Args) != 1 || !strings.HasSuffix(inv.Args[0], ".json") {
		return ""
	}
	raw, err := cmd.ReadFile(inv.Args[0])
	if err != nil {
		return ""
	}
	doc, err := parseJSONObject(raw)
	if err != nil {
		return ""
	}
	for _, k := range hfFlagFields {
		if doc.Has(k) {
			return inv.Args[0]
		}
	}
	return ""
}

// Analyze finds the command's knobs.
func (*Plugin) Analyze(_ context.Context, req sdk.AnalyzeRequest) (sdk.AnalyzeResponse, error) {
	cmd := req.Command
	j, err := loadJob(cmd)
	if err != nil {
		return sdk.AnalyzeResponse{}, err
	}
	return j.analyze().AnalyzeResponse, nil
}

// Apply rewrites the command for one fix; copies of JSON files go under
// copyDir (as contents: the host writes them).
func (p *Plugin) Apply(ctx context.Context, req sdk.ApplyRequest) (sdk.ApplyResponse, error) {
	j, err := loadJob(req.Command)
	if err != nil {
		return sdk.ApplyResponse{}, err
	}
	j.probes = p.probes
	return j.apply(ctx, req.Fix, req.CopyDir)
}

// pythonCode is a Python source without its comments and docstrings, so
// that a word in prose ("unlike the Trainer, ...") does not count as code.
// It is a rough cut: a # inside a one-line string ends that line early,
// which only loses text.
func pythonCode(src []byte) string {
	s := string(src)
	for _, q := range []string{`"""`, `'''`} {
		var b strings.Builder
		for {
			i := strings.Index(s, q)
			if i < 0 {
				b.WriteString(s)
				break
			}
			b.WriteString(s[:i])
			end := strings.Index(s[i+3:], q)
			if end < 0 {
				break
			}
			s = s[i+3+end+3:]
		}
		s = b.String()
	}
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if k := strings.IndexByte(l, '#'); k >= 0 {
			lines[i] = l[:k]
		}
	}
	return strings.Join(lines, "\n")
}
