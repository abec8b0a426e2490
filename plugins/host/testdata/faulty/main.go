// Command faulty is a vramrun plugin that misbehaves on purpose, for the
// host's tests. Its mode is the name it is started under,
// vramrun-plugin-<mode>:
//
//	crash       exits in the middle of Recognize
//	hang        never answers Recognize
//	stdout      prints to stdout before the handshake
//	badproto    speaks only the protocol version after vramrun's
//	garbage     answers Recognize with confidence 150
//	badpattern  declares a pattern with a group no pattern may use
//	silent      never prints the handshake
//	children    behaves, but starts a child process of its own
//	chatty      behaves, and logs one debug and one warning line
//	badlog      behaves, and logs a JSON line whose @message is a number
//	stdin       behaves, and reports what its stdin is as its version
//	badanalyze  claims any command with train.py in it (confidence 90),
//	            then answers Analyze with a batch size of -5
//	badapply    claims it too and analyses it, then turns every fix down
//	            without a reason
//
// It writes its pid to $FAULTY_PID_DIR/<mode>.pid (and a child's to
// <mode>.child.pid) so that a test can check nothing is left running.
package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/hashicorp/go-plugin"

	"github.com/vramrun/vramrun/sdk"
	"github.com/vramrun/vramrun/sdk/serve"
)

type faulty struct{ mode string }

func (f faulty) Describe(context.Context, sdk.DescribeRequest) (sdk.DescribeResponse, error) {
	d := sdk.DescribeResponse{Name: f.mode, Version: "0.0.1", Frameworks: []string{f.mode}}
	if f.mode == "stdin" {
		d.Version, _ = os.Readlink("/proc/self/fd/0")
	}
	if f.mode == "badpattern" {
		d.Patterns = []sdk.OOMPattern{{ID: "badpattern.oom", Framework: "badpattern", Kind: sdk.KindGPU, Regexp: `OOM (?P<bytes>\d+)`}}
	}
	return d, nil
}

func (f faulty) Recognize(_ context.Context, req sdk.RecognizeRequest) (sdk.RecognizeResponse, error) {
	switch f.mode {
	case "crash":
		os.Exit(3)
	case "hang":
		select {}
	case "garbage":
		return sdk.RecognizeResponse{Confidence: 150, Framework: "garbage"}, nil
	case "badanalyze", "badapply":
		if claimsTrainPy(req.Command) {
			return sdk.RecognizeResponse{Confidence: 90, Framework: f.mode, Reason: "train.py"}, nil
		}
	}
	return sdk.RecognizeResponse{}, nil
}

func claimsTrainPy(cmd sdk.Command) bool {
	for _, a := range cmd.Argv {
		if strings.HasSuffix(a, "train.py") {
			return true
		}
	}
	return false
}

func (f faulty) Analyze(context.Context, sdk.AnalyzeRequest) (sdk.AnalyzeResponse, error) {
	switch f.mode {
	case "badanalyze":
		return sdk.AnalyzeResponse{Framework: f.mode, WorldSize: 1, Knobs: sdk.Knobs{BatchSize: sdk.Int(-5)}}, nil
	case "badapply":
		return sdk.AnalyzeResponse{Framework: f.mode, WorldSize: 1, Knobs: sdk.Knobs{BatchSize: sdk.Int(64)}}, nil
	}
	return sdk.AnalyzeResponse{}, fmt.Errorf("%s analyzes nothing", f.mode)
}

func (f faulty) Apply(_ context.Context, req sdk.ApplyRequest) (sdk.ApplyResponse, error) {
	if f.mode == "badapply" {
		return sdk.ApplyResponse{}, &sdk.UnsupportedError{Fix: req.Fix.ID}
	}
	return sdk.ApplyResponse{}, sdk.Unsupported(req.Fix.ID, "%s applies nothing", f.mode)
}

func writePid(name string, pid int) {
	if dir := os.Getenv("FAULTY_PID_DIR"); dir != "" {
		_ = os.WriteFile(filepath.Join(dir, name+".pid"), []byte(strconv.Itoa(pid)), 0o644)
	}
}

func main() {
	mode := strings.TrimPrefix(filepath.Base(os.Args[0]), "vramrun-plugin-")
	writePid(mode, os.Getpid())
	impl := faulty{mode: mode}
	switch mode {
	case "stdout":
		fmt.Println("hello from a plugin")
	case "silent":
		select {}
	case "children":
		child := exec.Command("sleep", "1000")
		if err := child.Start(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		writePid(mode+".child", child.Process.Pid)
	case "badlog":
		fmt.Fprintln(os.Stderr, `{"@level":"warn","@message":5}`)
	case "chatty":
		fmt.Fprintln(os.Stderr, `{"@level":"debug","@message":"chatty debug line"}`)
		fmt.Fprintln(os.Stderr, `{"@level":"warn","@message":"chatty warning line"}`)
	case "badproto":
		h := serve.Handshake()
		h.ProtocolVersion = serve.ProtocolVersion + 1
		plugin.Serve(&plugin.ServeConfig{HandshakeConfig: h, GRPCServer: plugin.DefaultGRPCServer,
			VersionedPlugins: map[int]plugin.PluginSet{serve.ProtocolVersion + 1: serve.PluginSets(impl)[serve.ProtocolVersion]}})
		return
	}
	serve.Serve(impl)
}
