package cmdline

import (
	"errors"
	"fmt"
	"strings"
)

// argparseLauncher reads a launcher whose own words are
// argv[launcherAt:optsAt] (`torchrun`, `accelerate launch`, `python -m
// torch.distributed.run`), then its options and the training script.
func (p *parser) argparseLauncher(launcherAt, optsAt int, name string, t *optionTable, interpreter string) error {
	res, err := t.scan(p.argv, optsAt)
	if err != nil {
		return err
	}
	if res.next >= len(p.argv) {
		return fmt.Errorf("%s: no training script after its options", t.program)
	}
	_, module := last(res.opts, "--module")
	p.script(launcherAt, optsAt, insertPoint(res), res.next, "", module)
	p.inv.Launcher = name
	p.inv.Interpreter = interpreter
	p.inv.table = t
	switch name {
	case "torchrun":
		p.launcherWorld, p.perGPU = torchrunWorld(res.opts)
	case "accelerate":
		p.launcherWorld = accelerateWorld(res.opts)
	case "deepspeed":
		p.launcherWorld, p.perGPU = deepspeedWorld(res.opts)
	default:
		p.launcherWorld = 1
	}
	return nil
}

// torchrunWorld is --nproc-per-node (default 1) times --nnodes (default 1,
// "N" or "MIN:MAX" with MIN == MAX). With --nproc-per-node gpu or auto
// (one process per GPU, on a GPU machine) the world is 0 and perGPU the
// nodes.
func torchrunWorld(opts []scannedOption) (world, perGPU int) {
	perNode, nodes := 1, 1
	if o, ok := last(opts, "--nproc-per-node"); ok {
		perNode = positive(o.value)
		if v := strings.TrimSpace(o.value); v == "gpu" || v == "auto" {
			perGPU = 1
		}
	}
	if o, ok := last(opts, "--nnodes"); ok {
		nodes = positiveRange(o.value, ":")
	}
	return perNode * nodes, perGPU * nodes
}

// accelerateWorld is --num_processes (the total over all machines); 1
// without it, unless --multi_gpu asks for every GPU of the config.
func accelerateWorld(opts []scannedOption) int {
	if o, ok := last(opts, "--num-processes"); ok {
		return positive(o.value)
	}
	if _, ok := last(opts, "--multi-gpu"); ok {
		return 0
	}
	return 1
}

// deepspeedWorld is --num_gpus times --num_nodes, or the slots an
// --include list names; 0 when deepspeed is left to use every GPU, and
// then perGPU is the nodes (--num_nodes, 1 without it: with no hostfile
// deepspeed runs on this machine alone).
func deepspeedWorld(opts []scannedOption) (world, perGPU int) {
	if o, ok := last(opts, "--include"); ok {
		return includeSlots(o.value), 0
	}
	gpus, counted := 0, false
	if o, ok := last(opts, "--num_gpus"); ok {
		gpus, counted = positive(o.value), true
	} else if o, ok := last(opts, "--num_accelerators"); ok {
		gpus, counted = positive(o.value), true
	}
	nodes := 1
	if o, ok := last(opts, "--num_nodes"); ok {
		nodes = positive(o.value)
	}
	if !counted {
		return 0, nodes
	}
	return gpus * nodes, 0
}

// includeSlots counts the slots of a deepspeed -i list
// ("worker-0:0,1@worker-1:0"); 0 when a host is named without slots.
func includeSlots(s string) int {
	total := 0
	for _, node := range strings.Split(s, "@") {
		_, slots, ok := strings.Cut(node, ":")
		if !ok || slots == "" {
			return 0
		}
		total += len(strings.Split(slots, ","))
	}
	return total
}

// python reads `python [interpreter options] SCRIPT` and `python
// [options] -m MODULE`; a module that is itself a launcher (python -m
// torch.distributed.run) is read as that launcher.
func (p *parser) python(i int) error {
	for j := i + 1; j < len(p.argv); {
		tok := p.argv[j]
		switch {
		case tok == "--":
			if j+1 >= len(p.argv) {
				return errors.New("python: no script after --")
			}
			p.pythonScript(i, j, j+1)
			return nil
		case tok == "-":
			return errors.New("python - reads its program from standard input: there is no script")
		case !strings.HasPrefix(tok, "-"):
			p.pythonScript(i, j, j)
			return nil
		case strings.HasPrefix(tok, "--"):
			name, _, hasEq := strings.Cut(tok[2:], "=")
			if pythonTable().long[name] == needsValue && !hasEq {
				if j+1 >= len(p.argv) {
					return fmt.Errorf("python: option %s needs a value", tok)
				}
				j++
			}
			j++
			continue
		}
		next, done, err := p.pythonShorts(i, j)
		if done || err != nil {
			return err
		}
		j = next
	}
	return fmt.Errorf("%s: no script (that would be the interactive interpreter)", p.argv[i])
}

// pythonShorts reads one token of combined single-letter interpreter
// options at argv[j] (-u, -uW ignore, -Wignore, -X dev, -m MOD, -mMOD).
// done is true when -m ended the interpreter's options.
func (p *parser) pythonShorts(pyAt, j int) (next int, done bool, err error) {
	tok := p.argv[j]
	for k := 1; k < len(tok); k++ {
		switch c := tok[k]; {
		case c == 'c':
			return 0, true, errors.New("python -c has no script")
		case c == 'm':
			module, modTok := tok[k+1:], j
			if module == "" {
				if j+1 >= len(p.argv) {
					return 0, true, errors.New("python -m needs a module name")
				}
				modTok, module = j+1, p.argv[j+1]
			}
			return 0, true, p.pythonModule(pyAt, j, modTok, module)
		case pythonTable().short[c] == needsValue:
			if k+1 == len(tok) {
				if j+1 >= len(p.argv) {
					return 0, true, fmt.Errorf("python: option -%c needs a value", c)
				}
				return j + 2, false, nil
			}
			return j + 1, false, nil
		}
	}
	return j + 1, false, nil
}

func (p *parser) pythonScript(pyAt, insertAt, scriptTok int) {
	p.script(pyAt, pyAt+1, insertAt, scriptTok, "", false)
	p.inv.Launcher = "python"
	p.inv.Interpreter = p.argv[pyAt]
	p.inv.table = pythonTable()
	p.launcherWorld = 1
}

// pythonModule handles `python ... -m MODULE` with -m at argv[mTok] and
// the module name in argv[modTok].
func (p *parser) pythonModule(pyAt, mTok, modTok int, module string) error {
	interp := p.argv[pyAt]
	switch module {
	case "torch.distributed.run":
		return p.argparseLauncher(pyAt, modTok+1, "torchrun", torchrunTable(), interp)
	case "torch.distributed.launch":
		return p.argparseLauncher(pyAt, modTok+1, "torchrun", torchLaunchTable(), interp)
	case "accelerate.commands.launch":
		return p.argparseLauncher(pyAt, modTok+1, "accelerate", accelerateTable(), interp)
	case "deepspeed.launcher.runner":
		return p.argparseLauncher(pyAt, modTok+1, "deepspeed", deepspeedTable(), interp)
	}
	p.script(pyAt, pyAt+1, mTok, modTok, module, true)
	p.inv.Launcher = "python -m"
	p.inv.Interpreter = interp
	p.inv.table = pythonTable()
	p.launcherWorld = 1
	return nil
}
