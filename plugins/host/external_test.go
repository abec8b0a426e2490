package host

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/vramrun/vramrun/sdk"
	"github.com/vramrun/vramrun/sdk/plugintest"
)

// refuser turns every fix down with the error it holds.
type refuser struct{ err error }

func (refuser) Describe(context.Context, sdk.DescribeRequest) (sdk.DescribeResponse, error) {
	return sdk.DescribeResponse{Name: "refuser", Version: "0.0.1", Frameworks: []string{"refuser"}}, nil
}

func (refuser) Recognize(context.Context, sdk.RecognizeRequest) (sdk.RecognizeResponse, error) {
	return sdk.RecognizeResponse{}, nil
}

func (refuser) Analyze(context.Context, sdk.AnalyzeRequest) (sdk.AnalyzeResponse, error) {
	return sdk.AnalyzeResponse{Framework: "refuser", WorldSize: 1}, nil
}

func (r refuser) Apply(context.Context, sdk.ApplyRequest) (sdk.ApplyResponse, error) {
	return sdk.ApplyResponse{}, r.err
}

// TestExternalApplyChecksRefusals: a refusal that names the fix asked for
// and gives a reason comes through as it is; one that names another fix or
// gives no reason breaks the rules and is an ordinary error.
func TestExternalApplyChecksRefusals(t *testing.T) {
	tests := []struct {
		name string
		err  error
		// wire serves the plugin over gRPC, which names the fix asked for
		// whatever the plugin's error says.
		wire bool
		// broken is the start of the ordinary error; "" when the refusal
		// must come through.
		broken string
	}{
		{name: "a reason", err: sdk.Unsupported(sdk.FixCPUOffload, "no offload flag in train.py")},
		{name: "a reason, over gRPC", err: sdk.Unsupported(sdk.FixCPUOffload, "no offload flag in train.py"), wire: true},
		{name: "another fix", err: sdk.Unsupported(sdk.FixBatchSize, "no batch flag"), broken: `Apply cpu_offload: turned down fix "batch_size" instead`},
		{name: "no reason", err: sdk.Unsupported(sdk.FixCPUOffload, ""), broken: "Apply cpu_offload: turned down without a reason"},
		{name: "a blank reason", err: sdk.Unsupported(sdk.FixCPUOffload, " \t"), broken: "Apply cpu_offload: turned down without a reason"},
		{name: "no reason, over gRPC", err: sdk.Unsupported(sdk.FixCPUOffload, ""), wire: true, broken: "Apply cpu_offload: turned down without a reason"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var rpc sdk.Framework = refuser{tt.err}
			if tt.wire {
				rpc = plugintest.Dial(t, rpc)
			}
			e := &external{rpc: rpc, timeout: 10 * time.Second}
			_, err := e.Apply(context.Background(), sdk.ApplyRequest{Command: sdk.Command{Argv: []string{"python", "train.py"}},
				Fix: sdk.Fix{ID: sdk.FixCPUOffload}, CopyDir: t.TempDir()})
			var unsupported *sdk.UnsupportedError
			switch {
			case tt.broken == "" && (!errors.As(err, &unsupported) || unsupported.Fix != sdk.FixCPUOffload || unsupported.Reason != "no offload flag in train.py"):
				t.Errorf("Apply = %v, want the refusal as it was", err)
			case tt.broken != "" && (errors.As(err, &unsupported) || err == nil || !strings.HasPrefix(err.Error(), tt.broken)):
				t.Errorf("Apply = %v (%T), want an ordinary error starting %q", err, err, tt.broken)
			}
		})
	}
}
