package cmdline

import "strings"

// WithArgs returns the full command line with args in place of the
// script's arguments; every token up to and including the script is kept
// byte for byte (only a `ray job submit` typed without a "--" before its
// entrypoint gets one, when args give the entrypoint an option).
func (inv Invocation) WithArgs(args []string) []string {
	if len(inv.argv) == 0 {
		return append([]string{}, args...)
	}
	out := make([]string, 0, inv.ScriptIndex+1+len(args))
	out = append(out, inv.argv[:inv.ScriptIndex+1]...)
	return inv.guarded(append(out, args...))
}

// Argv returns a copy of the command line Parse read.
func (inv Invocation) Argv() []string {
	return append([]string{}, inv.argv...)
}

// launcherOptions reads the launcher's own options again.
func (inv Invocation) launcherOptions() ([]scannedOption, bool) {
	if inv.table == nil || len(inv.argv) == 0 {
		return nil, false
	}
	res, err := inv.table.scan(inv.argv[:inv.optsEnd], inv.optsAt)
	if err != nil {
		return nil, false
	}
	return res.opts, true
}

// LauncherOption returns the value of one of the launcher's own options
// (the last one typed, as the launcher's parser keeps it), e.g.
// LauncherOption("--mixed_precision") for accelerate launch. A flag that
// takes no value reports "", true. Spellings the launcher treats as one
// are one (accelerate and torchrun: --num_processes = --num-processes; a
// short option = its long name where the table says so: srun -n =
// --ntasks).
func (inv Invocation) LauncherOption(name string) (string, bool) {
	opts, ok := inv.launcherOptions()
	if !ok {
		return "", false
	}
	o, found := last(opts, inv.table.key(name))
	return o.value, found
}

// SetLauncherOption returns the command line with one of the launcher's
// own options set: the last occurrence has its value replaced in the form
// the user typed it (--x v, --x=v, -xv); an absent option is inserted as
// `name value` just before the script (before the "--" or python's "-m"
// that leads to it). For an option that takes no value, value is ignored
// and the flag is made present. Without a launcher that has options
// (a script run directly, `uv run train.py`) the command is returned
// unchanged.
func (inv Invocation) SetLauncherOption(name, value string) []string {
	out := inv.Argv()
	opts, ok := inv.launcherOptions()
	if !ok {
		return out
	}
	key := inv.table.key(name)
	ar := inv.table.arityOf(key)
	if o, found := last(opts, key); found {
		switch {
		case ar == noValue:
			return out
		case o.valueTok < 0 && strings.HasPrefix(o.typed, "--"):
			// An optional value left out (--exclusive): attach it.
			out[o.tok] += "=" + value
		case o.valueTok < 0:
			// A single-letter optional value is attached bare (-k -> -koff);
			// it is the last letter of its token.
			out[o.tok] += value
		case o.valueTok == o.tok:
			out[o.tok] = out[o.tok][:o.valueOff] + value
		default:
			out[o.valueTok] = value
		}
		return inv.guarded(out)
	}
	var add []string
	switch ar {
	case noValue:
		add = []string{name}
	case optionalValue:
		add = []string{name + "=" + value}
	default:
		add = []string{name, value}
	}
	res := make([]string, 0, len(out)+len(add))
	res = append(res, out[:inv.insertAt]...)
	res = append(res, add...)
	return inv.guarded(append(res, out[inv.insertAt:]...))
}
