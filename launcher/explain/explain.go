// Package explain diagnoses an OOM log for `vramrun explain`: the diagnosis
// engine's answer, with what vramrun would try next, as JSON or in words.
package explain

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/vramrun/vramrun/launcher/human"
	"github.com/vramrun/vramrun/launcher/oom"
	"github.com/vramrun/vramrun/launcher/plan"
	"github.com/vramrun/vramrun/plugins/host"
	"github.com/vramrun/vramrun/profiles"
	"github.com/vramrun/vramrun/sdk"
)

// Explain diagnoses an OOM log and fills in what vramrun would try next.
func Explain(plugins *host.Set, settings profiles.Settings, log io.Reader) (oom.Diagnosis, error) {
	m, err := oom.Compile(plugins.Patterns(), plugins.Frames())
	if err != nil {
		return oom.Diagnosis{}, err
	}
	d, err := oom.Diagnose(m, log, oom.Ending{}, "")
	if err != nil {
		return oom.Diagnosis{}, err
	}
	d.NextFixes = plan.NextFixes(plan.FromSettings(settings, nil), d)
	return d, nil
}

// WriteJSON writes the explain --json object: the oom.Diagnosis.
func WriteJSON(w io.Writer, d oom.Diagnosis) error {
	if d.OtherProcesses == nil {
		d.OtherProcesses = []oom.ProcessUsage{}
	}
	if d.NextFixes == nil {
		d.NextFixes = []sdk.FixID{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(d)
}

// WriteText explains a diagnosis in plain words.
func WriteText(w io.Writer, d oom.Diagnosis) error {
	var b strings.Builder
	switch {
	case !d.OOM:
		b.WriteString("No out-of-memory error found in this log.\n")
		_, err := io.WriteString(w, b.String())
		return err
	case d.Kind == sdk.KindHost:
		b.WriteString("The job ran out of host memory (RAM), not GPU memory.\n")
	default:
		where := ""
		switch d.Phase {
		case sdk.PhaseTrain:
			where = " during training"
		case sdk.PhaseEval:
			where = " during evaluation"
		}
		fmt.Fprintf(&b, "The job ran out of GPU memory%s.\n", where)
	}
	fmt.Fprintf(&b, "  runtime:          %s (%s)\n", human.Printable(d.Framework), human.Printable(d.Signature))
	if d.Device != nil {
		fmt.Fprintf(&b, "  device:           %d\n", *d.Device)
	}
	row := func(label string, v *int64, extra string) {
		if v != nil {
			fmt.Fprintf(&b, "  %-17s %s%s\n", label+":", human.Bytes(*v), extra)
		}
	}
	row("asked for", d.TriedBytes, "")
	row("GPU capacity", d.CapacityBytes, "")
	row("free", d.FreeBytes, "")
	row("allocated", d.AllocatedBytes, "")
	frag := ""
	if d.Fragmented {
		frag = " (fragmentation: the allocator settings fix helps)"
	}
	row("held unused", d.ReservedUnallocatedBytes, frag)
	row("allowed", d.AllowedBytes, " (a memory fraction is set)")
	for _, p := range d.OtherProcesses {
		fmt.Fprintf(&b, "  other process:    pid %d holds %s\n", p.PID, human.Bytes(p.UsedBytes))
	}
	fmt.Fprintf(&b, "  message:          %s\n", human.Printable(firstLine(d.Message)))
	switch {
	case d.Kind == sdk.KindHost:
		b.WriteString("What to do: use fewer data-loader workers and no CPU offload; vramrun applies no GPU fix for this.\n")
	case len(d.NextFixes) > 0:
		fixes := make([]string, len(d.NextFixes))
		for i, f := range d.NextFixes {
			fixes[i] = string(f)
		}
		fmt.Fprintf(&b, "What vramrun would try next, in order: %s\n", strings.Join(fixes, ", "))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " ..."
	}
	return s
}
