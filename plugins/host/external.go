package host

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"github.com/hashicorp/go-plugin/runner"

	"github.com/vramrun/vramrun/sdk"
	"github.com/vramrun/vramrun/sdk/serve"
)

// Default limits for external plugins.
const (
	DefaultStartTimeout = 10 * time.Second
	DefaultCallTimeout  = 30 * time.Second
)

// external is an external plugin behind the sdk.Framework interface: each
// call is bounded by a timeout, and an answer that breaks the rules of
// package sdk (one its Validate refuses, or a refusal that names another
// fix or gives no reason) is an error, so that the set drops the plugin
// rather than act on garbage.
type external struct {
	rpc     sdk.Framework
	timeout time.Duration
	// broken is set once a call ran out of time or lost the connection: the
	// plugin is then ended without the courtesy of a graceful shutdown.
	broken atomic.Bool
}

var _ sdk.Framework = (*external)(nil)

func (e *external) Describe(ctx context.Context, req sdk.DescribeRequest) (sdk.DescribeResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()
	d, err := e.rpc.Describe(ctx, req)
	if err != nil {
		return d, e.failed("Describe", ctx, err)
	}
	if err := d.Validate(); err != nil {
		return d, fmt.Errorf("Describe: %w", err)
	}
	return d, nil
}

func (e *external) Recognize(ctx context.Context, req sdk.RecognizeRequest) (sdk.RecognizeResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()
	r, err := e.rpc.Recognize(ctx, req)
	if err != nil {
		return r, e.failed("Recognize", ctx, err)
	}
	if err := r.Validate(); err != nil {
		return r, fmt.Errorf("Recognize: %w", err)
	}
	return r, nil
}

func (e *external) Analyze(ctx context.Context, req sdk.AnalyzeRequest) (sdk.AnalyzeResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()
	a, err := e.rpc.Analyze(ctx, req)
	if err != nil {
		return a, e.failed("Analyze", ctx, err)
	}
	if err := a.Validate(); err != nil {
		return a, fmt.Errorf("Analyze: %w", err)
	}
	return a, nil
}

// Apply passes a refusal on as it is when it names the fix asked for and
// gives a reason; a refusal without either breaks the rules, and comes back
// as an ordinary error.
func (e *external) Apply(ctx context.Context, req sdk.ApplyRequest) (sdk.ApplyResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()
	fix := req.Fix.ID
	a, err := e.rpc.Apply(ctx, req)
	var unsupported *sdk.UnsupportedError
	if errors.As(err, &unsupported) {
		switch {
		case unsupported.Fix != fix:
			return sdk.ApplyResponse{}, fmt.Errorf("Apply %s: turned down fix %q instead", fix, unsupported.Fix)
		case strings.TrimSpace(unsupported.Reason) == "":
			return sdk.ApplyResponse{}, fmt.Errorf("Apply %s: turned down without a reason", fix)
		}
		return a, err
	}
	if err != nil {
		return a, e.failed("Apply "+string(fix), ctx, err)
	}
	if err := a.Validate(req.CopyDir); err != nil {
		return a, fmt.Errorf("Apply %s: %w", fix, err)
	}
	return a, nil
}

// failed words a call's error for the one line that drops the plugin.
func (e *external) failed(call string, ctx context.Context, err error) error {
	// The plugin's side of gRPC learns the call's deadline too and may
	// answer DeadlineExceeded a moment before the context here has expired,
	// so the error alone says the time ran out.
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded) {
		e.broken.Store(true)
		return fmt.Errorf("%s: no answer within %s", call, e.timeout)
	}
	if errors.Is(err, serve.ErrUnreachable) {
		e.broken.Store(true)
	}
	return fmt.Errorf("%s: %v", call, err)
}

// started is a running external plugin and how to end it.
type started struct {
	ext      *external
	client   *plugin.Client
	proc     *process
	once     sync.Once
	protocol int
	// stopping is set once the plugin is being ended on purpose.
	stopping atomic.Bool
}

// stop ends the plugin process and everything in its process group. A
// healthy plugin is asked to shut down first; a broken one is killed at once,
// since a frozen plugin would never answer the request.
func (s *started) stop() {
	s.once.Do(func() {
		s.stopping.Store(true)
		if s.ext == nil || s.ext.broken.Load() {
			s.proc.killGroup()
		}
		s.client.Kill()
		s.proc.killGroup()
	})
}

// startOptions are what starting one plugin needs from LoadOptions.
type startOptions struct {
	env          []string
	logTo        io.Writer
	level        hclog.Level
	startTimeout time.Duration
	callTimeout  time.Duration
}

// start runs one plugin executable, connects to it and dispenses its
// Framework. On an error nothing of the plugin is left running.
func start(ctx context.Context, c candidate, o startOptions) (*started, error) {
	s := &started{}
	logger := hclog.New(&hclog.LoggerOptions{Name: "plugin." + c.name, Output: o.logTo, Level: o.level,
		// Once vramrun (or go-plugin, after a failed start) ends a plugin on
		// purpose, the complaints that it did not exit by itself say
		// nothing the drop note has not said.
		Exclude: func(_ hclog.Level, msg string, _ ...any) bool {
			return s.stopping.Load() && (msg == "plugin failed to exit gracefully" || msg == "plugin process exited")
		}})
	s.client = plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  serve.Handshake(),
		VersionedPlugins: serve.PluginSets(nil),
		// go-plugin passes the command it would have run, with its own
		// variables (the magic cookie, the protocol versions, the socket
		// folder) in Env; the plugin gets vramrun's environment and those.
		RunnerFunc: func(_ hclog.Logger, cmd *exec.Cmd, _ string) (runner.Runner, error) {
			proc, err := newProcess(c.path, append(append([]string(nil), o.env...), cmd.Env...), &s.stopping)
			s.proc = proc
			return proc, err
		},
		SkipHostEnv:      true,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:         false,
		Logger:           logger,
		StartTimeout:     o.startTimeout,
	})
	rpc, err := connect(ctx, s)
	if err != nil {
		s.stop()
		return nil, firstLine(err)
	}
	raw, err := rpc.Dispense(serve.PluginName)
	if err != nil {
		s.stop()
		return nil, firstLine(err)
	}
	f, ok := raw.(sdk.Framework)
	if !ok {
		s.stop()
		return nil, fmt.Errorf("dispensed a %T, not a framework", raw)
	}
	s.ext = &external{rpc: f, timeout: o.callTimeout}
	s.protocol = s.client.NegotiatedVersion()
	return s, nil
}

// connect starts the plugin and waits for its handshake, or for ctx: an
// interrupt does not wait out the start timeout (the caller then ends the
// plugin).
func connect(ctx context.Context, s *started) (plugin.ClientProtocol, error) {
	type answer struct {
		rpc plugin.ClientProtocol
		err error
	}
	done := make(chan answer, 1)
	go func() {
		rpc, err := s.client.Client()
		done <- answer{rpc, err}
	}()
	select {
	case a := <-done:
		return a.rpc, a.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// firstLine keeps an error to one line: go-plugin's start errors add
// paragraphs of advice meant for its own users.
func firstLine(err error) error {
	msg := strings.TrimSpace(err.Error())
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = strings.TrimSpace(msg[:i])
	}
	return errors.New(msg)
}

// envList turns an environment map into the KEY=VALUE list exec wants, in a
// stable order.
func envList(env map[string]string) []string {
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}
