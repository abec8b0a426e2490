package serve_test

import (
	"context"

	"github.com/vramrun/vramrun/sdk"
	"github.com/vramrun/vramrun/sdk/serve"
)

// trainer turns every fix down; a real plugin rewrites the command.
type trainer struct{}

func (trainer) Describe(context.Context, sdk.DescribeRequest) (sdk.DescribeResponse, error) {
	return sdk.DescribeResponse{Name: "trainer", Version: "0.1.0", Frameworks: []string{"trainer"}}, nil
}

func (trainer) Recognize(context.Context, sdk.RecognizeRequest) (sdk.RecognizeResponse, error) {
	return sdk.RecognizeResponse{}, nil
}

func (trainer) Analyze(context.Context, sdk.AnalyzeRequest) (sdk.AnalyzeResponse, error) {
	return sdk.AnalyzeResponse{Framework: "trainer", WorldSize: 1}, nil
}

func (trainer) Apply(_ context.Context, req sdk.ApplyRequest) (sdk.ApplyResponse, error) {
	return sdk.ApplyResponse{}, sdk.Unsupported(req.Fix.ID, "trainer.py has no flag for it")
}

// A plugin executable's main serves its Framework and does nothing else.
func ExampleServe() {
	serve.Serve(trainer{})
}
