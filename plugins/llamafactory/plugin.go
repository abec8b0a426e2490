// Package llamafactory is the built-in plugin for LLaMA-Factory:
// `llamafactory-cli train cfg.yaml [key=value ...]` (and its `lmf` alias,
// and `src/train.py cfg.yaml` under accelerate launch or torchrun), behind
// any launcher prefix (uv run, srun, env).
//
// The config file must be the first argument after `train`; the rest are
// OmegaConf dotlist overrides, later ones winning. A fix is one more
// override (or the last one of its key, edited), so the user's file is
// never touched. LLaMA-Factory trains with Hugging Face's Trainer: the
// keys are TrainingArguments' plus its own, and gradient checkpointing is
// on unless disable_gradient_checkpointing says otherwise.
package llamafactory

import (
	"context"
	"path/filepath"
	"strings"

	"github.com/vramrun/vramrun/plugins/cfgcli"
	"github.com/vramrun/vramrun/plugins/cmdline"
	"github.com/vramrun/vramrun/plugins/pyscript"
	"github.com/vramrun/vramrun/plugins/pytorch"
	"github.com/vramrun/vramrun/plugins/transformers"
	"github.com/vramrun/vramrun/sdk"
)

// Name is the framework name the plan reports.
const Name = "llamafactory"

// New returns the plugin. The OOM texts are PyTorch's and the traceback
// frames the Trainer's, which their plugins declare.
func New() *cfgcli.Plugin {
	return cfgcli.NewPlugin(sdk.DescribeResponse{Name: Name, Version: "1.0.0", Frameworks: []string{Name},
		Progress:   transformers.Progress(Name),
		Rejections: []sdk.RejectionPattern{{ID: Name + ".unused_keys", Regexp: `Some keys are not used by the HfArgumentParser: (?P<name>.+)$`}}}, 95, "a llamafactory-cli train command", load)
}

// command is a LLaMA-Factory command as read.
type command struct {
	// probes asks the job's Python what it has.
	probes *pyscript.Probes
	s      *pyscript.Script
	// cfgAt is the index in the script's arguments of the config file.
	cfgAt int
	cfg   string
	vals  cfgcli.Values
	// err says why the config could not be read.
	err error
	why string
	// cli says the command is llamafactory-cli's (or lmf's) train, which
	// relaunches itself under torchrun on several GPUs.
	cli bool
}

// Why says what gave the command away.
func (c *command) Why() string { return c.why }

// load reads the command when it is LLaMA-Factory's.
func load(cmd sdk.Command, probes *pyscript.Probes) (*command, bool) {
	inv, err := cmdline.ParseCommand(cmd)
	if err != nil {
		return nil, false
	}
	s := &pyscript.Script{Cmd: cmd, Inv: inv, Imports: map[string]bool{}}
	base := filepath.Base(inv.Script)
	c := &command{probes: probes, s: s, cfgAt: -1}
	switch {
	case (base == "llamafactory-cli" || base == "lmf") && len(inv.Args) > 0 && inv.Args[0] == "train":
		c.why, c.cli = base+" train", true
		if len(inv.Args) > 1 && cfgcli.IsConfig(inv.Args[1]) {
			c.cfgAt = 1
		}
	case inv.Module && inv.Script == "llamafactory.launcher", isLFTrain(cmd, inv):
		c.why = "LLaMA-Factory's " + inv.Script
		if len(inv.Args) > 0 && cfgcli.IsConfig(inv.Args[0]) {
			c.cfgAt = 0
		}
	default:
		return nil, false
	}
	c.vals = cfgcli.Values{}
	if c.cfgAt >= 0 {
		c.cfg = inv.Args[c.cfgAt]
		c.vals, c.err = cfgcli.Read(cmd, c.cfg)
		if c.vals == nil {
			c.vals = cfgcli.Values{}
		}
	}
	for _, a := range c.overrides() {
		k, v, _ := strings.Cut(a, "=")
		c.vals[k] = cfgcli.Scalar(v)
	}
	return c, true
}

// isLFTrain says the script is LLaMA-Factory's src/train.py (or a script
// that runs its run_exp).
func isLFTrain(cmd sdk.Command, inv cmdline.Invocation) bool {
	if inv.Module || !strings.HasSuffix(inv.Script, ".py") {
		return false
	}
	src, err := cmd.ReadFile(inv.Script)
	return err == nil && strings.Contains(string(src), "llamafactory") && strings.Contains(string(src), "run_exp")
}

// overrides are the dotlist arguments after the config file, in order.
func (c *command) overrides() []string {
	var out []string
	for _, a := range c.s.Inv.Args[c.cfgAt+1:] {
		if strings.Contains(a, "=") && !strings.HasPrefix(a, "-") {
			out = append(out, a)
		}
	}
	return out
}

// set returns the script's arguments with key=value after the config.
func (c *command) set(args []string, key, value string) []string {
	return cfgcli.SetOverride(args, c.cfgAt, key, value)
}

// allocatorUnsupported says why the allocator fix is not for this command.
func (c *command) allocatorUnsupported() string {
	if reason := pytorch.AllocatorUnsupported(c.s.Cmd.Env); reason != "" {
		return reason
	}
	if c.torchrunPath() && c.enabled("OPTIM_TORCH", "1") {
		return "already in force: on its torchrun path llamafactory-cli sets PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True itself (OPTIM_TORCH is on)"
	}
	return ""
}

// resumeCheck is the Trainer's own check before a resume (#43708).
func resumeCheck(ctx context.Context, probes *pyscript.Probes, c *command, checkpoint string, micro int) string {
	return transformers.BatchRestoreRefusal(ctx, probes, c.s, checkpoint, micro)
}
