package sdk

import (
	"fmt"
	"regexp/syntax"
	"slices"
	"strings"
)

// ProgressUnit is what one unit of a progress reading is.
type ProgressUnit string

// The units. A step and a micro-batch are those of one process, which all
// processes take together: vramrun turns them into samples with the
// command's micro-batch, accumulation and world size. Samples and tokens
// count all processes unless the pattern says PerProcess.
const (
	UnitStep       ProgressUnit = "step"
	UnitMicroBatch ProgressUnit = "micro_batch"
	UnitSample     ProgressUnit = "sample"
	UnitToken      ProgressUnit = "token"
)

// ProgressUnits are the units a ProgressPattern may name.
func ProgressUnits() []ProgressUnit {
	return []ProgressUnit{UnitStep, UnitMicroBatch, UnitSample, UnitToken}
}

// ProgressPattern declares one line with which a runtime says how fast it
// trains: a tqdm bar's "4.50it/s", nanoGPT's "time 312.5ms", DeepSpeed's
// "CurrSamplesPerSec=...". Plugins declare these as data, as they do OOM
// texts; vramrun reads each attempt's speed with them.
//
// Regexp is RE2, matched against one line ("\r" redraws are lines); it has
// exactly one of the groups per_s (units a second), s_per (seconds a unit)
// or ms_per (milliseconds a unit). Where a line says "s/it" or "it/s"
// depending on the rate, declare two patterns. An optional group named
// ProgressKeyGroup ("of") tells apart lines of one format that count
// different things, such as a tqdm bar's total (a training bar of 200
// steps, an evaluation bar of 50 batches): readings are kept per value,
// and the value with the most readings is the attempt's.
type ProgressPattern struct {
	// ID is a stable name, "<framework>.<name>", e.g. "transformers.tqdm".
	ID     string       `json:"id"`
	Regexp string       `json:"regexp"`
	Unit   ProgressUnit `json:"unit"`
	// PerProcess says a sample or token figure counts one process's, so
	// vramrun multiplies it by the world size.
	PerProcess bool `json:"per_process,omitempty"`
	// Summary marks a figure over the whole run, warm-up included (HF's
	// final train_samples_per_second): used only when no other reading came.
	Summary bool `json:"summary,omitempty"`
}

// ProgressKeyGroup is the optional group that keeps readings apart.
const ProgressKeyGroup = "of"

// ProgressGroups are the groups a ProgressPattern uses, one of them each.
func ProgressGroups() []string { return []string{"per_s", "s_per", "ms_per"} }

// Validate checks the expression is RE2 with exactly one of the groups
// ProgressGroups lists, and the unit is one of ProgressUnits.
func (p ProgressPattern) Validate() error {
	if p.ID == "" {
		return fmt.Errorf("progress pattern without an id")
	}
	if !slices.Contains(ProgressUnits(), p.Unit) {
		return fmt.Errorf("progress pattern %s: unit %q is not one of %s", p.ID, p.Unit, joinUnits())
	}
	re, err := syntax.Parse(p.Regexp, syntax.Perl)
	if err != nil {
		return fmt.Errorf("progress pattern %s: %v", p.ID, err)
	}
	found := 0
	for _, name := range re.CapNames()[1:] {
		if slices.Contains(ProgressGroups(), name) {
			found++
		}
	}
	if found != 1 {
		return fmt.Errorf("progress pattern %s: needs exactly one group named %s", p.ID, strings.Join(ProgressGroups(), ", "))
	}
	return nil
}

func joinUnits() string {
	var s []string
	for _, u := range ProgressUnits() {
		s = append(s, string(u))
	}
	return strings.Join(s, ", ")
}
