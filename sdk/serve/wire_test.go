package serve_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/vramrun/vramrun/sdk"
	"github.com/vramrun/vramrun/sdk/serve"
)

// recorder is a Framework that gives fixed, fully filled answers and keeps
// what it was asked, to check both directions of the wire.
type recorder struct {
	desc     sdk.DescribeResponse
	rec      sdk.RecognizeResponse
	analysis sdk.AnalyzeResponse
	applied  sdk.ApplyResponse
	applyErr error
	gotCmd   sdk.Command
	gotFix   sdk.Fix
	gotDir   string
	// block, when set, makes Recognize wait for its context to end, after
	// closing entered.
	block   bool
	entered chan struct{}
	panics  bool
}

func (r *recorder) Describe(context.Context, sdk.DescribeRequest) (sdk.DescribeResponse, error) {
	return r.desc, nil
}

func (r *recorder) Recognize(ctx context.Context, req sdk.RecognizeRequest) (sdk.RecognizeResponse, error) {
	r.gotCmd = req.Command
	if r.panics {
		panic("index out of range")
	}
	if r.block {
		close(r.entered)
		<-ctx.Done()
		return sdk.RecognizeResponse{}, ctx.Err()
	}
	return r.rec, nil
}

func (r *recorder) Analyze(_ context.Context, req sdk.AnalyzeRequest) (sdk.AnalyzeResponse, error) {
	r.gotCmd = req.Command
	return r.analysis, nil
}

func (r *recorder) Apply(_ context.Context, req sdk.ApplyRequest) (sdk.ApplyResponse, error) {
	r.gotCmd, r.gotFix, r.gotDir = req.Command, req.Fix, req.CopyDir
	return r.applied, r.applyErr
}

func fullRecorder() *recorder {
	return &recorder{
		desc: sdk.DescribeResponse{Name: "mine", Version: "0.3.1", Frameworks: []string{"mine", "mine-lite"},
			Patterns: []sdk.OOMPattern{{ID: "mine.oom", Framework: "mine", Kind: sdk.KindGPU,
				Regexp: `wanted (?P<tried>\S+ GiB)`, Follow: []string{`free (?P<free>\S+ GiB)`}, Detail: true,
				DTypeSizes: map[string]int{"f16": 2, "f32": 4}}},
			Frames:     []sdk.Frame{{Name: "evaluate", Phase: sdk.PhaseEval, Package: "acme.trainer"}, {Name: "backward", Phase: sdk.PhaseTrain}},
			Rejections: []sdk.RejectionPattern{{ID: "mine.unknown_flag", Regexp: `unknown flag (?P<name>\S+)`}},
			Progress: []sdk.ProgressPattern{{ID: "mine.rate", Regexp: `(?P<per_s>[0-9.]+) samples/s`, Unit: sdk.UnitSample,
				PerProcess: true, Summary: true}}},
		rec: sdk.RecognizeResponse{Confidence: 77, Framework: "mine", Reason: "imports mine"},
		analysis: sdk.AnalyzeResponse{Framework: "mine", Launcher: "python", Script: "train.py", WorldSize: 4,
			Knobs: sdk.Knobs{BatchSize: sdk.Int(64), GradAccumulation: sdk.Int(2), EvalBatchSize: sdk.Int(128),
				Precision: sdk.Str("fp32"), GradCheckpointing: sdk.Bool(false), Optimizer: sdk.Str("adamw"), Offload: sdk.Bool(true)},
			ConfigFiles: []string{"conf.yaml"}, Notes: []string{"mine restarts itself; pass --no-restart"},
			Checkpoints: &sdk.Checkpoints{Globs: []string{"out/ckpt-*", "/abs/*.pt"}, Marker: "state.json", Step: `ckpt-(?P<step>\d+)`}},
		applied: sdk.ApplyResponse{Argv: []string{"python", "train.py", "--mb", "32"}, Env: map[string]string{"A": "1"},
			Copies:  []sdk.FileCopy{{Original: "conf.yaml", Path: "/copies/conf.yaml", Content: []byte("mb: 32\n")}, {Original: "e.yaml", Path: "/copies/e.yaml", Content: []byte{}}},
			Summary: "--mb 64 -> 32", Notes: []string{"mine skips 40 batches"}},
	}
}

// dial serves impl in this process over real gRPC and returns the host's
// view of it.
func dial(t *testing.T, impl sdk.Framework) sdk.Framework {
	t.Helper()
	client, _ := plugin.TestPluginGRPCConn(t, false, serve.PluginSets(impl)[serve.ProtocolVersion])
	// Closing the client shuts the server down through go-plugin's
	// controller; stopping the server as well races with that shutdown.
	t.Cleanup(func() { _ = client.Close() })
	raw, err := client.Dispense(serve.PluginName)
	if err != nil {
		t.Fatalf("dispense: %v", err)
	}
	f, ok := raw.(sdk.Framework)
	if !ok {
		t.Fatalf("dispensed %T, not an sdk.Framework", raw)
	}
	return f
}

var sampleCmd = sdk.Command{Argv: []string{"python", "train.py", "--mb", "64"}, Env: map[string]string{"HOME": "/h"},
	Dir: "/work", Files: map[string][]byte{"train.py": []byte("import mine\n"), "empty.cfg": {}},
	Flags: map[string]string{"batch_size": "--mb"}, GPUs: 4}

func TestWireCarriesEveryField(t *testing.T) {
	impl := fullRecorder()
	f := dial(t, impl)
	ctx := context.Background()

	desc, err := f.Describe(ctx, sdk.DescribeRequest{})
	if err != nil || !reflect.DeepEqual(desc, impl.desc) {
		t.Errorf("Describe = %+v, %v\nwant %+v", desc, err, impl.desc)
	}
	rec, err := f.Recognize(ctx, sdk.RecognizeRequest{Command: sampleCmd})
	if err != nil || rec != impl.rec {
		t.Errorf("Recognize = %+v, %v; want %+v", rec, err, impl.rec)
	}
	if !reflect.DeepEqual(impl.gotCmd, sampleCmd) {
		t.Errorf("the plugin got %+v\nwant %+v", impl.gotCmd, sampleCmd)
	}
	a, err := f.Analyze(ctx, sdk.AnalyzeRequest{Command: sampleCmd})
	if err != nil || !reflect.DeepEqual(a, impl.analysis) {
		t.Errorf("Analyze = %+v, %v\nwant %+v", a, err, impl.analysis)
	}
	fix := sdk.Fix{ID: sdk.FixBatchSize, BatchSize: 32, GradAccumulation: 4, Precision: "bf16", Checkpoint: "out/ckpt-4"}
	applied, err := f.Apply(ctx, sdk.ApplyRequest{Command: sampleCmd, Fix: fix, CopyDir: "/copies"})
	if err != nil || !reflect.DeepEqual(applied, impl.applied) {
		t.Errorf("Apply = %+v, %v\nwant %+v", applied, err, impl.applied)
	}
	if impl.gotFix != fix || impl.gotDir != "/copies" {
		t.Errorf("the plugin got fix %+v in %q, want %+v in /copies", impl.gotFix, impl.gotDir, fix)
	}
}

func TestWireLeavesUnknownKnobsUnknown(t *testing.T) {
	impl := fullRecorder()
	impl.analysis = sdk.AnalyzeResponse{Framework: "mine", WorldSize: 1}
	a, err := dial(t, impl).Analyze(context.Background(), sdk.AnalyzeRequest{Command: sdk.Command{Argv: []string{"x"}}})
	if err != nil || !reflect.DeepEqual(a, impl.analysis) {
		t.Errorf("Analyze = %+v, %v; want %+v", a, err, impl.analysis)
	}
}

func TestWireKeepsUnsupportedError(t *testing.T) {
	impl := fullRecorder()
	impl.applyErr = sdk.Unsupported(sdk.FixGradCheckpointing, "no checkpointing flag in %s", "train.py")
	_, err := dial(t, impl).Apply(context.Background(), sdk.ApplyRequest{Command: sampleCmd, Fix: sdk.Fix{ID: sdk.FixGradCheckpointing}, CopyDir: "/c"})
	var unsupported *sdk.UnsupportedError
	if !errors.As(err, &unsupported) {
		t.Fatalf("Apply error = %v (%T), want *sdk.UnsupportedError", err, err)
	}
	if unsupported.Fix != sdk.FixGradCheckpointing || unsupported.Reason != "no checkpointing flag in train.py" {
		t.Errorf("got %+v", *unsupported)
	}
}

func TestWireKeepsPluginErrorMessage(t *testing.T) {
	impl := fullRecorder()
	impl.applyErr = errors.New("cannot parse conf.yaml: line 3: bad indent")
	_, err := dial(t, impl).Apply(context.Background(), sdk.ApplyRequest{Command: sampleCmd, Fix: sdk.Fix{ID: sdk.FixBatchSize}, CopyDir: "/c"})
	if err == nil || err.Error() != "cannot parse conf.yaml: line 3: bad indent" {
		t.Errorf("Apply error = %v, want the plugin's message as it was", err)
	}
	var unsupported *sdk.UnsupportedError
	if errors.As(err, &unsupported) {
		t.Errorf("an ordinary error came back as unsupported")
	}
}

func TestWireTurnsPanicIntoError(t *testing.T) {
	impl := fullRecorder()
	impl.panics = true
	f := dial(t, impl)
	_, err := f.Recognize(context.Background(), sdk.RecognizeRequest{Command: sampleCmd})
	if err == nil || !strings.Contains(err.Error(), "Recognize panicked: index out of range") {
		t.Fatalf("Recognize error = %v, want the panic as an error", err)
	}
	if _, err := f.Describe(context.Background(), sdk.DescribeRequest{}); err != nil {
		t.Errorf("the plugin did not survive its panic: %v", err)
	}
}

func TestWireCancelsCallWithContext(t *testing.T) {
	impl := fullRecorder()
	impl.block, impl.entered = true, make(chan struct{})
	f := dial(t, impl)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-impl.entered
		cancel()
	}()
	_, err := f.Recognize(ctx, sdk.RecognizeRequest{Command: sampleCmd})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Recognize error = %v, want context.Canceled", err)
	}
}

func TestServeNeedsAFramework(t *testing.T) {
	p, ok := serve.PluginSets(nil)[serve.ProtocolVersion][serve.PluginName].(plugin.GRPCPlugin)
	if !ok {
		t.Fatalf("the plugin set's %q is not a go-plugin GRPCPlugin", serve.PluginName)
	}
	server := grpc.NewServer()
	defer server.Stop()
	if err := p.GRPCServer(nil, server); err == nil || !strings.Contains(err.Error(), "needs a Framework") {
		t.Errorf("serving nil: err = %v, want a clear refusal", err)
	}
}
