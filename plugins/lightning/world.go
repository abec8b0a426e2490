package lightning

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/vramrun/vramrun/plugins/cmdline"
	"github.com/vramrun/vramrun/plugins/pyscript"
)

// Under plain python, Lightning's Trainer starts its own processes:
// devices × num_nodes. Lightning 2 (the lightning package, and
// pytorch_lightning 2.x) defaults to accelerator="auto" and
// devices="auto", which is a process per GPU the job sees. Lightning 1.x
// defaults to accelerator=None, which runs on the CPU, so an unset devices
// (or gpus) there is one process; with accelerator "gpu" or "auto" set,
// 1.x also takes every GPU. A job that ran out of CUDA memory with
// nothing set was therefore on Lightning 2, or set its devices where
// vramrun does not look.

// trainerDevices are the Trainer arguments that decide how many
// processes Lightning starts, and where they come from.
type trainerDevices struct {
	devices, gpus, accelerator, nodes source
	// label names the devices argument in notes: "trainer.devices".
	label string
	// unread says why devices may be set where vramrun cannot read it
	// ("" when nothing hides it).
	unread string
}

// cliDevices are a LightningCLI command's: flags, config files, then the
// script's trainer_defaults.
func (c *cliCommand) cliDevices() trainerDevices {
	t := trainerDevices{devices: c.lookup(dotted("trainer.devices")), gpus: c.lookup(dotted("trainer.gpus")),
		accelerator: c.lookup(dotted("trainer.accelerator")), nodes: c.lookup(dotted("trainer.num_nodes")), label: "trainer.devices"}
	var hidden []string
	if at := c.lastUnread(); at >= 0 {
		hidden = append(hidden, c.configError())
	}
	if c.defaultsUnread != "" {
		hidden = append(hidden, "the script's "+c.defaultsUnread)
	} else if v, ok := c.defaults["devices"]; ok && !v.Literal {
		hidden = append(hidden, fmt.Sprintf("the script's trainer_defaults set devices to %s, which vramrun cannot read", v.Text))
	}
	if len(hidden) > 0 {
		t.unread = strings.Join(hidden, "; ") + ": it may set devices"
	}
	return t
}

// unset says a Trainer argument is left at Lightning's default: set
// nowhere, or set to None.
func unset(src source) bool {
	if src.kind == fromNone {
		return true
	}
	if n := resolve(src.node); n != nil && n.Kind != yaml.ScalarNode {
		return false // a list (or mapping) in a config file
	}
	switch strings.Trim(strings.TrimSpace(src.value), `"'`) {
	case "", "None", "null", "Null", "NULL", "~":
		return true
	}
	return false
}

// countProcesses sets the world of a command run under plain python to
// the processes Lightning starts: devices (or 1.x's gpus) × num_nodes,
// an unset devices counted as Lightning's default (defaultDevices). Under
// a launcher (torchrun, srun) the launcher's world stands.
func (p *Plugin) countProcesses(ctx context.Context, s *pyscript.Script, t trainerDevices, a *pyscript.Analysis) {
	if a.WorldSize != 1 || !(s.Inv.Launcher == "python" || s.Inv.Launcher == "python -m" || s.Inv.Launcher == "") {
		return
	}
	nodes := max(1, valueOr(intPtr(t.nodes.value), 1))
	switch {
	case !unset(t.devices):
		a.WorldSize = devicesCount(t.devices, s.Cmd.GPUs) * nodes
	case !unset(t.gpus):
		a.WorldSize = devicesCount(t.gpus, s.Cmd.GPUs) * nodes
	default:
		n, note := p.defaultDevices(ctx, s, t)
		a.WorldSize = n * nodes
		if note != "" {
			a.Notes = append(a.Notes, note)
		}
	}
}

// defaultDevices is how many processes a node runs with devices unset,
// and the note that says so ("" when there is nothing to say): every GPU
// the job sees (1 when unknown) for Lightning 2's defaults, or an
// accelerator set to auto, gpu or cuda; one for any other accelerator
// (the CPU's one process, an accelerator vramrun cannot count) and for
// Lightning 1.x's unset accelerator (the CPU).
func (p *Plugin) defaultDevices(ctx context.Context, s *pyscript.Script, t trainerDevices) (int, string) {
	gpus := s.Cmd.GPUs
	acc := strings.ToLower(strings.Trim(strings.TrimSpace(t.accelerator.value), `"'`))
	if unset(t.accelerator) {
		acc = ""
	}
	switch acc {
	case "", "auto", "gpu", "cuda":
	default:
		return 1, ""
	}
	if acc == "" {
		// Only a count of more than one GPU is worth asking the job's
		// Python about.
		if why := p.legacy(ctx, s, gpus > 1); why != "" {
			if gpus > 1 {
				return 1, fmt.Sprintf("%s and the accelerator unset with %s: Lightning 1.x's defaults run one process, on the CPU", t.label, why)
			}
			return 1, ""
		}
	}
	n, _ := cmdline.EveryGPU("auto", gpus)
	var note string
	switch {
	case gpus == 0:
		note = pyscript.PerGPUNoteIn(t.label+" unset: Lightning 2's default devices=auto", s.Inv)
	case gpus > 1:
		note = fmt.Sprintf("%s unset: Lightning's default devices=auto starts one process per GPU the job sees (%d)", t.label, gpus)
	}
	if note != "" && t.unread != "" {
		note += "; " + t.unread
	}
	return n, note
}

// legacy names what says the job runs Lightning 1.x, "" when nothing
// does (Lightning 2, or unknown): an API the script uses that 2.0
// removed, else (with probe) the release of the package the script
// imports that the job's Python has installed, read from its metadata.
func (p *Plugin) legacy(ctx context.Context, s *pyscript.Script, probe bool) string {
	if api := legacyAPI(s); api != "" {
		return "the script's " + api + " (Lightning 1.x)"
	}
	var dist string
	switch {
	case !probe:
		return ""
	case s.ImportsAny("lightning"):
		dist = "lightning"
	case s.ImportsAny("pytorch_lightning"):
		dist = "pytorch_lightning"
	default:
		return ""
	}
	found := p.probes.Installed(ctx, s, dist)
	if !found.Known || !found.There {
		return ""
	}
	major, _, _ := strings.Cut(found.Version, ".")
	if n, err := strconv.Atoi(major); err == nil && n < 2 {
		return dist + " " + found.Version
	}
	return ""
}

// legacyAPI is the Lightning 1.x API the script uses, which 2.0 removed
// (so the job cannot be on 2.x), or "".
func legacyAPI(s *pyscript.Script) string {
	for _, api := range []string{"pytorch_lightning.utilities.cli", "add_argparse_args", "from_argparse_args"} {
		if bytesContain(s.Source, api) {
			return api
		}
	}
	return ""
}

// plainDevices are a plain script's: the keywords of its first Trainer(...)
// call, each a literal or args.NAME of one of its argparse flags (the
// command's value, else the flag's default); where that call is Lightning
// 1.x's Trainer.from_argparse_args, the --devices, --gpus, --accelerator
// and --num_nodes flags typed, below the call's own keywords. ok is false
// when the script builds no Trainer vramrun can see.
func plainDevices(s *pyscript.Script) (t trainerDevices, ok bool) {
	if s.Source == nil {
		return trainerDevices{}, false
	}
	var call cmdline.PyCall
	for _, c := range cmdline.PythonCalls(s.Source, "") {
		if c.Callee == "Trainer" || strings.HasSuffix(c.Callee, ".Trainer") || strings.HasSuffix(c.Callee, "Trainer.from_argparse_args") {
			call, ok = c, true
			break
		}
	}
	if !ok {
		return trainerDevices{}, false
	}
	fromFlags := strings.HasSuffix(call.Callee, ".from_argparse_args")
	var hidden []string
	arg := func(name string) source {
		if v, ok := call.Keywords[name]; ok {
			src, read := plainValue(s, v)
			if !read && name == "devices" {
				hidden = append(hidden, fmt.Sprintf("the script's Trainer sets devices to %s (line %d), which vramrun cannot read", v.Text, call.Line))
			}
			return src
		}
		if o := s.Find([]string{"--" + name}); fromFlags && o.Typed && o.Known {
			return source{kind: fromScript, value: o.Value}
		}
		return source{}
	}
	t = trainerDevices{devices: arg("devices"), gpus: arg("gpus"), accelerator: arg("accelerator"), nodes: arg("num_nodes"),
		label: "devices in the script's Trainer"}
	if _, named := call.Keywords["devices"]; call.Unpacked && !named {
		hidden = append(hidden, fmt.Sprintf("the script's Trainer (line %d) takes arguments it unpacks, which vramrun cannot read", call.Line))
	}
	if len(hidden) > 0 {
		t.unread = strings.Join(hidden, "; ") + ": it may set devices"
	}
	return t, true
}

// plainValue reads a Trainer keyword: a literal, or args.NAME where NAME
// is one of the script's argparse flags (the command's value, else its
// default; unset when that is None). read is false for anything else.
func plainValue(s *pyscript.Script, v cmdline.PyValue) (src source, read bool) {
	if v.Literal {
		return source{kind: fromScript, value: v.Text}, true
	}
	_, attr, dotted := strings.Cut(v.Text, ".")
	if !dotted || strings.ContainsAny(attr, ".()[] ") {
		return source{}, false
	}
	for _, d := range s.Defs {
		if d.Dest != attr {
			continue
		}
		if o := s.Find(d.Names); o.Known {
			return source{kind: fromScript, value: o.Value}, true
		}
		return source{}, true
	}
	return source{}, false
}
