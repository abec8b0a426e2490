package cmdline

import (
	"errors"
	"io/fs"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/vramrun/vramrun/sdk"
)

// AccelerateDefaultConfig is the config `accelerate launch` reads when no
// --config_file is typed: $HF_HOME/accelerate/default_config.yaml, HF_HOME
// defaulting to $XDG_CACHE_HOME/huggingface or ~/.cache/huggingface; ""
// when env says no home.
func AccelerateDefaultConfig(env map[string]string) string {
	home := env["HF_HOME"]
	if home == "" {
		cache := env["XDG_CACHE_HOME"]
		if cache == "" {
			if env["HOME"] == "" {
				return ""
			}
			cache = filepath.Join(env["HOME"], ".cache")
		}
		home = filepath.Join(cache, "huggingface")
	}
	return filepath.Join(home, "accelerate", "default_config.yaml")
}

// accelerateProcesses is how many processes `accelerate launch` starts
// when --num_processes is not typed, as its launch command works it out
// (accelerate/commands/launch.py, _validate_launch_command): the config
// file's num_processes (--config_file, else the default config when it
// exists); with no config file at all, torch.cuda.device_count(), which
// perGPU says. n is 0 when that cannot be told (a config that cannot be
// read, no num_processes in it).
func accelerateProcesses(cmd sdk.Command, inv Invocation) (n int, perGPU bool) {
	if _, cpu := inv.LauncherOption("--cpu"); cpu {
		return 1, false
	}
	path, named := inv.LauncherOption("--config_file")
	if !named {
		path = AccelerateDefaultConfig(JobEnv(cmd, inv))
	}
	if path == "" {
		return 0, false
	}
	raw, err := cmd.ReadFile(path)
	if err != nil {
		if !named && errors.Is(err, fs.ErrNotExist) {
			return cmd.GPUs, true
		}
		return 0, false
	}
	var cfg struct {
		NumProcesses    int    `yaml:"num_processes"`
		DistributedType string `yaml:"distributed_type"`
	}
	if yaml.Unmarshal(raw, &cfg) != nil || cfg.NumProcesses < 1 {
		return 0, false
	}
	if strings.EqualFold(cfg.DistributedType, "NO") && !inv.multiProcessFlag() {
		// A config that distributes nothing runs accelerate's simple
		// launcher: one process, whatever num_processes says.
		return 1, false
	}
	return cfg.NumProcesses, false
}

// multiProcessFlag says the accelerate command asks for a launcher that
// starts several processes whatever its config's distributed_type.
func (inv Invocation) multiProcessFlag() bool {
	for _, flag := range []string{"--multi_gpu", "--use_deepspeed", "--use_fsdp", "--use_megatron_lm"} {
		if _, on := inv.LauncherOption(flag); on {
			return true
		}
	}
	return false
}
