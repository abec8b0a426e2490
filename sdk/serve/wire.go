package serve

import (
	"context"
	"errors"
	"fmt"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/vramrun/vramrun/sdk"
	"github.com/vramrun/vramrun/sdk/internal/pluginpb"
)

// grpcPlugin is the go-plugin plugin.GRPCPlugin of the Framework service:
// it registers impl with a plugin's gRPC server, and makes the host's
// client, which is itself a Framework.
type grpcPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	impl sdk.Framework
}

var _ plugin.GRPCPlugin = (*grpcPlugin)(nil)

func (p *grpcPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	if p.impl == nil {
		return errors.New("vramrun plugin: Serve needs a Framework, got nil")
	}
	pluginpb.RegisterFrameworkServer(s, &frameworkServer{impl: p.impl})
	return nil
}

func (p *grpcPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return &frameworkClient{rpc: pluginpb.NewFrameworkClient(c)}, nil
}

// frameworkServer answers the host's calls with the plugin's Framework.
type frameworkServer struct {
	pluginpb.UnimplementedFrameworkServer
	impl sdk.Framework
}

// guard turns a panic of the plugin's code into an error for this one call,
// so that one bad command does not end the plugin process.
func guard(method string, err *error) {
	if r := recover(); r != nil {
		*err = status.Errorf(codes.Internal, "%s panicked: %v", method, r)
	}
}

// asStatus sends a plugin's own error with its message as it is.
func asStatus(err error) error {
	return status.Error(codes.Unknown, err.Error())
}

func (s *frameworkServer) Describe(ctx context.Context, _ *pluginpb.DescribeRequest) (resp *pluginpb.DescribeResponse, err error) {
	defer guard("Describe", &err)
	d, err := s.impl.Describe(ctx, sdk.DescribeRequest{})
	if err != nil {
		return nil, asStatus(err)
	}
	return descriptionToPB(d), nil
}

func (s *frameworkServer) Recognize(ctx context.Context, req *pluginpb.RecognizeRequest) (resp *pluginpb.RecognizeResponse, err error) {
	defer guard("Recognize", &err)
	r, err := s.impl.Recognize(ctx, sdk.RecognizeRequest{Command: commandFromPB(req.GetCommand())})
	if err != nil {
		return nil, asStatus(err)
	}
	return &pluginpb.RecognizeResponse{Confidence: int64(r.Confidence), Framework: r.Framework, Reason: r.Reason}, nil
}

func (s *frameworkServer) Analyze(ctx context.Context, req *pluginpb.AnalyzeRequest) (resp *pluginpb.AnalyzeResponse, err error) {
	defer guard("Analyze", &err)
	a, err := s.impl.Analyze(ctx, sdk.AnalyzeRequest{Command: commandFromPB(req.GetCommand())})
	if err != nil {
		return nil, asStatus(err)
	}
	return analysisToPB(a), nil
}

func (s *frameworkServer) Apply(ctx context.Context, req *pluginpb.ApplyRequest) (resp *pluginpb.ApplyResponse, err error) {
	defer guard("Apply", &err)
	applied, err := s.impl.Apply(ctx, sdk.ApplyRequest{Command: commandFromPB(req.GetCommand()), Fix: fixFromPB(req.GetFix()), CopyDir: req.GetCopyDir()})
	var unsupported *sdk.UnsupportedError
	switch {
	case errors.As(err, &unsupported):
		return &pluginpb.ApplyResponse{UnsupportedReason: &unsupported.Reason}, nil
	case err != nil:
		return nil, asStatus(err)
	}
	return appliedToPB(applied), nil
}

// ErrUnreachable is wrapped by the error of a call that could not reach the
// plugin process: it exited, crashed or closed its connection.
var ErrUnreachable = errors.New("plugin unreachable")

// frameworkClient is a plugin seen from the host: a Framework whose calls
// go over gRPC.
type frameworkClient struct {
	rpc pluginpb.FrameworkClient
}

var _ sdk.Framework = (*frameworkClient)(nil)

func (c *frameworkClient) Describe(ctx context.Context, _ sdk.DescribeRequest) (sdk.DescribeResponse, error) {
	resp, err := c.rpc.Describe(ctx, &pluginpb.DescribeRequest{})
	if err != nil {
		return sdk.DescribeResponse{}, fromStatus(ctx, err)
	}
	return descriptionFromPB(resp), nil
}

func (c *frameworkClient) Recognize(ctx context.Context, req sdk.RecognizeRequest) (sdk.RecognizeResponse, error) {
	resp, err := c.rpc.Recognize(ctx, &pluginpb.RecognizeRequest{Command: commandToPB(req.Command)})
	if err != nil {
		return sdk.RecognizeResponse{}, fromStatus(ctx, err)
	}
	return sdk.RecognizeResponse{Confidence: int(resp.GetConfidence()), Framework: resp.GetFramework(), Reason: resp.GetReason()}, nil
}

func (c *frameworkClient) Analyze(ctx context.Context, req sdk.AnalyzeRequest) (sdk.AnalyzeResponse, error) {
	resp, err := c.rpc.Analyze(ctx, &pluginpb.AnalyzeRequest{Command: commandToPB(req.Command)})
	if err != nil {
		return sdk.AnalyzeResponse{}, fromStatus(ctx, err)
	}
	return analysisFromPB(resp), nil
}

func (c *frameworkClient) Apply(ctx context.Context, req sdk.ApplyRequest) (sdk.ApplyResponse, error) {
	resp, err := c.rpc.Apply(ctx, &pluginpb.ApplyRequest{Command: commandToPB(req.Command), Fix: fixToPB(req.Fix), CopyDir: req.CopyDir})
	if err != nil {
		return sdk.ApplyResponse{}, fromStatus(ctx, err)
	}
	if resp.UnsupportedReason != nil {
		return sdk.ApplyResponse{}, &sdk.UnsupportedError{Fix: req.Fix.ID, Reason: resp.GetUnsupportedReason()}
	}
	return appliedFromPB(resp), nil
}

// fromStatus turns a failed call into the error a caller of Framework
// expects: the plugin's own message for its errors, the context's error
// when the call was cancelled or ran out of time, and a plain description
// when the plugin could not be reached.
func fromStatus(ctx context.Context, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return ctxErr
	}
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	switch st.Code() {
	case codes.Unknown, codes.Internal:
		return errors.New(st.Message())
	case codes.Canceled:
		return context.Canceled
	case codes.DeadlineExceeded:
		return context.DeadlineExceeded
	case codes.Unavailable:
		return fmt.Errorf("%w, it may have exited: %s", ErrUnreachable, st.Message())
	case codes.Unimplemented:
		return fmt.Errorf("plugin does not implement this call: %s", st.Message())
	}
	return fmt.Errorf("plugin call failed (%s): %s", st.Code(), st.Message())
}
