// Package cmdline reads and edits training command lines for vramrun's
// framework plugins: where the training script begins behind launchers
// and wrappers (python, torchrun, accelerate launch, deepspeed, srun, ray
// job submit, env, uv run, ...), the script's own flags (argparse- and HfArgumentParser-
// style), and, statically, a Python script's argparse definitions, simple
// module globals and imports.
//
// Everything here is pure parsing: which flag to change, and to what, is
// the plugins' business.
package cmdline

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/vramrun/vramrun/sdk"
)

// Invocation is a command line split into its wrappers, its launcher and
// the training script with the script's own arguments. Its parts are
// embedded, so every field reads as a field of Invocation itself
// (inv.Launcher, inv.Script).
type Invocation struct {
	Wrapping
	Launch
	ScriptCall
	layout
}

// Wrapping is what comes before the innermost launcher.
type Wrapping struct {
	// Prefix holds the wrappers before the launcher, as typed: `env A=1`,
	// `uv run [uv options]`, `srun [srun options]` (when srun starts a
	// launcher of its own), `ray job submit [ray options] --`, `nice -n
	// 5`, `nohup`, ...
	Prefix []string
	// Wrappers are the outer launchers, outermost first: ["srun"] for
	// `srun torchrun ... train.py`; nil for `srun python train.py`, where
	// srun is the launcher; ["ray job submit"] for `ray job submit --
	// python3 -m pkg.train`, whatever the entrypoint (Ray runs it on its
	// cluster). Under any of them the launcher runs on machines whose
	// GPUs vramrun does not see: the job's GPU count (sdk.Command.GPUs)
	// says nothing of it.
	Wrappers []string
	// Detached is the option of a wrapper that hands the job on and
	// returns at once, without waiting for it or passing its output
	// through, as typed: "--no-wait" of `ray job submit --no-wait`; ""
	// when none does. vramrun would see no OOM of such a command (see
	// Wrapping.Unwatched).
	Detached string
	// Env holds the NAME=VALUE assignments of `env` wrappers; nil when
	// there are none.
	Env map[string]string
}

// Launch is the launcher that starts the training script's processes:
// what it is, its own options and how many processes the command starts.
type Launch struct {
	// Launcher is what starts the script's processes: "python", "python
	// -m", "torchrun", "accelerate", "deepspeed", a shell ("bash", "sh"),
	// "" for a script run directly (`./train.py`), or "srun" when srun
	// starts the script's processes without a launcher of its own between
	// them: `srun ./train.sh`, `srun -n 2 python3 train.py`, `srun python
	// -m pkg.train`, `srun bash train.sh` (the interpreter is then only the
	// program each task runs; Interpreter still names a python). When srun
	// starts a launcher that starts processes itself (`srun torchrun`,
	// `srun accelerate launch`, `srun deepspeed`), that launcher is the
	// Launcher, since its options are the ones fixes edit, and srun is in
	// Wrappers.
	Launcher string
	// LauncherArgs are the launcher's own options, as typed. For python
	// they are the interpreter's options (-u, -X dev, -W ignore), the -m
	// that names the module included; for srun its options up to the
	// program it runs, a "--" included (the program and that program's
	// own options follow them, before the script).
	LauncherArgs []string
	// Interpreter is the python executable as typed ("python3",
	// "/opt/venv/bin/python") when the command names one, also for
	// `python -m torch.distributed.run`; "" for `torchrun`, `accelerate`,
	// `deepspeed` (they use their own python) and for `uv run train.py`.
	Interpreter string
	// WorldSize is the number of processes started: torchrun
	// --nproc-per-node x --nnodes, accelerate --num_processes, deepspeed
	// --num_gpus x --num_nodes, srun's tasks times those of the launcher it
	// starts; 1 for a single process; 0 when it cannot be told from the
	// command line (--nproc-per-node gpu, a node range, deepspeed without
	// --num_gpus, accelerate --multi_gpu without --num_processes).
	// ParseCommand fills in a launcher that starts one process per GPU
	// from the GPUs the job sees.
	WorldSize int
	// perGPU, when the launcher starts one process per GPU it sees
	// (torchrun --nproc-per-node gpu, deepspeed without --num_gpus), is the
	// number of nodes it does so on; 0 otherwise.
	perGPU int
}

// ScriptCall is the training script and the arguments it is given.
type ScriptCall struct {
	// Script is the script path or module name.
	Script string
	// Module is true when Script is a module name (python -m, torchrun -m,
	// accelerate launch -m, deepspeed --module, uv run -m).
	Module bool
	// ScriptIndex is the index in argv of the token that holds Script. It
	// is Script itself except for a module typed attached to its flag
	// (`python -mpkg.train`).
	ScriptIndex int
	// Args are the script's own arguments: argv[ScriptIndex+1:].
	Args []string
}

// layout is the command line as typed and the places in it that the
// editing methods work on.
type layout struct {
	argv []string
	// optsAt is the index of the first of LauncherArgs, optsEnd the index
	// just after the last.
	optsAt, optsEnd int
	// insertAt is where a new launcher option goes: before the script, or
	// before the "--" or "-m" that leads to it.
	insertAt int
	// table describes the launcher's options; nil when it has none that
	// SetLauncherOption can edit.
	table *optionTable
	// bareAt is the index of the entrypoint of a `ray job submit` typed
	// without a "--" before it; 0 when there is none.
	bareAt int
	// ray is the outermost `ray job submit` the command runs behind; nil
	// when there is none.
	ray *RaySubmit
}

// Parse splits argv, program first, into wrappers, launcher and script. It
// fails only when no script can be found; the message says what is
// missing.
func Parse(argv []string) (Invocation, error) {
	if len(argv) == 0 {
		return Invocation{}, errors.New("empty command")
	}
	p := &parser{argv: argv, inv: Invocation{layout: layout{argv: append([]string(nil), argv...)}}}
	if err := p.program(0, "command"); err != nil {
		return Invocation{}, err
	}
	inv := p.inv
	inv.Args = append([]string{}, argv[inv.ScriptIndex+1:]...)
	inv.LauncherArgs = append([]string{}, argv[inv.optsAt:inv.optsEnd]...)
	world := p.launcherWorld
	for _, n := range p.wrapperTasks {
		world *= n
	}
	inv.WorldSize = world
	inv.perGPU = p.perGPU
	return inv, nil
}

// EveryGPU reads a trainer's devices value: "auto" and "-1" (Lightning's,
// litgpt's and NeMo's every device) are a process per GPU the job sees,
// gpus of them, 1 when vramrun cannot tell; ok is false for anything else.
func EveryGPU(devices string, gpus int) (n int, ok bool) {
	if v := strings.TrimSpace(devices); v == "auto" || v == "-1" {
		return max(gpus, 1), true
	}
	return 0, false
}

// PerGPUUncounted says the launcher starts a process per GPU it sees and
// nothing told how many that is: the world is unknown.
func (inv Invocation) PerGPUUncounted() bool { return inv.WorldSize == 0 && inv.perGPU > 0 }

// ParseCommand is Parse of the command's argv, with the world of a
// launcher that starts one process per GPU taken from the GPUs the job sees
// (cmd.GPUs; left 0 when that is unknown).
func ParseCommand(cmd sdk.Command) (Invocation, error) {
	inv, err := Parse(cmd.Argv)
	if err != nil {
		return inv, err
	}
	if _, typed := inv.LauncherOption("--num_processes"); inv.Launcher == "accelerate" && !typed && len(inv.Wrappers) == 0 {
		n, perGPU := accelerateProcesses(cmd, inv)
		if n > 0 || perGPU {
			// A process per GPU, uncounted: unknown (0), as torchrun's.
			inv.WorldSize = n
		}
		if perGPU {
			inv.perGPU = 1
		}
	}
	// Under a wrapper (srun, ray job submit) the launcher runs on nodes
	// whose GPUs vramrun does not see.
	if inv.WorldSize == 0 && inv.perGPU > 0 && cmd.GPUs > 0 && len(inv.Wrappers) == 0 {
		inv.WorldSize = inv.perGPU * cmd.GPUs
	}
	return inv, nil
}

// parser walks argv from the outermost wrapper to the script.
type parser struct {
	argv          []string
	inv           Invocation
	wrapperTasks  []int // processes each srun wrapper starts per command it runs
	launcherWorld int   // processes the innermost launcher starts
	perGPU        int   // nodes it starts a process per GPU on, when it does
}

var pythonName = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^python[0-9.]*$`) })

// program reads argv[i] as a program that runs the rest of argv. parent
// names what led to it, for messages.
func (p *parser) program(i int, parent string) error {
	if i >= len(p.argv) {
		return fmt.Errorf("%s: no program to run after its options", parent)
	}
	base := filepath.Base(p.argv[i])
	switch {
	case base == "env":
		return p.env(i)
	case base == "nohup":
		return p.wrapper(i, nohupTable())
	case base == "nice":
		return p.nice(i)
	case base == "time":
		return p.wrapper(i, timeTable())
	case base == "stdbuf":
		return p.wrapper(i, stdbufTable())
	case base == "timeout":
		return p.timeout(i)
	case base == "uv":
		return p.uv(i)
	case base == "srun":
		return p.srun(i)
	case base == "ray" && isRayJobSubmit(p.argv, i):
		return p.rayJob(i)
	case base == "torchrun":
		return p.argparseLauncher(i, i+1, "torchrun", torchrunTable(), "")
	case base == "accelerate":
		if i+1 >= len(p.argv) || p.argv[i+1] != "launch" {
			return errors.New("accelerate: only `accelerate launch` runs a training script")
		}
		return p.argparseLauncher(i, i+2, "accelerate", accelerateTable(), "")
	case base == "accelerate-launch":
		return p.argparseLauncher(i, i+1, "accelerate", accelerateTable(), "")
	case base == "deepspeed":
		return p.argparseLauncher(i, i+1, "deepspeed", deepspeedTable(), "")
	case pythonName().MatchString(base):
		return p.python(i)
	case base == "sh" || base == "bash" || base == "dash" || base == "zsh":
		return p.shell(i, base)
	}
	p.script(i, i, i, i, "", false)
	p.inv.Launcher = ""
	p.launcherWorld = 1
	return nil
}

// script records the script found at argv[scriptTok] for a launcher whose
// own words begin at launcherAt and whose options begin at optsAt and run
// up to the script.
func (p *parser) script(launcherAt, optsAt, insertAt, scriptTok int, script string, module bool) {
	if script == "" {
		script = p.argv[scriptTok]
	}
	p.inv.Prefix = append([]string{}, p.argv[:launcherAt]...)
	p.inv.optsAt = optsAt
	p.inv.optsEnd = max(optsAt, scriptTok)
	p.inv.insertAt = insertAt
	p.inv.ScriptIndex = scriptTok
	p.inv.Script = script
	p.inv.Module = module
}

// wrapper reads a program that only passes its command on (nohup, time,
// stdbuf): its options, then the command.
func (p *parser) wrapper(i int, t *optionTable) error {
	res, err := t.scan(p.argv, i+1)
	if err != nil {
		return err
	}
	return p.program(res.next, t.program)
}

// env reads `env [OPTION]... [-] [NAME=VALUE]... COMMAND`.
func (p *parser) env(i int) error {
	j := i + 1
	for {
		res, err := envTable().scan(p.argv, j)
		if err != nil {
			return err
		}
		j = res.next
		// A lone "-" is the old spelling of -i; options may follow it.
		if res.dashdash < 0 && j < len(p.argv) && p.argv[j] == "-" {
			j++
			continue
		}
		break
	}
	for ; j < len(p.argv) && strings.Contains(p.argv[j], "="); j++ {
		name, value, _ := strings.Cut(p.argv[j], "=")
		if p.inv.Env == nil {
			p.inv.Env = map[string]string{}
		}
		p.inv.Env[name] = value
	}
	return p.program(j, "env")
}

// nice reads `nice [-n N | -N] COMMAND`.
func (p *parser) nice(i int) error {
	j := i + 1
	if j < len(p.argv) && oldNiceAdjustment().MatchString(p.argv[j]) {
		j++
	}
	res, err := niceTable().scan(p.argv, j)
	if err != nil {
		return err
	}
	return p.program(res.next, "nice")
}

var oldNiceAdjustment = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^--?[0-9]+$`) })

// timeout reads `timeout [OPTION]... DURATION COMMAND`.
func (p *parser) timeout(i int) error {
	res, err := timeoutTable().scan(p.argv, i+1)
	if err != nil {
		return err
	}
	if res.next >= len(p.argv) {
		return errors.New("timeout: no duration and command")
	}
	return p.program(res.next+1, "timeout")
}

// uv reads `uv [global options] run [options] COMMAND`. uv runs a .py
// file, --script/-s or --module/-m target with python itself.
func (p *parser) uv(i int) error {
	res, err := uvTable().scan(p.argv, i+1)
	if err != nil {
		return err
	}
	if res.next >= len(p.argv) || p.argv[res.next] != "run" {
		return errors.New("uv: only `uv run` runs a training script")
	}
	first := res.opts
	res, err = uvTable().scan(p.argv, res.next+1)
	if err != nil {
		return err
	}
	j := res.next
	if j >= len(p.argv) {
		return errors.New("uv run: no command after its options")
	}
	opts := append(first, res.opts...)
	_, module := last(opts, "--module")
	_, script := last(opts, "--script")
	_, gui := last(opts, "--gui-script")
	cmd := p.argv[j]
	if module || script || gui || strings.HasSuffix(cmd, ".py") || strings.HasSuffix(cmd, ".pyw") {
		p.script(j, j, j, j, "", module)
		p.inv.Launcher = "python"
		if module {
			p.inv.Launcher = "python -m"
		}
		p.launcherWorld = 1
		return nil
	}
	return p.program(j, "uv run")
}

// srun reads `srun [options] [--] PROGRAM`. When PROGRAM is the script,
// or a program that runs the script in the task's one process (python,
// python -m, a shell, through wrappers such as env or nice), srun is the
// launcher; when it is a launcher that starts processes of its own
// (torchrun, accelerate, deepspeed, another srun), srun wraps it.
func (p *parser) srun(i int) error {
	res, err := srunTable().scan(p.argv, i+1)
	if err != nil {
		return err
	}
	p.wrapperTasks = append(p.wrapperTasks, srunTasks(res.opts))
	wrapperAt := len(p.inv.Wrappers)
	p.inv.Wrappers = append(p.inv.Wrappers, "srun")
	if err := p.program(res.next, "srun"); err != nil {
		return err
	}
	if runsInTask[p.inv.Launcher] {
		p.inv.Prefix = append([]string{}, p.argv[:i]...)
		p.inv.optsAt, p.inv.optsEnd, p.inv.insertAt = i+1, res.next, res.next
		if res.dashdash >= 0 {
			p.inv.optsEnd, p.inv.insertAt = res.dashdash+1, res.dashdash
		}
		p.inv.Launcher = "srun"
		p.inv.table = srunTable()
		p.inv.Wrappers = append(p.inv.Wrappers[:wrapperAt], p.inv.Wrappers[wrapperAt+1:]...)
	}
	if len(p.inv.Wrappers) == 0 {
		p.inv.Wrappers = nil
	}
	return nil
}

// runsInTask are the launchers that run the script in their own process:
// under srun, srun is what starts the script's processes.
var runsInTask = map[string]bool{
	"": true, "python": true, "python -m": true, "sh": true, "bash": true, "dash": true, "zsh": true,
}

// srunTasks is the number of tasks srun starts: -n, else nodes times tasks
// per node; 0 when a node range or a non-number leaves it open.
func srunTasks(opts []scannedOption) int {
	if o, ok := last(opts, "--ntasks"); ok {
		return positive(o.value)
	}
	perNode := 1
	if o, ok := last(opts, "--ntasks-per-node"); ok {
		perNode = positive(o.value)
	} else if o, ok := last(opts, "--tasks-per-node"); ok {
		perNode = positive(o.value)
	}
	nodes := 1
	if o, ok := last(opts, "--nodes"); ok {
		nodes = positiveRange(o.value, "-")
	}
	return nodes * perNode
}

// positive reads a count; 0 when it is not a positive integer.
func positive(s string) int {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n <= 0 {
		return 0
	}
	return n
}

// positiveRange reads "N" or "MIN<sep>MAX" with MIN == MAX; 0 otherwise.
func positiveRange(s, sep string) int {
	lo, hi, isRange := strings.Cut(s, sep)
	if !isRange {
		return positive(s)
	}
	if a, b := positive(lo), positive(hi); a == b {
		return a
	}
	return 0
}

// shell reads `sh [options] SCRIPT`.
func (p *parser) shell(i int, base string) error {
	res, err := shellTable().scan(p.argv, i+1)
	if err != nil {
		return err
	}
	for _, o := range res.opts {
		if o.typed == "-c" {
			return fmt.Errorf("%s -c has no script", base)
		}
	}
	if res.next >= len(p.argv) {
		return fmt.Errorf("%s: no script to run", base)
	}
	p.script(i, i+1, insertPoint(res), res.next, "", false)
	p.inv.Launcher = base
	p.inv.table = shellTable()
	p.launcherWorld = 1
	return nil
}

func insertPoint(res scanResult) int {
	if res.dashdash >= 0 {
		return res.dashdash
	}
	return res.next
}
