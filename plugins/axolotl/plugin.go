// Package axolotl is the built-in plugin for axolotl: `axolotl train
// cfg.yml [--kebab-key value ...] [--launcher ...]` and the legacy
// `accelerate launch -m axolotl.cli.train cfg.yml [--key=value ...]`,
// behind any launcher prefix (uv run, srun, env).
//
// Every config field is a command-line option that wins over the file, so
// a fix is one more option (or the last one of its key, edited) and the
// user's file is never touched. axolotl trains with Hugging Face's
// Trainer; its CLI sets the allocator's expandable segments itself when
// the variable is unset.
package axolotl

import (
	"path/filepath"
	"strings"

	"github.com/vramrun/vramrun/plugins/cfgcli"
	"github.com/vramrun/vramrun/plugins/cmdline"
	"github.com/vramrun/vramrun/plugins/pyscript"
	"github.com/vramrun/vramrun/plugins/transformers"
	"github.com/vramrun/vramrun/sdk"
)

// Name is the framework name the plan reports.
const Name = "axolotl"

// New returns the plugin. The OOM texts are PyTorch's and the traceback
// frames the Trainer's, which their plugins declare.
func New() *cfgcli.Plugin {
	return cfgcli.NewPlugin(sdk.DescribeResponse{Name: Name, Version: "1.0.0", Frameworks: []string{Name},
		Progress: transformers.Progress(Name), Rejections: pyscript.Rejections(Name)}, 95, "an axolotl train command", load)
}

// command is an axolotl command as read.
type command struct {
	// probes asks the job's Python what it has.
	probes *pyscript.Probes
	s      *pyscript.Script
	// cfgAt is the index in the script's arguments of the config file.
	cfgAt int
	cfg   string
	vals  cfgcli.Values
	err   error
	// legacy says the command runs the module itself (--key=value options
	// in snake case); else the axolotl CLI (kebab case).
	legacy bool
	why    string
}

// Why says what gave the command away.
func (c *command) Why() string { return c.why }

func load(cmd sdk.Command, probes *pyscript.Probes) (*command, bool) {
	inv, err := cmdline.ParseCommand(cmd)
	if err != nil {
		return nil, false
	}
	c := &command{probes: probes, s: &pyscript.Script{Cmd: cmd, Inv: inv, Imports: map[string]bool{}}, cfgAt: -1}
	switch {
	case filepath.Base(inv.Script) == "axolotl" && !inv.Module && len(inv.Args) > 0 && inv.Args[0] == "train":
		c.why = "axolotl train"
		c.cfgAt = firstPositional(inv.Args, 1)
	case inv.Module && inv.Script == "axolotl.cli.train":
		c.why, c.legacy = "the axolotl.cli.train module", true
		c.cfgAt = firstPositional(inv.Args, 0)
	default:
		return nil, false
	}
	c.vals = cfgcli.Values{}
	if c.cfgAt >= 0 {
		c.cfg = inv.Args[c.cfgAt]
		c.vals, c.err = cfgcli.Read(cmd, c.cfg)
		if c.vals == nil {
			c.vals = cfgcli.Values{}
		}
	}
	for _, o := range c.options() {
		c.vals[o.key] = cfgcli.Scalar(o.value)
	}
	return c, true
}

// firstPositional is the index of the first argument from i on that is
// not an option, -1 when there is none.
func firstPositional(args []string, i int) int {
	for ; i < len(args); i++ {
		if args[i] == "--" {
			return -1
		}
		if !strings.HasPrefix(args[i], "-") {
			return i
		}
		if !strings.Contains(args[i], "=") && i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") {
			// An option's value, not the config.
			i++
		}
	}
	return -1
}

// option is one config override on the command line.
type option struct {
	key, value string
	// at is the index of the option's name; form says whether the value
	// follows as its own word.
	at    int
	space bool
}

// notConfig are the CLI's own options, not config fields.
var notConfig = map[string]bool{"launcher": true, "cloud": true, "sweep": true}

// options are the config overrides the command line gives, in order, up
// to a bare "--" (launcher arguments follow it).
func (c *command) options() []option {
	args := c.s.Inv.Args
	var out []option
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			break
		}
		if !strings.HasPrefix(a, "--") || i == c.cfgAt {
			continue
		}
		name, value, eq := strings.Cut(a[2:], "=")
		o := option{key: strings.ReplaceAll(name, "-", "_"), at: i}
		switch {
		case eq:
			o.value = value
		case i+1 < len(args) && !strings.HasPrefix(args[i+1], "--"):
			o.value, o.space = args[i+1], true
			i++
		case strings.HasPrefix(o.key, "no_"):
			// click's --no-flag of a plain boolean field.
			o.key, o.value = strings.TrimPrefix(o.key, "no_"), "false"
		default:
			o.value = "true"
		}
		if !notConfig[o.key] {
			out = append(out, o)
		}
	}
	return out
}

// switches are the plain boolean fields vramrun sets: the axolotl CLI
// takes them as --flag / --no-flag, never with a value.
var switches = map[string]bool{"fp16": true, "chunked_cross_entropy": true}

// set returns the script's arguments with the option key set to value:
// the last option of key edited in place, else one more before a bare
// "--" (or at the end).
func (c *command) set(args []string, key, value string) []string {
	out := append([]string(nil), args...)
	if switches[key] && !c.legacy {
		return c.setSwitch(out, key, value == "true")
	}
	opts := c.options()
	for i := len(opts) - 1; i >= 0; i-- {
		if o := opts[i]; o.key == key {
			if o.space {
				out[o.at+1] = value
			} else {
				out[o.at] = c.flagName(key) + "=" + value
			}
			return out
		}
	}
	end := len(out)
	for i, a := range out {
		if a == "--" {
			end = i
			break
		}
	}
	add := []string{c.flagName(key) + "=" + value}
	return append(out[:end], append(add, out[end:]...)...)
}

// flagName is how the command spells a key's option: kebab case for the
// axolotl CLI, the field name for the module.
func (c *command) flagName(key string) string {
	if c.legacy {
		return "--" + key
	}
	return "--" + strings.ReplaceAll(key, "_", "-")
}

// setSwitch turns a plain boolean field on or off with click's --flag or
// --no-flag, in place of any the command has.
func (c *command) setSwitch(args []string, key string, on bool) []string {
	flag := strings.ReplaceAll(key, "_", "-")
	word := "--" + flag
	if !on {
		word = "--no-" + flag
	}
	end := len(args)
	var out []string
	for i, a := range args {
		if a == "--" {
			end = i
			break
		}
		if a == "--"+flag || a == "--no-"+flag {
			continue
		}
		out = append(out, a)
	}
	out = append(out, word)
	return append(out, args[end:]...)
}
