package host

import (
	"context"
	"errors"
	"io"
	"os/exec"
	"strconv"
	"sync/atomic"
	"syscall"

	"github.com/hashicorp/go-plugin/runner"
)

// process is the go-plugin runner of one plugin executable. go-plugin's own
// runner gives the plugin vramrun's stdin (the user's terminal) and ends
// only the plugin process itself; this one gives it no stdin and starts it
// in a process group of its own, so that Kill also ends whatever the
// plugin started (a wrapper script's interpreter, a helper).
type process struct {
	cmd            *exec.Cmd
	stdout, stderr io.ReadCloser
	pid            int
	// ending is set before the process is killed, so that the logs of its
	// death can tell a kill on purpose from a crash.
	ending *atomic.Bool
}

var _ runner.Runner = (*process)(nil)

// newProcess prepares path to run with exactly env; ending is set when
// go-plugin or vramrun kill it.
func newProcess(path string, env []string, ending *atomic.Bool) (*process, error) {
	cmd := exec.Command(path)
	cmd.Env = env
	// A nil Stdin reads as the null device: the plugin never sees the
	// user's keystrokes.
	cmd.Stdin = nil
	// Pdeathsig ends the plugin should vramrun itself die without closing
	// it (killed by the OOM killer, say); a go-plugin server would
	// otherwise serve on forever. The signal follows the death of the
	// thread that started the plugin, and the Go runtime ends a thread only
	// when a goroutine locked to it exits, which vramrun never does.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	return &process{cmd: cmd, stdout: stdout, stderr: stderr, ending: ending}, nil
}

func (p *process) Start(context.Context) error {
	if err := p.cmd.Start(); err != nil {
		return err
	}
	p.pid = p.cmd.Process.Pid
	return nil
}

func (p *process) Wait(context.Context) error { return p.cmd.Wait() }

// Kill ends the plugin's whole process group.
func (p *process) Kill(context.Context) error {
	p.ending.Store(true)
	p.killGroup()
	return nil
}

// killGroup sends SIGKILL to the group; a group that is gone already is no
// error. The group id is the plugin's pid, which the kernel does not hand
// out again while any member of the group lives.
func (p *process) killGroup() {
	if p == nil || p.pid <= 0 {
		return
	}
	if err := syscall.Kill(-p.pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		_ = p.cmd.Process.Kill()
	}
}

func (p *process) Stdout() io.ReadCloser { return p.stdout }

// Stderr is the plugin's stderr for go-plugin's log reader, with the hclog
// fields of each line made strings (see wellTypedLogs).
func (p *process) Stderr() io.ReadCloser { return wellTypedLogs(p.stderr) }
func (p *process) Name() string          { return p.cmd.Path }

// Diagnose adds nothing: the host keeps the first line of a start error,
// and that line says what went wrong.
func (p *process) Diagnose(context.Context) string { return "" }

// ID is the pid, empty before the start (go-plugin's Kill then has nothing
// to end).
func (p *process) ID() string {
	if p.pid <= 0 {
		return ""
	}
	return strconv.Itoa(p.pid)
}

// The plugin runs on this machine: addresses mean the same on both sides.
func (p *process) PluginToHost(network, address string) (string, string, error) {
	return network, address, nil
}

func (p *process) HostToPlugin(network, address string) (string, string, error) {
	return network, address, nil
}
