package torchtune

import (
	"slices"
	"strings"

	"github.com/vramrun/vramrun/sdk"
)

// constructorRejection is Python's error for a keyword argument a class
// does not take, naming the class: a component the fix swapped in (the
// 8-bit optimizer) that a config the plugin could not read (a registry
// name the job's Python showed no installed file for) gives an argument
// of the old one's. vramrun then takes the fix back.
var constructorRejection = sdk.RejectionPattern{ID: Name + ".unexpected_keyword",
	Regexp: `TypeError: (?P<name>[A-Za-z_][\w.]*)\.__init__\(\) got an unexpected keyword argument '`}

// pagedAdamW8bit is the optimizer the 8-bit fix swaps in, and
// pagedAdamW8bitArgs the keyword arguments its constructor takes
// (bitsandbytes/optim/adamw.py: PagedAdamW8bit.__init__, no **kwargs).
// torchtune's config.instantiate passes every key under optimizer:, so a
// key of torch.optim.AdamW's the shipped configs set (fused: True in the
// LoRA and distributed full-finetune configs; foreach, capturable and the
// like) makes the swapped-in class fail with "got an unexpected keyword
// argument" before the first step.
const pagedAdamW8bit = "bitsandbytes.optim.PagedAdamW8bit"

var pagedAdamW8bitArgs = []string{"lr", "betas", "eps", "weight_decay", "amsgrad", "optim_bits", "args",
	"min_8bit_size", "percentile_clipping", "block_wise"}

// foreignOptimizerArgs are the optimizer's arguments, as the command
// merges them, that PagedAdamW8bit does not take ("optimizer.fused"),
// sorted.
func (c *command) foreignOptimizerArgs() []string {
	var out []string
	for key := range c.vals {
		name, ok := strings.CutPrefix(key, "optimizer.")
		if !ok {
			continue
		}
		name, _, _ = strings.Cut(name, ".")
		if name != "_component_" && !slices.Contains(pagedAdamW8bitArgs, name) && !slices.Contains(out, "optimizer."+name) {
			out = append(out, "optimizer."+name)
		}
	}
	slices.Sort(out)
	return out
}

// drop returns args without key, as torchtune merges them: the overrides
// of key (or of a key under it) after the recipe go, and ~key is added
// when the config file sets it (torchtune removes a key from the file's
// values before it merges the overrides, and refuses ~ of a key the file
// does not have).
func (c *command) drop(args []string, key string) []string {
	out := append([]string(nil), args[:c.recipeAt+1]...)
	for _, a := range args[c.recipeAt+1:] {
		k, _, eq := strings.Cut(a, "=")
		if eq && !strings.HasPrefix(a, "-") && (k == key || strings.HasPrefix(k, key+".")) {
			continue
		}
		out = append(out, a)
	}
	if c.fileHas(key) && !slices.Contains(out, "~"+key) {
		out = append(out, "~"+key)
	}
	return out
}

// fileHas says the config file sets key or a key under it.
func (c *command) fileHas(key string) bool {
	for k := range c.file {
		if k == key || strings.HasPrefix(k, key+".") {
			return true
		}
	}
	return false
}
