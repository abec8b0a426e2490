package sdk_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/vramrun/vramrun/sdk"
)

// trainer is a minimal plugin: it claims scripts named trainer.py.
type trainer struct{}

func (trainer) Describe(context.Context) (sdk.Description, error) {
	return sdk.Description{Name: "trainer", Version: "0.1.0", Frameworks: []string{"trainer"}}, nil
}

func (trainer) Recognize(_ context.Context, cmd sdk.Command) (sdk.Recognition, error) {
	if len(cmd.Argv) > 1 && cmd.Argv[1] == "trainer.py" {
		return sdk.Recognition{Confidence: 90, Framework: "trainer", Reason: "runs trainer.py"}, nil
	}
	return sdk.Recognition{}, nil
}

func (trainer) Analyze(context.Context, sdk.Command) (sdk.Analysis, error) {
	return sdk.Analysis{Framework: "trainer", Launcher: "python", Script: "trainer.py", WorldSize: 1}, nil
}

func (trainer) Apply(_ context.Context, cmd sdk.Command, fix sdk.Fix, _ string) (sdk.Applied, error) {
	return sdk.Applied{}, sdk.Unsupported(fix.ID, "trainer.py has no flag for it")
}

// A plugin executable's main serves its Framework and does nothing else.
func ExampleServe() {
	sdk.Serve(trainer{})
}

// A fix the command cannot take is an *UnsupportedError, with a reason the
// user reads as it is.
func ExampleUnsupported() {
	_, err := trainer{}.Apply(context.Background(), sdk.Command{Argv: []string{"python", "trainer.py"}}, sdk.Fix{ID: sdk.FixCPUOffload}, "")
	var unsupported *sdk.UnsupportedError
	if errors.As(err, &unsupported) {
		fmt.Println(unsupported.Fix, "->", unsupported.Reason)
	}
	// Output: cpu_offload -> trainer.py has no flag for it
}

// Description.Validate is what vramrun checks when it loads a plugin:
// patterns use only the contract's group names.
func ExampleDescription_Validate() {
	d := sdk.Description{Name: "trainer", Patterns: []sdk.OOMPattern{{
		ID: "trainer.oom", Framework: "trainer", Kind: sdk.KindGPU,
		Regexp: `device out of memory \(wanted (?P<wanted>[0-9.]+ [KMG]iB)\)`,
	}}}
	fmt.Println(d.Validate())
	d.Patterns[0].Regexp = `device out of memory \(wanted (?P<tried>[0-9.]+ [KMG]iB)\)`
	fmt.Println(d.Validate())
	// Output:
	// pattern trainer.oom: group "wanted" is not one of the contract's names
	// <nil>
}
