package sdk_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/vramrun/vramrun/sdk"
)

// trainer is a minimal plugin: it claims scripts named trainer.py.
type trainer struct{}

func (trainer) Describe(context.Context, sdk.DescribeRequest) (sdk.DescribeResponse, error) {
	return sdk.DescribeResponse{Name: "trainer", Version: "0.1.0", Frameworks: []string{"trainer"}}, nil
}

func (trainer) Recognize(_ context.Context, req sdk.RecognizeRequest) (sdk.RecognizeResponse, error) {
	if argv := req.Command.Argv; len(argv) > 1 && argv[1] == "trainer.py" {
		return sdk.RecognizeResponse{Confidence: 90, Framework: "trainer", Reason: "runs trainer.py"}, nil
	}
	return sdk.RecognizeResponse{}, nil
}

func (trainer) Analyze(context.Context, sdk.AnalyzeRequest) (sdk.AnalyzeResponse, error) {
	return sdk.AnalyzeResponse{Framework: "trainer", Launcher: "python", Script: "trainer.py", WorldSize: 1}, nil
}

func (trainer) Apply(_ context.Context, req sdk.ApplyRequest) (sdk.ApplyResponse, error) {
	return sdk.ApplyResponse{}, sdk.Unsupported(req.Fix.ID, "trainer.py has no flag for it")
}

// A fix the command cannot take is an *UnsupportedError, with a reason the
// user reads as it is.
func ExampleUnsupported() {
	req := sdk.ApplyRequest{Command: sdk.Command{Argv: []string{"python", "trainer.py"}}, Fix: sdk.Fix{ID: sdk.FixCPUOffload}}
	_, err := trainer{}.Apply(context.Background(), req)
	var unsupported *sdk.UnsupportedError
	if errors.As(err, &unsupported) {
		fmt.Println(unsupported.Fix, "->", unsupported.Reason)
	}
	// Output: cpu_offload -> trainer.py has no flag for it
}

// DescribeResponse.Validate is what vramrun checks when it loads a plugin:
// patterns use only the group names PatternGroups lists.
func ExampleDescribeResponse_Validate() {
	d := sdk.DescribeResponse{Name: "trainer", Patterns: []sdk.OOMPattern{{
		ID: "trainer.oom", Framework: "trainer", Kind: sdk.KindGPU,
		Regexp: `device out of memory \(wanted (?P<wanted>[0-9.]+ [KMG]iB)\)`,
	}}}
	fmt.Println(d.Validate())
	d.Patterns[0].Regexp = `device out of memory \(wanted (?P<tried>[0-9.]+ [KMG]iB)\)`
	fmt.Println(d.Validate())
	// Output:
	// pattern trainer.oom: group "wanted" is not one of the known names (tried, capacity, free, allocated, reserved_unallocated, reserved_total, allowed, device, shape, dtype, pid, used)
	// <nil>
}
