package pytorch

import (
	"fmt"
	"strings"

	"github.com/vramrun/vramrun/sdk"
)

// The allocator fix sets expandable_segments:True in PyTorch's allocator
// settings, merged with keys the user already set. PyTorch reads
// PYTORCH_ALLOC_CONF (new) and PYTORCH_CUDA_ALLOC_CONF (old); which wins
// has changed across versions, so both get the same value. ROCm builds read
// PYTORCH_HIP_ALLOC_CONF.
const (
	cudaConf = "PYTORCH_CUDA_ALLOC_CONF"
	anyConf  = "PYTORCH_ALLOC_CONF"
	hipConf  = "PYTORCH_HIP_ALLOC_CONF"
)

// AllocatorEnv returns the variables that turn on expandable segments for a
// job with environment env, and the summary for the attempt line.
func AllocatorEnv(env map[string]string) (map[string]string, string, error) {
	var current string
	for _, name := range confNames(env) {
		if current = env[name]; current != "" {
			break
		}
	}
	merged, err := mergeAllocConf(current)
	if err != nil {
		return nil, "", err
	}
	out := map[string]string{cudaConf: merged, anyConf: merged}
	if onROCm(env) {
		out[hipConf] = merged
	}
	return out, cudaConf + "=" + merged, nil
}

// AllocatorUnsupported says why the allocator fix has nothing to add for a
// job with environment env — expandable segments already on, or the
// cudaMallocAsync backend they do not apply to — or "".
func AllocatorUnsupported(env map[string]string) string {
	for _, name := range confNames(env) {
		if v := env[name]; v != "" {
			pairs, err := parseAllocConf(v)
			if err != nil {
				return fmt.Sprintf("%s=%q cannot be parsed: %v", name, v, err)
			}
			for _, p := range pairs {
				if p.key == "expandable_segments" && p.value == "True" {
					return "expandable_segments is already on (" + name + ")"
				}
				if p.key == "backend" && p.value == "cudaMallocAsync" {
					return "the cudaMallocAsync backend is set (" + name + "); expandable segments do not apply to it"
				}
			}
		}
	}
	return ""
}

// confNames are the variables the job's PyTorch reads its allocator
// settings from, the one that wins first.
func confNames(env map[string]string) []string {
	if onROCm(env) {
		return []string{anyConf, hipConf, cudaConf}
	}
	return []string{anyConf, cudaConf}
}

func onROCm(env map[string]string) bool {
	for _, k := range []string{hipConf, "HIP_VISIBLE_DEVICES", "ROCR_VISIBLE_DEVICES", "ROCM_PATH"} {
		if env[k] != "" {
			return true
		}
	}
	return false
}

type confPair struct{ key, value string }

// parseAllocConf reads PyTorch's syntax: comma-separated key:value pairs,
// where a value may be a bracketed list containing commas.
func parseAllocConf(s string) ([]confPair, error) {
	var out []confPair
	depth, start := 0, 0
	flush := func(part string) error {
		part = strings.TrimSpace(part)
		if part == "" {
			return nil
		}
		k, v, ok := strings.Cut(part, ":")
		if !ok {
			return fmt.Errorf("%q is not key:value", part)
		}
		out = append(out, confPair{strings.TrimSpace(k), strings.TrimSpace(v)})
		return nil
	}
	for i, c := range s {
		switch c {
		case '[':
			depth++
		case ']':
			depth--
		case ',':
			if depth == 0 {
				if err := flush(s[start:i]); err != nil {
					return nil, err
				}
				start = i + 1
			}
		}
	}
	if err := flush(s[start:]); err != nil {
		return nil, err
	}
	return out, nil
}

// mergeAllocConf sets expandable_segments:True in a settings string,
// keeping the user's other keys in their order.
func mergeAllocConf(current string) (string, error) {
	pairs, err := parseAllocConf(current)
	if err != nil {
		return "", fmt.Errorf("%s=%q: %v", cudaConf, current, err)
	}
	var parts []string
	set := false
	for _, p := range pairs {
		if p.key == "expandable_segments" {
			p.value, set = "True", true
		}
		parts = append(parts, p.key+":"+p.value)
	}
	if !set {
		parts = append(parts, "expandable_segments:True")
	}
	return strings.Join(parts, ","), nil
}

// AllocatorFix is the allocator fix as an answer for a command run in
// env: the variables set, the argv as it was, or the fix turned down when
// the variables already hold what cannot be merged.
func AllocatorFix(argv []string, env map[string]string) (sdk.ApplyResponse, error) {
	if reason := AllocatorUnsupported(env); reason != "" {
		return sdk.ApplyResponse{}, sdk.Unsupported(sdk.FixAllocator, "%s", reason)
	}
	set, summary, err := AllocatorEnv(env)
	if err != nil {
		return sdk.ApplyResponse{}, err
	}
	return sdk.ApplyResponse{Argv: append([]string(nil), argv...), Env: set, Summary: summary}, nil
}
