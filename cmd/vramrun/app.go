package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/vramrun/vramrun/launcher"
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
// this one place. An error is printed once, here.
func (a *app) main(args []string) int {
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
		return s.status
	}
	return a.fail(err)
}

// fail prints err once and returns the exit status for it.
func (a *app) fail(err error) int {
	var exit *launcher.ExitError
	var statusErr *statusError
	switch {
	case errors.As(err, &statusErr):
		if statusErr.err != nil {
			fmt.Fprintf(a.stderr, "vramrun: %v\n", statusErr.err)
		}
		return statusErr.status
	case errors.As(err, &exit):
		fmt.Fprintf(a.stderr, "vramrun: %v\n", exit.Err)
		return exit.Status
	}
	var cfg *profiles.ConfigError
	if errors.As(err, &cfg) {
		fmt.Fprintf(a.stderr, "vramrun: %v\n", cfg)
		return launcher.StatusFailure
	}
	fmt.Fprintf(a.stderr, "vramrun: %v\n", err)
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
