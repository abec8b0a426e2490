package torchtune

import (
	"strings"

	"github.com/vramrun/vramrun/sdk"
)

// diskLogger is the metric logger a trial swaps a logging service's for:
// it writes under its log_dir, and takes any other logger's keys (its
// **kwargs), so a WandBLogger's project and entity can stay.
const diskLogger = "torchtune.training.metric_logging.DiskLogger"

// trial makes a tune run command one of `vramrun tune`'s short trials,
// by overrides: output_dir (which the shipped configs' checkpointer,
// metric logger and profiler interpolate) and the checkpointer's own
// output_dir are the scratch folder, the metric logger writes there or to
// stdout, validation is off and the run does not resume. torchtune has no
// hub upload and no key that stops the recipes' checkpoint at each
// epoch's end: a trial that gets that far writes it to the scratch folder.
func (c *command) trial(fix sdk.Fix, set func(key, value string)) error {
	if c.err != nil {
		return sdk.Unsupported(fix.ID, "%s", c.err.Error())
	}
	if c.customRecipe() {
		return sdk.Unsupported(fix.ID, "%s is a custom recipe, so where it writes is its own: point its output_dir, checkpointer and metric logger at a scratch folder and pass --trust-trials", c.recipe)
	}
	v := c.vals
	scratch := fix.Scratch
	set("output_dir", scratch)
	// A registry config not read: what it interpolates is not known.
	if v["checkpointer.output_dir"] != "${output_dir}" {
		set("checkpointer.output_dir", scratch)
	}
	c.trialLogger(set, scratch)
	if s := v["run_val_every_n_steps"]; s != "" && s != "null" && s != "~" {
		set("run_val_every_n_steps", "null")
	}
	// Resuming reads the recipe state from the checkpointer's output_dir,
	// which is now the empty scratch folder.
	if v.On("resume_from_checkpoint") {
		set("resume_from_checkpoint", "False")
	}
	if v.On("profiler.enabled") && !underOutputDir(v["profiler.output_dir"]) {
		set("profiler.output_dir", scratch+"/profiling_outputs")
	}
	return nil
}

// trialLogger points the metric logger at the scratch folder. StdoutLogger
// writes nothing (and its lines are the trial's speed readings);
// DiskLogger and TensorBoardLogger write under log_dir; any other
// (WandBLogger, CometLogger, MLFlowLogger, a component of the user's, or
// that of a registry config not read) becomes DiskLogger.
func (c *command) trialLogger(set func(key, value string), scratch string) {
	v := c.vals
	key := "metric_logger._component_"
	if p := v["metric_logger"]; p != "" && p != "{}" {
		// An override that assigns the parent swaps the component: it
		// is the one to edit.
		key = "metric_logger"
	}
	component := v[key]
	switch component[strings.LastIndex(component, ".")+1:] {
	case "StdoutLogger":
		return
	case "DiskLogger", "TensorBoardLogger":
	default:
		set(key, diskLogger)
	}
	if !underOutputDir(v["metric_logger.log_dir"]) {
		set("metric_logger.log_dir", scratch+"/logs")
	}
}

// underOutputDir says a path interpolates output_dir, which the trial
// moves.
func underOutputDir(path string) bool { return strings.HasPrefix(path, "${output_dir}") }

// customRecipe says the recipe is the user's: a file (tune run my.py) or
// a module path, which torchtune runs instead of one of its own. The
// keys a trial sets are its recipes'.
func (c *command) customRecipe() bool {
	return strings.HasSuffix(c.recipe, ".py") || strings.Contains(c.recipe, ".")
}
