package pytorch

import (
	"maps"
	"reflect"
	"strings"
	"testing"

	"github.com/vramrun/vramrun/plugins/plugintab"
	"github.com/vramrun/vramrun/sdk"
)

func TestAllocatorEnv(t *testing.T) {
	both := func(v string) map[string]string {
		return map[string]string{"PYTORCH_CUDA_ALLOC_CONF": v, "PYTORCH_ALLOC_CONF": v}
	}
	withHIP := func(v string) map[string]string {
		m := both(v)
		m["PYTORCH_HIP_ALLOC_CONF"] = v
		return m
	}
	tests := []struct {
		name string
		env  map[string]string
		want map[string]string
	}{
		{"nothing set: both names", nil, both("expandable_segments:True")},
		{"the user's key kept first", map[string]string{"PYTORCH_CUDA_ALLOC_CONF": "max_split_size_mb:128"},
			both("max_split_size_mb:128,expandable_segments:True")},
		{"the new name read as well", map[string]string{"PYTORCH_ALLOC_CONF": "garbage_collection_threshold:0.6"},
			both("garbage_collection_threshold:0.6,expandable_segments:True")},
		{"the new name wins over the old", map[string]string{"PYTORCH_ALLOC_CONF": "max_split_size_mb:256", "PYTORCH_CUDA_ALLOC_CONF": "max_split_size_mb:64"},
			both("max_split_size_mb:256,expandable_segments:True")},
		{"a bracketed list keeps its commas", map[string]string{"PYTORCH_CUDA_ALLOC_CONF": "roundup_power2_divisions:[256:1,512:2]"},
			both("roundup_power2_divisions:[256:1,512:2],expandable_segments:True")},
		{"a list between two keys", map[string]string{"PYTORCH_CUDA_ALLOC_CONF": "max_split_size_mb:128,roundup_power2_divisions:[64:8,>:1],garbage_collection_threshold:0.8"},
			both("max_split_size_mb:128,roundup_power2_divisions:[64:8,>:1],garbage_collection_threshold:0.8,expandable_segments:True")},
		{"expandable segments turned off by the user are turned on in place", map[string]string{"PYTORCH_CUDA_ALLOC_CONF": "expandable_segments:False,max_split_size_mb:128"},
			both("expandable_segments:True,max_split_size_mb:128")},
		{"whitespace dropped", map[string]string{"PYTORCH_CUDA_ALLOC_CONF": " max_split_size_mb : 128 , "},
			both("max_split_size_mb:128,expandable_segments:True")},
		{"ROCm: HIP_VISIBLE_DEVICES", map[string]string{"HIP_VISIBLE_DEVICES": "0,1"}, withHIP("expandable_segments:True")},
		{"ROCm: ROCR_VISIBLE_DEVICES and a user key", map[string]string{"ROCR_VISIBLE_DEVICES": "0", "PYTORCH_CUDA_ALLOC_CONF": "max_split_size_mb:64"},
			withHIP("max_split_size_mb:64,expandable_segments:True")},
		{"ROCm: ROCM_PATH", map[string]string{"ROCM_PATH": "/opt/rocm"}, withHIP("expandable_segments:True")},
		{"an empty ROCm variable is no ROCm", map[string]string{"HIP_VISIBLE_DEVICES": ""}, both("expandable_segments:True")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := maps.Clone(tt.env)
			got, summary, err := AllocatorEnv(tt.env)
			if err != nil {
				t.Fatalf("AllocatorEnv(%v): %v", tt.env, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("AllocatorEnv(%v) =\n %v\nwant\n %v", tt.env, got, tt.want)
			}
			if want := "PYTORCH_CUDA_ALLOC_CONF=" + tt.want["PYTORCH_CUDA_ALLOC_CONF"]; summary != want {
				t.Errorf("summary = %q, want %q", summary, want)
			}
			if !reflect.DeepEqual(before, tt.env) {
				t.Errorf("AllocatorEnv changed its input: %v, was %v", tt.env, before)
			}
		})
	}
}

func TestAllocatorEnvRejectsUnparsableSettings(t *testing.T) {
	_, _, err := AllocatorEnv(map[string]string{"PYTORCH_CUDA_ALLOC_CONF": "max_split_size_mb=128"})
	if err == nil || !strings.Contains(err.Error(), "PYTORCH_CUDA_ALLOC_CONF") || !strings.Contains(err.Error(), "not key:value") {
		t.Errorf("error = %v, want one naming the variable and saying it is not key:value", err)
	}
}

func TestAllocatorUnsupported(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"nothing set", nil, ""},
		{"other keys only", map[string]string{"PYTORCH_CUDA_ALLOC_CONF": "max_split_size_mb:128,roundup_power2_divisions:[256:1,512:2]"}, ""},
		{"turned off by the user", map[string]string{"PYTORCH_CUDA_ALLOC_CONF": "expandable_segments:False"}, ""},
		{"already on", map[string]string{"PYTORCH_CUDA_ALLOC_CONF": "max_split_size_mb:128,expandable_segments:True"},
			"expandable_segments is already on (PYTORCH_CUDA_ALLOC_CONF)"},
		{"already on under the new name", map[string]string{"PYTORCH_ALLOC_CONF": "expandable_segments:True"},
			"expandable_segments is already on (PYTORCH_ALLOC_CONF)"},
		{"the asynchronous backend", map[string]string{"PYTORCH_CUDA_ALLOC_CONF": "backend:cudaMallocAsync"},
			"the cudaMallocAsync backend is set (PYTORCH_CUDA_ALLOC_CONF); expandable segments do not apply to it"},
		{"the native backend is no reason", map[string]string{"PYTORCH_CUDA_ALLOC_CONF": "backend:native"}, ""},
		{"unparsable", map[string]string{"PYTORCH_CUDA_ALLOC_CONF": "expandable_segments"},
			`PYTORCH_CUDA_ALLOC_CONF="expandable_segments" cannot be parsed`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := AllocatorUnsupported(tt.env)
			if (tt.want == "") != (got == "") || !strings.HasPrefix(got, tt.want) {
				t.Errorf("AllocatorUnsupported(%v) = %q, want %q", tt.env, got, tt.want)
			}
			cmd := plugintab.Command(timmCmd, timmFiles())
			maps.Copy(cmd.Env, tt.env)
			refused := plugintab.CheckFixes(t, New(), cmd, plugintab.PlanFix, nil)
			if reason := refused[sdk.FixAllocator]; reason != got {
				t.Errorf("Apply's allocator reason = %q, want AllocatorUnsupported's %q", reason, got)
			}
		})
	}
}

// TestApplyAllocator applies the fix through the plugin: the argv stays as
// typed and only the allocator variables come back.
func TestApplyAllocator(t *testing.T) {
	tests := []struct {
		name string
		cmd  sdk.Command
		env  map[string]string
	}{
		{"timm", plugintab.Command(timmCmd, timmFiles()), map[string]string{"PYTORCH_CUDA_ALLOC_CONF": "expandable_segments:True", "PYTORCH_ALLOC_CONF": "expandable_segments:True"}},
		{"nanoGPT under torchrun, merged with the user's key", func() sdk.Command {
			c := plugintab.Command(gpt2Torchrun, nanoFiles())
			c.Env["PYTORCH_CUDA_ALLOC_CONF"] = "max_split_size_mb:128"
			return c
		}(), map[string]string{"PYTORCH_CUDA_ALLOC_CONF": "max_split_size_mb:128,expandable_segments:True",
			"PYTORCH_ALLOC_CONF": "max_split_size_mb:128,expandable_segments:True"}},
		{"a script nothing recognises still gets the variables", plugintab.Command("python train.py", plugintab.Files("train.py", plainNoImports)),
			map[string]string{"PYTORCH_CUDA_ALLOC_CONF": "expandable_segments:True", "PYTORCH_ALLOC_CONF": "expandable_segments:True"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := plugintab.MustApply(t, New(), tt.cmd, sdk.Fix{ID: sdk.FixAllocator})
			if !reflect.DeepEqual(got.Argv, tt.cmd.Argv) {
				t.Errorf("argv = %q, want it as typed %q", got.Argv, tt.cmd.Argv)
			}
			if !reflect.DeepEqual(got.Env, tt.env) {
				t.Errorf("env = %v, want %v", got.Env, tt.env)
			}
			if want := "PYTORCH_CUDA_ALLOC_CONF=" + tt.env["PYTORCH_CUDA_ALLOC_CONF"]; got.Summary != want {
				t.Errorf("summary = %q, want %q", got.Summary, want)
			}
			if len(got.Argv) > 0 && &got.Argv[0] == &tt.cmd.Argv[0] {
				t.Errorf("the answer's argv shares its array with the input")
			}
		})
	}
}
