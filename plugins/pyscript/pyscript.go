// Package pyscript is what the framework plugins share about a Python
// training script: its source, imports and argparse flags, and how to read a
// knob's current value from the command line or, when the command leaves it
// out, from the script's own default.
package pyscript

import (
	"path/filepath"
	"strconv"
	"strings"

	"github.com/vramrun/vramrun/plugins/cmdline"
	"github.com/vramrun/vramrun/sdk"
)

// Script is a parsed command and what could be read of its script.
type Script struct {
	Cmd sdk.Command
	Inv cmdline.Invocation
	// Path is the script file read ("" when it could not be found).
	Path    string
	Source  []byte
	Imports map[string]bool
	Defs    []cmdline.ArgDef
}

// Load parses cmd and reads its script. ok is false when the command has no
// script at all (cmdline.Parse failed); a script that cannot be read still
// gives a Script, with no source.
func Load(cmd sdk.Command) (*Script, bool) {
	inv, err := cmdline.ParseCommand(cmd)
	if err != nil {
		return nil, false
	}
	s := &Script{Cmd: cmd, Inv: inv, Imports: map[string]bool{}}
	for _, p := range candidates(cmd, inv) {
		src, err := cmd.ReadFile(p)
		if err == nil {
			s.Path, s.Source = p, src
			break
		}
	}
	if s.Source != nil {
		for _, m := range cmdline.Imports(s.Source) {
			s.Imports[m] = true
			if i := strings.IndexByte(m, '.'); i > 0 {
				s.Imports[m[:i]] = true
			}
		}
		s.Defs = cmdline.ArgparseDefs(s.Source)
	}
	return s, true
}

// candidates are the files that may hold the script: the path itself, or
// for a module its file or package __main__ under the working directory.
func candidates(cmd sdk.Command, inv cmdline.Invocation) []string {
	if !inv.Module {
		return []string{inv.Script}
	}
	base := filepath.Join(strings.Split(inv.Script, ".")...)
	return []string{base + ".py", filepath.Join(base, "__main__.py")}
}

// ImportsAny reports whether the script imports any of the modules.
func (s *Script) ImportsAny(modules ...string) bool {
	for _, m := range modules {
		if s.Imports[m] {
			return true
		}
	}
	return false
}

// Def finds the argparse definition that has any of names.
func (s *Script) Def(names ...string) (cmdline.ArgDef, bool) {
	for _, d := range s.Defs {
		for _, dn := range d.Names {
			for _, n := range names {
				if dn == n {
					return d, true
				}
			}
		}
	}
	return cmdline.ArgDef{}, false
}

// Option is one knob's flag as the command and script know it.
type Option struct {
	// Names are the spellings found for it: the script's own definition
	// first, then the candidate names searched.
	Names []string
	// Value is the current value: the command line's, else the script's
	// default; "" with Known false when neither says.
	Value string
	Known bool
	// Typed says the command line sets it; TypedName is the spelling used.
	Typed     bool
	TypedName string
	// Defined says the script's argparse defines it.
	Defined bool
	// Bool says the script defines it as a store_true switch.
	Bool bool
}

// Exists says the command can take this flag: typed, or defined.
func (o Option) Exists() bool { return o.Typed || o.Defined }

// Find looks for the first of the candidate name groups the command types or
// the script defines. Each group lists the spellings of one flag
// (["-b", "--batch-size"]); groups are tried in order.
func (s *Script) Find(groups ...[]string) Option {
	for _, names := range groups {
		if o, ok := s.find(names); ok {
			return o
		}
	}
	return Option{}
}

func (s *Script) find(names []string) (Option, bool) {
	def, defined := s.Def(names...)
	all := names
	if defined {
		all = mergeNames(def.Names, names)
	}
	f, typed := cmdline.FindFlag(s.Inv.Args, all...)
	if !typed && !defined {
		return Option{}, false
	}
	o := Option{Names: all, Typed: typed, Defined: defined}
	if typed {
		o.TypedName = f.Name
	}
	if defined {
		o.Bool = def.Action == "store_true" || def.Action == "store_false" || def.Action == "BooleanOptionalAction"
	}
	switch {
	case typed && f.HasValue:
		o.Value, o.Known = f.Value, true
	case typed && o.Bool || typed && f.Form == cmdline.Bare:
		o.Value, o.Known = "true", true
	case defined && def.HasDefault && def.Default != "None":
		o.Value, o.Known = unquote(def.Default), true
	case defined && o.Bool:
		o.Value, o.Known = strconv.FormatBool(def.Action == "store_false"), true
	}
	return o, true
}

// mergeNames puts the script's spellings first (they are what it accepts),
// then any candidates it does not list.
func mergeNames(defined, candidates []string) []string {
	out := append([]string(nil), defined...)
	for _, c := range candidates {
		seen := false
		for _, d := range defined {
			if c == d {
				seen = true
			}
		}
		if !seen {
			out = append(out, c)
		}
	}
	return out
}

// Int is the option's value as a whole number.
func (o Option) Int() (int, bool) {
	if !o.Known {
		return 0, false
	}
	n, err := strconv.Atoi(strings.TrimSpace(o.Value))
	return n, err == nil
}

// LongName is the spelling to add the flag with: the first long name.
func (o Option) LongName() string {
	for _, n := range o.Names {
		if strings.HasPrefix(n, "--") {
			return n
		}
	}
	if len(o.Names) > 0 {
		return o.Names[0]
	}
	return ""
}

// DisplayName is the flag as the user will see it change: the spelling
// they typed, else the one vramrun adds.
func (o Option) DisplayName() string {
	if o.TypedName != "" {
		return o.TypedName
	}
	return o.LongName()
}

// SetInt sets a numeric flag in args, keeping the user's spelling and form
// when typed, else adding the script's long name.
func (o Option) SetInt(args []string, v int) []string {
	return cmdline.SetFlag(args, o.setNames(), strconv.Itoa(v), cmdline.Space)
}

// Set sets a flag's value in args.
func (o Option) Set(args []string, v string) []string {
	return cmdline.SetFlag(args, o.setNames(), v, cmdline.Space)
}

// setNames puts the long name first, so an absent flag is added as it.
func (o Option) setNames() []string {
	long := o.LongName()
	out := []string{long}
	for _, n := range o.Names {
		if n != long {
			out = append(out, n)
		}
	}
	return out
}

// TurnOn turns a boolean flag on in args: added bare when missing (before a
// bare "--"), its value set to true when it is typed with a boolean value
// (`--bf16 False`). Anything else after a store_true flag is the next
// argument, not its value.
func (o Option) TurnOn(args []string) []string {
	if f, ok := cmdline.FindFlag(args, o.Names...); ok {
		if _, err := cmdline.ParseBool(f.Value); f.HasValue && !o.Bool && err == nil {
			return cmdline.SetFlag(args, o.Names, "true", cmdline.Space)
		}
		return append([]string(nil), args...)
	}
	return cmdline.AddSwitch(args, o.LongName())
}

// Change describes one flag's change for a summary: "--batch-size 64 -> 32".
func Change(name, from, to string) string {
	if from == "" {
		return name + " " + to
	}
	return name + " " + from + " -> " + to
}

func unquote(s string) string {
	s = strings.TrimSpace(s)
	if len(s) >= 2 && (s[0] == '"' || s[0] == '\'') && s[len(s)-1] == s[0] {
		return s[1 : len(s)-1]
	}
	return s
}
