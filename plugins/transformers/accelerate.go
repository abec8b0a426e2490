package transformers

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/vramrun/vramrun/plugins/cmdline"
	"github.com/vramrun/vramrun/sdk"
	"gopkg.in/yaml.v3"
)

// accelerate launch's options (accelerate/commands/launch.py) that vramrun
// reads or sets.
const (
	accMixedPrecision = "--mixed_precision"
	accAccum          = "--gradient_accumulation_steps"
	accUseDeepSpeed   = "--use_deepspeed"
	accZeroStage      = "--zero_stage"
	accOffload        = "--offload_optimizer_device"
	accDSConfigFile   = "--deepspeed_config_file"
	accConfigFile     = "--config_file"
	accUseFSDP        = "--use_fsdp"
	accFSDPOffload    = "--fsdp_offload_params"
)

// accel is what accelerate launch says about a command: its options, over
// its config file (--config_file, else the default config).
type accel struct {
	on bool
	// mixedPrecision is "no", "fp16", "bf16", "fp8" or "" when unset.
	mixedPrecision string
	mpTyped        bool
	deepspeed      bool
	zeroStage      int
	zeroKnown      bool
	offloadDevice  string
	// accum is --gradient_accumulation_steps when typed.
	accum      string
	accumTyped bool
	// dsConfigFile is the DeepSpeed JSON accelerate uses.
	dsConfigFile string
	// configFile is the accelerate config read ("" when none).
	configFile string
	fsdpSettings
}

// fsdpSettings say whether accelerate shards with FSDP and whether it
// offloads parameters (and their optimizer state) to the CPU.
type fsdpSettings struct {
	fsdp bool
	// fsdpOffload is fsdp_offload_params as set ("" when unset).
	fsdpOffload string
}

// accelerateConfig is the part of accelerate's config file vramrun reads.
type accelerateConfig struct {
	// Values are read loosely (a YAML 1.1 reader may give `no` as false,
	// a stage may be "auto"), then turned into text.
	MixedPrecision  any `yaml:"mixed_precision"`
	DistributedType any `yaml:"distributed_type"`
	DeepSpeed       struct {
		ZeroStage              any `yaml:"zero_stage"`
		OffloadOptimizerDevice any `yaml:"offload_optimizer_device"`
		DeepSpeedConfigFile    any `yaml:"deepspeed_config_file"`
	} `yaml:"deepspeed_config"`
	FSDP struct {
		OffloadParams any `yaml:"fsdp_offload_params"`
	} `yaml:"fsdp_config"`
}

// yamlText is a loosely read value as text; false (YAML 1.1's `no`) reads
// as "no", nothing as "".
func yamlText(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case bool:
		if !x {
			return "no"
		}
		return "yes"
	}
	return fmt.Sprint(v)
}

func readAccelerate(cmd sdk.Command, inv cmdline.Invocation) accel {
	a := accel{on: inv.Launcher == "accelerate"}
	if !a.on {
		return a
	}
	cfg, path := accelerateConfigFile(cmd, inv)
	a.configFile = path
	a.mixedPrecision = yamlText(cfg.MixedPrecision)
	a.deepspeed = strings.EqualFold(yamlText(cfg.DistributedType), "DEEPSPEED")
	if n, err := strconv.Atoi(yamlText(cfg.DeepSpeed.ZeroStage)); err == nil {
		a.zeroStage, a.zeroKnown = n, true
	}
	a.offloadDevice = yamlText(cfg.DeepSpeed.OffloadOptimizerDevice)
	a.dsConfigFile = yamlText(cfg.DeepSpeed.DeepSpeedConfigFile)

	if v, ok := inv.LauncherOption(accMixedPrecision); ok {
		a.mixedPrecision, a.mpTyped = v, true
	}
	if _, ok := inv.LauncherOption(accUseDeepSpeed); ok {
		a.deepspeed = true
	}
	if v, ok := inv.LauncherOption(accZeroStage); ok {
		if n, err := strconv.Atoi(v); err == nil {
			a.zeroStage, a.zeroKnown = n, true
		}
	}
	if v, ok := inv.LauncherOption(accOffload); ok {
		a.offloadDevice = v
	}
	if v, ok := inv.LauncherOption(accAccum); ok {
		a.accum, a.accumTyped = v, true
	}
	if v, ok := inv.LauncherOption(accDSConfigFile); ok {
		a.dsConfigFile = v
	}
	if a.dsConfigFile != "" {
		a.deepspeed = true
	}
	a.fsdp = strings.EqualFold(yamlText(cfg.DistributedType), "FSDP")
	a.fsdpOffload = yamlText(cfg.FSDP.OffloadParams)
	if _, ok := inv.LauncherOption(accUseFSDP); ok {
		a.fsdp = true
	}
	if v, ok := inv.LauncherOption(accFSDPOffload); ok {
		a.fsdpOffload = v
	}
	return a
}

// accelerateConfigFile reads --config_file, else accelerate's default
// config ($HF_HOME/accelerate/default_config.yaml, HF_HOME defaulting to
// $XDG_CACHE_HOME/huggingface or ~/.cache/huggingface). A file that is
// missing or not YAML counts as no config: it is accelerate's to complain
// about.
func accelerateConfigFile(cmd sdk.Command, inv cmdline.Invocation) (accelerateConfig, string) {
	var cfg accelerateConfig
	path, named := inv.LauncherOption(accConfigFile)
	if !named {
		path = cmdline.AccelerateDefaultConfig(cmdline.JobEnv(cmd, inv))
	}
	if path == "" {
		return cfg, ""
	}
	// A --config_file the command names is its config even when it cannot
	// be read here (vramrun reads one given as a pipe into a copy).
	unread := ""
	if named {
		unread = path
	}
	raw, err := cmd.ReadFile(path)
	if err != nil {
		return cfg, unread
	}
	if err := yaml.Unmarshal(raw, &cfg); err != nil {
		return accelerateConfig{}, unread
	}
	return cfg, path
}

// precisionWord maps accelerate's mixed-precision values to the knob's:
// "no" is fp32.
func precisionWord(v string) string {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "no", "none", "fp32", "false":
		return "fp32"
	case "fp16", "float16", "16":
		return "fp16"
	case "bf16", "bfloat16":
		return "bf16"
	case "":
		return ""
	}
	return strings.ToLower(strings.TrimSpace(v))
}

// launcherChange describes a launcher option's change for a summary.
func launcherChange(name, from, to string) string {
	if from == "" {
		return fmt.Sprintf("accelerate launch %s %s", name, to)
	}
	return fmt.Sprintf("accelerate launch %s %s -> %s", name, from, to)
}
