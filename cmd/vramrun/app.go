package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/vramrun/vramrun/launcher"
	"github.com/vramrun/vramrun/launcher/human"
	"github.com/vramrun/vramrun/profiles"
)

// app is one invocation of vramrun: its streams and environment. Tests
// build one around pipes and a made-up environment.
type app struct {
	stdin          *os.File
	stdout, stderr *os.File
	env            map[string]string
	dir            string
}

func newApp(stdin, stdout, stderr *os.File, environ []string) *app {
	env := map[string]string{}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	dir, _ := os.Getwd()
	return &app{stdin: stdin, stdout: stdout, stderr: stderr, env: env, dir: dir}
}

// forwardedSignals go to the job's process group.
var forwardedSignals = []os.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2}

// main runs the command tree and turns its outcome into an exit status, in
// this one place. An error is printed once, here. A run that was
// interrupted ends with vramrun dying of the same signal, once everything is
// cleaned up: a shell stops a loop around a command only when the command
// died of SIGINT, not when it exited 130.
func (a *app) main(args []string) int {
	status, sig := a.execute(args)
	if sig != 0 {
		dieOf(sig)
	}
	return status
}

// dieOf ends vramrun by signal sig, as the job ended, when the signal's
// default action ends a process and vramrun's parent did not have it
// ignored; otherwise it returns, and vramrun exits with the status.
func dieOf(sig syscall.Signal) {
	if sig != syscall.SIGINT && sig != syscall.SIGTERM && sig != syscall.SIGHUP {
		// SIGQUIT's default in Go dumps every goroutine; the exit status
		// 131 says the same to a shell.
		return
	}
	// Reset gives the signal back its disposition from the start: ignored,
	// when vramrun's parent had it ignored (nohup), else the runtime's
	// default, which ends the process by that signal.
	signal.Reset(sig)
	if signal.Ignored(sig) {
		return
	}
	_ = syscall.Kill(os.Getpid(), sig)
	// The runtime's default for these signals ends the process by the
	// signal itself; should that not come at once, wait for it here rather
	// than exit with a status.
	time.Sleep(time.Second)
}

// execute runs the command tree: the exit status, and the signal that
// interrupted a run.
func (a *app) execute(args []string) (int, syscall.Signal) {
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, forwardedSignals...)
	defer signal.Stop(sigs)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := &session{app: a, signals: sigs, cancel: cancel}

	root := s.newRootCmd()
	root.SetArgs(args)
	root.SetIn(a.stdin)
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return s.status, s.interrupted
	}
	return a.fail(err), 0
}

// fail prints err once, its control characters escaped (an error may
// quote a plugin or a file), and returns the exit status for it.
func (a *app) fail(err error) int {
	var exit *launcher.ExitError
	var statusErr *statusError
	switch {
	case errors.As(err, &statusErr):
		if statusErr.err != nil {
			fmt.Fprintf(a.stderr, "vramrun: %s\n", human.Printable(statusErr.err.Error()))
		}
		return statusErr.status
	case errors.As(err, &exit):
		fmt.Fprintf(a.stderr, "vramrun: %s\n", human.Printable(exit.Err.Error()))
		return exit.Status
	}
	var cfg *profiles.ConfigError
	if errors.As(err, &cfg) {
		fmt.Fprintf(a.stderr, "vramrun: %s\n", human.Printable(cfg.Error()))
		return launcher.StatusFailure
	}
	fmt.Fprintf(a.stderr, "vramrun: %s\n", human.Printable(err.Error()))
	return launcher.StatusFailure
}

// statusError ends vramrun with a status that is not a failure of vramrun
// itself (doctor's 1 when it finds a problem).
type statusError struct {
	status int
	err    error
}

func (e *statusError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.status)
	}
	return e.err.Error()
}

// session is what the commands of one invocation share.
type session struct {
	*app
	signals chan os.Signal
	cancel  context.CancelFunc
	// status is the exit status of a successful command (the job's status
	// for the main form).
	status int
	// interrupted is the signal that interrupted a run: vramrun dies of it.
	interrupted syscall.Signal
}

// cancelOnSignal cancels ctx on the first interrupt, for the commands that
// run no job (restic's model: one context cancelled on signals).
func (s *session) cancelOnSignal(ctx context.Context) {
	go func() {
		select {
		case <-s.signals:
			s.cancel()
		case <-ctx.Done():
		}
	}()
}

// usageError marks a wrong use of the command line (exit 125).
func usageError(format string, args ...any) error {
	return &launcher.ExitError{Status: launcher.StatusFailure, Err: fmt.Errorf(format, args...)}
}

func newCobra(use, short string) *cobra.Command {
	return &cobra.Command{Use: use, Short: short, SilenceErrors: true, SilenceUsage: true}
}
