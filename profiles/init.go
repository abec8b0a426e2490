package profiles

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/vramrun/vramrun/sdk"
)

// InitFile writes dir/vramrun.yaml for `vramrun profile init`: every key
// with its default and a comment saying what it does, and the flags:, env:,
// plugins: and profiles: sections as commented examples. It never
// overwrites: an existing file is an error that names it.
func InitFile(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("profile init: %w", err)
	}
	path := filepath.Join(abs, ProjectFileName)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, fs.ErrExist) {
		return "", fmt.Errorf("%s already exists; vramrun does not overwrite it", path)
	}
	if err != nil {
		return "", fmt.Errorf("profile init: %w", err)
	}
	_, werr := f.WriteString(initTemplate())
	if serr := f.Sync(); werr == nil {
		werr = serr
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		// A half-written file would be refused by the next init.
		_ = os.Remove(path)
		return "", fmt.Errorf("writing %s: %w", path, werr)
	}
	return path, nil
}

// initTemplate is built from the key table, so a new key or a changed
// default appears in it without editing text.
func initTemplate() string {
	var b strings.Builder
	b.WriteString(`# vramrun.yaml: how vramrun runs the training commands of this project.
# Settings merge as: defaults < user file ($XDG_CONFIG_HOME/vramrun/config.yaml)
# < this file < --profile NAME < VRAMRUN_<KEY> environment < flags.
# Every value below is the default; change what you need, delete the rest.

`)
	d := Defaults()
	for _, k := range scalarKeys() {
		fmt.Fprintf(&b, "# %s", k.help)
		if k.flag != "" {
			fmt.Fprintf(&b, " (flag --%s, variable %s)", k.flag, EnvVar(k.name))
		} else {
			fmt.Fprintf(&b, " (variable %s)", EnvVar(k.name))
		}
		fmt.Fprintf(&b, "\n%s: %s\n", k.name, yamlValue(k.get(&d)))
	}
	b.WriteString(`
# This project's own flags, for what vramrun cannot find by itself. These
# ten names are the only keys; {dtype} (in mixed_precision only) becomes
# bf16 or fp16.
# flags:
#   batch_size: --bsz                             # flags that take a number
#   grad_accumulation: --accum
#   eval_batch_size: --eval-bsz
#   grad_checkpointing: --ckpt                    # what to append to apply a fix
#   mixed_precision: "--amp --amp-dtype {dtype}"
#   optimizer_8bit: "--optim adamw8bit"
#   cpu_offload: --offload
#   fused_loss: --fused-ce
#   activation_offload: --offload-activations
#   eval_accumulation: "--eval-accum 1"

# Extra environment for every attempt; names are kept exactly as written.
# env:
#   NCCL_DEBUG: INFO

# Third-party plugins for this project; a relative path is relative to this
# file. With sha256, a binary that does not match is refused.
# plugins:
#   - name: mytrainer
#     path: tools/vramrun-plugin-mytrainer
#     sha256: 0123...(64 hexadecimal digits)

# This project's own progress lines, for a script vramrun cannot read the
# speed of: an RE2 expression with one group per_s (units a second), s_per
# or ms_per (seconds or milliseconds a unit); the unit is step (an optimizer
# step), micro_batch, sample or token (of all processes, or per_process).
# progress:
#   - regexp: 'step [0-9]+ .* (?P<per_s>[0-9.]+) it/s'
#     unit: step

# Named variants, chosen with --profile NAME; they take the same keys as above.
# profiles:
#   a100:
#     ladder: [allocator, batch_size]
#     precision: bf16
`)
	return b.String()
}

// yamlValue writes a default as YAML that reads back to the same value.
func yamlValue(v any) string {
	switch x := v.(type) {
	case []sdk.FixID:
		return "[" + strings.ReplaceAll(format(x), ",", ", ") + "]"
	case string:
		if x == "" {
			return `""`
		}
	}
	return format(v)
}
