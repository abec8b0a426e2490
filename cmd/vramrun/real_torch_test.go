package main

import (
	"net"
	"strconv"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// TestRealTorch runs the scripts in testdata/real-torch against Debian's
// python3-torch through /usr/bin/python3: the real torchrun
// (torch.distributed.run, gloo DDP on the CPU) and the real DataLoader, with
// the environment and commands of TestScripts. $TORCH_MASTER_PORT is a port
// free when the script starts, for torchrun's --master_port, so that a
// script does not depend on torchrun's fixed default (29500) being free.
func TestRealTorch(t *testing.T) {
	requirePythonModules(t, "python3-torch", "torch")
	root := repoRoot(t)
	testscript.Run(t, testscript.Params{
		Dir: "testdata/real-torch",
		Setup: func(env *testscript.Env) error {
			setupScriptEnv(env, root)
			port, err := freePort()
			if err != nil {
				return err
			}
			env.Setenv("TORCH_MASTER_PORT", port)
			return nil
		},
		Cmds: scriptCmds(),
	})
}

// freePort is a TCP port of the loopback interface that nothing listens on
// now.
func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port), nil
}
