package pyscript

import "github.com/vramrun/vramrun/sdk"

// Rejections are the texts with which a Python script rejects a change to
// its command line, declared for plugin name: argparse's two errors for an
// argument it does not take (jsonargparse's, which litgpt and LightningCLI
// use, capitalise "Unrecognized"), click's (axolotl, Unsloth: "Error: No
// such option: --flag"), and Python's for a module that is not installed
// (what a fix may need: DeepSpeed, bitsandbytes). Each names what was
// rejected in the group "name"; vramrun takes a fix back only when that is
// something the fix changed.
func Rejections(name string) []sdk.RejectionPattern {
	return []sdk.RejectionPattern{
		{ID: name + ".argparse_unrecognized", Regexp: `error: [Uu]nrecognized arguments: (?P<name>.+)$`},
		{ID: name + ".click_no_such_option", Regexp: `Error: No such option: (?P<name>\S+)`},
		{ID: name + ".argparse_invalid", Regexp: `error: argument (?P<name>\S+?):? invalid (?:choice|\w+ value): `},
		{ID: name + ".no_module", Regexp: `(?:ModuleNotFoundError|ImportError): No module named '(?P<name>[^']+)'`},
		{ID: name + ".import_error", Regexp: `^ImportError: (?P<name>.+)$`},
	}
}
