package doctor

import (
	"fmt"
	"strings"

	"github.com/vramrun/vramrun/launcher/human"

	"github.com/vramrun/vramrun/launcher/gpu"
)

// noSoftwareFix ends the advice of every hardware finding.
const noSoftwareFix = "No software fix (smaller batch, other precision, vramrun) can help."

// gpuFindings turns one GPU's state into problems and notes.
func (r *Report) gpuFindings(d gpu.Device, h gpu.Health) {
	label := d.Label()
	if d.Problem != "" {
		r.problem(d.Problem+".", "The GPU does not answer. Reset it (nvidia-smi -r) or reboot; if it happens again, have the hardware checked. "+noSoftwareFix, true)
		return
	}
	if volatile, aggregate := h.ECC.Uncorrected(); volatile > 0 {
		r.problem(fmt.Sprintf("%s has had %d uncorrectable ECC memory errors since the driver was loaded.", label, volatile),
			"Its memory is failing: stop using this GPU, reset it, and have it checked if the errors return. "+noSoftwareFix, true)
	} else if aggregate > 0 {
		r.note(fmt.Sprintf("%s has had %d uncorrectable ECC memory errors in its life, none since the driver was loaded.", label, aggregate),
			"Nothing to do now; if jobs crash or produce NaNs on this GPU only, have it checked.")
	}
	if rp := h.RetiredPages; rp != nil && rp.Pending {
		r.problem(fmt.Sprintf("%s has memory pages waiting to be retired (%d retired for double-bit, %d for repeated single-bit ECC errors so far).", label, rp.DoubleBit, rp.MultipleSingleBit),
			"Reset the GPU or reboot so that the bad pages are retired; until then jobs may use them. "+noSoftwareFix, true)
	}
	if rr := h.RemappedRows; rr != nil {
		switch {
		case rr.Failure:
			r.problem(fmt.Sprintf("%s failed to remap a faulty memory row: it has no spare rows left.", label),
				"Have the GPU replaced. "+noSoftwareFix, true)
		case rr.Pending:
			r.problem(fmt.Sprintf("%s has faulty memory rows waiting to be remapped.", label),
				"Reset the GPU (nvidia-smi -r) or reboot to apply the remapping. "+noSoftwareFix, true)
		}
	}
	for _, x := range h.XidEvents {
		what := gpu.XidMeaning(x.Xid)
		if what == "" {
			what = "a critical error"
		}
		r.problem(fmt.Sprintf("%s reported Xid %d (%s) at %s.", label, x.Xid, what, x.Time.Format("15:04:05")),
			"The driver saw a GPU fault that the job did not cause. Check the kernel log (dmesg | grep -i xid); reset the GPU or reboot, and have it checked if it repeats. "+noSoftwareFix, true)
	}
	if len(d.Processes) > 0 {
		r.note(fmt.Sprintf("%s: %s.", label, gpu.DescribeHolders(d.Processes)),
			"That memory is not available to your job. End those processes if they are yours, or run with --wait-free or --pick-gpu.")
	}
	if d.MIG {
		parts := make([]string, 0, len(d.MIGInstances))
		for _, m := range d.MIGInstances {
			parts = append(parts, fmt.Sprintf("%s (%s, %s used)", m.UUID, human.Bytes(int64(m.MemoryTotal)), human.Bytes(int64(m.MemoryUsed))))
		}
		text := fmt.Sprintf("%s is in MIG mode with %d instance", label, len(d.MIGInstances))
		if len(d.MIGInstances) != 1 {
			text += "s"
		}
		if len(parts) > 0 {
			text += ": " + strings.Join(parts, ", ")
		}
		r.note(text+".", "A job runs on one instance and has only its memory; choose it with CUDA_VISIBLE_DEVICES=MIG-<uuid>.")
	}
}

// pythonFindings turns the Python probe into notes.
func (r *Report) pythonFindings() {
	p := r.Python
	if !p.Available {
		r.note(sentence(p.Error), "Pass --python with the interpreter your job uses, or activate its environment before running vramrun doctor.")
		return
	}
	var missing []string
	for _, spec := range pythonPackages() {
		info, ok := p.Packages[spec.Name]
		switch {
		case !ok || !info.Installed:
			missing = append(missing, spec.Name)
		case info.Error != "":
			r.note(fmt.Sprintf("%s is installed in the job's Python but does not import: %s.", spec.Name, info.Error),
				"Fixes that need it are not used. Reinstall it in the job's environment.")
		case info.CUDAAvailable != nil && !*info.CUDAAvailable && r.NVML.Available && len(r.GPUs) > 0:
			r.note(fmt.Sprintf("%s %s is installed but cannot use the GPU (CUDA %s).", spec.Name, info.Version, orUnknown(info.CUDAVersion)),
				"It is a CPU-only build, or built for a CUDA newer than the driver supports: install a build that matches the driver.")
		}
	}
	if len(missing) > 0 {
		r.note(fmt.Sprintf("The job's Python (%s, %s) does not have %s.", p.Version, p.Executable, strings.Join(missing, ", ")),
			"Only the ones your job uses matter. If it uses one of them, --python should name the interpreter that has it.")
	}
}

// sentence capitalises s and ends it with a full stop.
func sentence(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return s
	}
	s = strings.ToUpper(s[:1]) + s[1:]
	if !strings.HasSuffix(s, ".") {
		s += "."
	}
	return s
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
