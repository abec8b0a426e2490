package jax

import (
	"regexp"
	"strings"
	"testing"

	"github.com/vramrun/vramrun/sdk"
)

func TestPatternsValidate(t *testing.T) {
	seen := map[string]bool{}
	for _, p := range Patterns() {
		if err := p.Validate(); err != nil {
			t.Errorf("%v", err)
		}
		if seen[p.ID] {
			t.Errorf("pattern %s declared twice", p.ID)
		}
		seen[p.ID] = true
		if p.Framework != "jax" || !strings.HasPrefix(p.ID, "jax.") {
			t.Errorf("pattern %s: framework %q, want jax and an id prefixed jax.", p.ID, p.Framework)
		}
	}
}

func TestPatternsMatchTheirTexts(t *testing.T) {
	tests := []struct {
		line, id string
		kind     sdk.OOMKind
		tried    string
	}{
		{"jaxlib.xla_extension.XlaRuntimeError: RESOURCE_EXHAUSTED: Out of memory while trying to allocate 33762398024 bytes.",
			"jax.out_of_memory", sdk.KindGPU, "33762398024 bytes"},
		{"E0612 10:11:12.000000 1234 pjrt_stream_executor_client.cc:2826] Execution of replica 0 failed: RESOURCE_EXHAUSTED: Out of memory while trying to allocate 16.00GiB.",
			"jax.out_of_memory", sdk.KindGPU, "16.00GiB"},
		{"jax.errors.JaxRuntimeError: RESOURCE_EXHAUSTED: Out of host memory while trying to allocate 8589934592 bytes. Please set the environment variable XLA_PJRT_GPU_HOST_MEMORY_LIMIT_GB to a larger value.",
			"jax.host_out_of_memory", sdk.KindHost, "8589934592 bytes"},
		{"I0612 jax: checking for out of memory conditions", "", "", ""},
	}
	for _, tc := range tests {
		var got sdk.OOMPattern
		var tried string
		for _, p := range Patterns() {
			re := regexp.MustCompile(p.Regexp)
			if sub := re.FindStringSubmatch(tc.line); sub != nil {
				got, tried = p, sub[re.SubexpIndex("tried")]
				break
			}
		}
		if got.ID != tc.id || got.Kind != tc.kind || tried != tc.tried {
			t.Errorf("%q: matched %q (%q) tried %q, want %q (%q) tried %q", tc.line, got.ID, got.Kind, tried, tc.id, tc.kind, tc.tried)
		}
	}
}
