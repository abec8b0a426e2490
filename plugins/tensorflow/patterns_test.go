package tensorflow

import (
	"maps"
	"regexp"
	"strings"
	"testing"

	"github.com/vramrun/vramrun/sdk"
)

// firstMatch returns the first pattern matching line, as the scanner picks
// it, with its named groups.
func firstMatch(line string) (sdk.OOMPattern, map[string]string) {
	for _, p := range Patterns() {
		re := regexp.MustCompile(p.Regexp)
		if sub := re.FindStringSubmatch(line); sub != nil {
			out := map[string]string{}
			for i, name := range re.SubexpNames() {
				if name != "" && sub[i] != "" {
					out[name] = sub[i]
				}
			}
			return p, out
		}
	}
	return sdk.OOMPattern{}, nil
}

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
		if p.Framework != "tensorflow" || !strings.HasPrefix(p.ID, "tensorflow.") {
			t.Errorf("pattern %s: framework %q, want tensorflow and an id prefixed tensorflow.", p.ID, p.Framework)
		}
		if strings.Contains(p.Regexp, "?P<shape>") != (p.DTypeSizes != nil) {
			t.Errorf("pattern %s: a shape group needs dtype sizes and only it uses them", p.ID)
		}
	}
}

func TestPatternsMatchTheirTexts(t *testing.T) {
	tests := []struct {
		name, line, id string
		kind           sdk.OOMKind
		groups         map[string]string
	}{
		{"shape and dtype",
			"tensorflow.python.framework.errors_impl.ResourceExhaustedError: OOM when allocating tensor with shape[16,112,112,147] and type float on /job:localhost/replica:0/task:0/device:GPU:0 by allocator GPU_0_bfc",
			"tensorflow.oom_tensor", sdk.KindGPU,
			map[string]string{"shape": "16,112,112,147", "dtype": "float", "device": "0"}},
		{"graph mode prefix",
			"Resource exhausted: OOM when allocating tensor with shape[64,256,56,56] and type half on /job:localhost/replica:0/task:0/device:GPU:1 by allocator GPU_1_bfc",
			"tensorflow.oom_tensor", sdk.KindGPU,
			map[string]string{"shape": "64,256,56,56", "dtype": "half", "device": "1"}},
		{"on the CPU",
			"OOM when allocating tensor with shape[100000,100000] and type float on /job:localhost/replica:0/task:0/device:CPU:0 by allocator cpu",
			"tensorflow.oom_tensor_cpu", sdk.KindHost,
			map[string]string{"shape": "100000,100000", "dtype": "float"}},
		{"old form",
			"ResourceExhaustedError (see above for traceback): OOM when allocating tensor of shape [563354,256] and type float",
			"tensorflow.oom_tensor_legacy", sdk.KindGPU,
			map[string]string{"shape": "563354,256", "dtype": "float"}},
		{"BFC fatal, new",
			"2024-03-02 10:11:12.345678: W external/local_tsl/tsl/framework/bfc_allocator.cc:485] Allocator (GPU_0_bfc) ran out of memory trying to allocate 1.25GiB (rounded to 1342177280) from the lower end requested by op Conv2D",
			"tensorflow.bfc_allocator", sdk.KindGPU,
			map[string]string{"device": "0", "tried": "1342177280"}},
		{"BFC fatal, old",
			"W tensorflow/core/common_runtime/bfc_allocator.cc:457] Allocator (GPU_0_bfc) ran out of memory trying to allocate 3.46GiB (rounded to 3715891200)requested by op MatMul",
			"tensorflow.bfc_allocator", sdk.KindGPU,
			map[string]string{"device": "0", "tried": "3715891200"}},
		{"BFC not a failure",
			"W tensorflow/core/common_runtime/bfc_allocator.cc:275] Allocator (GPU_0_bfc) ran out of memory trying to allocate 3.46GiB with freed_by_count=0. The caller indicates that this is not a failure, but may mean that there could be performance gains if more memory were available.",
			"", "", nil},
		{"BFC not a failure, newest",
			"W external/local_xla/xla/tsl/framework/bfc_allocator.cc:306] Allocator (GPU_0_bfc) ran out of memory trying to allocate 3.46GiB from the lower end with freed_by_count=0. The caller indicates that this is not a failure, but this may mean that there could be performance gains if more memory were available.",
			"", "", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, groups := firstMatch(tc.line)
			if p.ID != tc.id {
				t.Fatalf("matched %q, want %q", p.ID, tc.id)
			}
			if tc.id == "" {
				return
			}
			if p.Kind != tc.kind {
				t.Errorf("kind %q, want %q", p.Kind, tc.kind)
			}
			if !maps.Equal(groups, tc.groups) {
				t.Errorf("groups %v, want %v", groups, tc.groups)
			}
			if dt := groups["dtype"]; dt != "" && p.DTypeSizes[dt] == 0 {
				t.Errorf("dtype %q has no declared size", dt)
			}
		})
	}
}

func TestLegacyDeviceFollows(t *testing.T) {
	p, _ := firstMatch("OOM when allocating tensor of shape [563354,256] and type float")
	next := "\t [[Node: rnn/while/zeros = Fill[T=DT_FLOAT, _device=\"/job:localhost/replica:0/task:0/gpu:0\"](rnn/while/Shape, rnn/while/zeros/Const)]]"
	if len(p.Follow) != 1 {
		t.Fatalf("follow %v, want one expression", p.Follow)
	}
	re := regexp.MustCompile(p.Follow[0])
	sub := re.FindStringSubmatch(next)
	if sub == nil || sub[re.SubexpIndex("device")] != "0" {
		t.Errorf("follow %q on %q gave %q, want device 0", p.Follow[0], next, sub)
	}
}

func TestDTypeSizes(t *testing.T) {
	want := map[string]int{"float": 4, "double": 8, "half": 2, "bfloat16": 2, "int8": 1, "int16": 2,
		"int32": 4, "int64": 8, "uint8": 1, "uint16": 2, "uint32": 4, "uint64": 8, "bool": 1,
		"complex64": 8, "complex128": 16}
	for _, p := range Patterns() {
		if p.DTypeSizes == nil {
			continue
		}
		for name, size := range want {
			if p.DTypeSizes[name] != size {
				t.Errorf("pattern %s: size of %s is %d, want %d", p.ID, name, p.DTypeSizes[name], size)
			}
		}
		if _, ok := p.DTypeSizes["string"]; ok {
			t.Errorf("pattern %s: string has no fixed size", p.ID)
		}
	}
}

// Model's own methods count in Keras's files only (their names are common
// in scripts); the step methods a subclass overrides count anywhere.
func TestFrames(t *testing.T) {
	want := map[string]sdk.Phase{
		"evaluate in keras": sdk.PhaseEval, "predict in keras": sdk.PhaseEval, "fit in keras": sdk.PhaseTrain,
		"evaluate in tf_keras": sdk.PhaseEval, "predict in tf_keras": sdk.PhaseEval, "fit in tf_keras": sdk.PhaseTrain,
		"test_step": sdk.PhaseEval, "predict_step": sdk.PhaseEval, "train_step": sdk.PhaseTrain}
	got := map[string]sdk.Phase{}
	for _, f := range Frames() {
		key := f.Name
		if f.Package != "" {
			key += " in " + f.Package
		}
		if _, dup := got[key]; dup {
			t.Errorf("frame %q declared twice", key)
		}
		if err := f.Validate(); err != nil {
			t.Error(err)
		}
		got[key] = f.Phase
	}
	if !maps.Equal(got, want) {
		t.Errorf("frames %v, want %v", got, want)
	}
}
