package gpu

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Visible returns the devices the job will see, in the job's own order,
// each with its CUDAIndex set. See ResolveVisible for the rules.
func (g *GPUs) Visible(env map[string]string) ([]Device, error) {
	all, err := g.Devices()
	if err != nil {
		return nil, err
	}
	vis, _ := ResolveVisible(all, env)
	return vis, nil
}

// ResolveVisible applies the job's CUDA_VISIBLE_DEVICES and
// CUDA_DEVICE_ORDER to all (the devices in NVML order, as Devices returns
// them) and returns the devices the job sees, in its order, with CUDAIndex
// set, plus notes for the user where what the job sees may surprise them.
//
// CUDA_VISIBLE_DEVICES, as CUDA reads it:
//   - unset: every GPU, in CUDA's order;
//   - set but empty: no GPU;
//   - a comma-separated list whose entries are indices in CUDA's order
//     ("0,2"), GPU UUIDs ("GPU-8f2c..."), or a unique prefix of one
//     ("GPU-8f2"), or MIG instance UUIDs ("MIG-..." and the older
//     "MIG-GPU-<uuid>/<gi>/<ci>"); the job sees them in the order listed;
//   - an entry that names no device (out of range, unknown or ambiguous
//     UUID, a repeat, anything else) ends the list: CUDA ignores it and
//     every entry after it. Such an entry produces a note.
//
// CUDA_DEVICE_ORDER: with PCI_BUS_ID, CUDA's order is NVML's. Otherwise CUDA
// orders FASTEST_FIRST with a heuristic of its own that NVML cannot see;
// vramrun approximates it by sorting on compute capability (highest
// first), then total memory (largest first), then NVML index. When all
// GPUs are the same model this is exactly PCI order, as it is for CUDA.
// When they differ and indices matter (the variable is unset or holds an
// index), a note says that CUDA's indices may differ from nvidia-smi's.
// After this step everything is matched by UUID.
func ResolveVisible(all []Device, env map[string]string) ([]Device, []string) {
	var notes []string
	order, orderNote := cudaOrder(all, env)
	if o := env["CUDA_DEVICE_ORDER"]; o != "" && o != "FASTEST_FIRST" && o != "PCI_BUS_ID" {
		notes = append(notes, fmt.Sprintf("CUDA_DEVICE_ORDER=%q is not one CUDA knows (FASTEST_FIRST, PCI_BUS_ID); vramrun assumes FASTEST_FIRST", o))
	}
	value, set := env["CUDA_VISIBLE_DEVICES"]
	var vis []Device
	usedIndex := false
	switch {
	case !set:
		vis = order
		usedIndex = true
	case strings.TrimSpace(value) == "":
		notes = append(notes, "CUDA_VISIBLE_DEVICES is set but empty: the job sees no GPU")
	default:
		seen := map[string]bool{}
		for pos, raw := range strings.Split(value, ",") {
			entry := strings.TrimSpace(raw)
			d, isIndex, why := resolveEntry(entry, order, all)
			if why == "" && seen[d.UUID] {
				why = "it repeats an earlier entry"
			}
			if why != "" {
				notes = append(notes, fmt.Sprintf("CUDA_VISIBLE_DEVICES entry %d (%q) names no GPU here (%s); CUDA ignores it and every entry after it", pos+1, entry, why))
				break
			}
			usedIndex = usedIndex || isIndex
			seen[d.UUID] = true
			vis = append(vis, d)
		}
	}
	for i := range vis {
		vis[i].CUDAIndex = i
		if vis[i].MIG && vis[i].ParentUUID == "" {
			notes = append(notes, MIGVisibilityNote(vis[i]))
		}
	}
	if usedIndex && orderNote != "" {
		notes = append(notes, orderNote)
	}
	return vis, notes
}

// MIGVisibilityNote is ResolveVisible's note for a whole GPU in MIG mode
// that the job sees: the job gets one instance, not the GPU.
func MIGVisibilityNote(d Device) string {
	return fmt.Sprintf("%s is in MIG mode: the job runs on one of its MIG instances, not the whole GPU; name the instance in CUDA_VISIBLE_DEVICES (MIG-...) so that memory figures are the instance's", d.Label())
}

// cudaOrder returns copies of all in CUDA's enumeration order, and a note
// when that order is a guess that may not match NVML's.
func cudaOrder(all []Device, env map[string]string) ([]Device, string) {
	order := append([]Device(nil), all...)
	if env["CUDA_DEVICE_ORDER"] == "PCI_BUS_ID" || !modelsDiffer(all) {
		return order, ""
	}
	sort.SliceStable(order, func(i, j int) bool {
		a, b := order[i], order[j]
		if a.ComputeMajor != b.ComputeMajor {
			return a.ComputeMajor > b.ComputeMajor
		}
		if a.ComputeMinor != b.ComputeMinor {
			return a.ComputeMinor > b.ComputeMinor
		}
		if a.MemoryTotal != b.MemoryTotal {
			return a.MemoryTotal > b.MemoryTotal
		}
		return a.Index < b.Index
	})
	return order, "the GPUs differ in model and CUDA_DEVICE_ORDER is not PCI_BUS_ID: CUDA numbers the fastest first, which vramrun approximates by compute capability, then memory, so CUDA's device indices may not match nvidia-smi's; set CUDA_DEVICE_ORDER=PCI_BUS_ID to make them agree"
}

func modelsDiffer(all []Device) bool {
	for _, d := range all[min(1, len(all)):] {
		a := all[0]
		if d.Name != a.Name || d.ComputeMajor != a.ComputeMajor || d.ComputeMinor != a.ComputeMinor || d.MemoryTotal != a.MemoryTotal {
			return true
		}
	}
	return false
}

// resolveEntry finds the device one CUDA_VISIBLE_DEVICES entry names.
// order is CUDA's order (for indices), all NVML's (for UUIDs). why is
// non-empty when the entry names nothing.
func resolveEntry(entry string, order, all []Device) (d Device, isIndex bool, why string) {
	if entry == "" {
		return Device{}, false, "empty entry"
	}
	if n, err := strconv.Atoi(entry); err == nil {
		if n < 0 || n >= len(order) {
			return Device{}, true, fmt.Sprintf("there are %d GPUs", len(order))
		}
		if order[n].UUID == "" {
			return Device{}, true, "NVML cannot read that GPU"
		}
		return order[n], true, ""
	}
	lower := strings.ToLower(entry)
	switch {
	case strings.HasPrefix(lower, "mig-gpu-"):
		return resolveLegacyMIG(lower, all)
	case strings.HasPrefix(lower, "mig-"):
		return resolveUUIDPrefix(lower, migDevices(all))
	case strings.HasPrefix(lower, "gpu-"):
		return resolveUUIDPrefix(lower, all)
	}
	return Device{}, false, "not an index, GPU-... or MIG-... UUID"
}

// resolveUUIDPrefix matches a UUID or a unique prefix of one, as CUDA does.
func resolveUUIDPrefix(prefix string, devs []Device) (Device, bool, string) {
	if len(prefix) <= len("gpu-") {
		return Device{}, false, "UUID prefix too short"
	}
	var found []Device
	for _, d := range devs {
		u := strings.ToLower(d.UUID)
		if u == prefix {
			return d, false, ""
		}
		if u != "" && strings.HasPrefix(u, prefix) {
			found = append(found, d)
		}
	}
	switch len(found) {
	case 0:
		return Device{}, false, "no GPU has that UUID"
	case 1:
		return found[0], false, ""
	default:
		return Device{}, false, fmt.Sprintf("the prefix matches %d GPUs", len(found))
	}
}

// resolveLegacyMIG handles "MIG-GPU-<gpu uuid>/<gi>/<ci>" (drivers before
// R470 named MIG devices this way).
func resolveLegacyMIG(entry string, all []Device) (Device, bool, string) {
	parts := strings.Split(strings.TrimPrefix(entry, "mig-"), "/")
	if len(parts) != 3 {
		return Device{}, false, "expected MIG-GPU-<uuid>/<gpu instance>/<compute instance>"
	}
	gi, err1 := strconv.Atoi(parts[1])
	ci, err2 := strconv.Atoi(parts[2])
	if err1 != nil || err2 != nil {
		return Device{}, false, "instance ids are not numbers"
	}
	for _, parent := range all {
		if strings.ToLower(parent.UUID) != parts[0] {
			continue
		}
		for _, m := range parent.MIGInstances {
			if m.GPUInstance == gi && m.ComputeInstance == ci {
				return migDevice(parent, m), false, ""
			}
		}
		return Device{}, false, "that GPU has no such MIG instance"
	}
	return Device{}, false, "no GPU has that UUID"
}

// migDevices lists every MIG instance of all as a Device.
func migDevices(all []Device) []Device {
	var out []Device
	for _, parent := range all {
		for _, m := range parent.MIGInstances {
			out = append(out, migDevice(parent, m))
		}
	}
	return out
}

// migDevice describes a MIG instance as the Device a job sees.
func migDevice(parent Device, m MIGInstance) Device {
	d := parent
	d.UUID = m.UUID
	d.ParentUUID = parent.UUID
	d.MemoryTotal, d.MemoryUsed = m.MemoryTotal, m.MemoryUsed
	d.MemoryFree = 0
	if m.MemoryTotal > m.MemoryUsed {
		d.MemoryFree = m.MemoryTotal - m.MemoryUsed
	}
	d.Processes = append([]Process(nil), m.Processes...)
	d.Utilization = -1
	d.MIG = true
	d.MIGInstances = nil
	return d
}
