package doctor

import (
	"bufio"
	"fmt"
	"io"
	"strings"

	"github.com/vramrun/vramrun/launcher/human"
)

// WriteText writes the report for a person: one screen of plain sentences,
// the problems last so that they stay in view.
func (r Report) WriteText(w io.Writer) error {
	b := bufio.NewWriter(w)
	if r.NVML.Available {
		fmt.Fprintf(b, "NVIDIA driver %s\n", orUnknown(r.NVML.Driver))
	} else {
		fmt.Fprintf(b, "NVML: not available\n")
	}
	for _, g := range r.GPUs {
		fmt.Fprintf(b, "GPU %d  %s  %s\n", g.Index, orUnknown(g.Name), g.UUID)
		fmt.Fprintf(b, "       %s of %s used", human.Bytes(int64(g.MemoryUsedBytes)), human.Bytes(int64(g.MemoryTotalBytes)))
		if g.ComputeCapability != "" {
			fmt.Fprintf(b, ", compute %s", g.ComputeCapability)
			if g.BF16 {
				b.WriteString(" (bf16)")
			}
		}
		if u := g.Health.UtilizationPercent; u != nil {
			fmt.Fprintf(b, ", %d%% busy", *u)
		}
		if g.CUDAIndex >= 0 {
			fmt.Fprintf(b, ", the job's device %d", g.CUDAIndex)
		} else {
			b.WriteString(", hidden from the job")
		}
		b.WriteString("\n")
		for _, p := range g.Processes {
			used := "unknown amount"
			if p.UsedKnown {
				used = human.Bytes(int64(p.UsedBytes))
			}
			fmt.Fprintf(b, "       %s %s\n", p.Label(), used)
		}
	}
	b.WriteString(r.pythonLine() + "\n")
	writeFindings(b, "Notes", r.Notes)
	if len(r.Problems) == 0 {
		b.WriteString("No problems found.\n")
	} else {
		writeFindings(b, "Problems", r.Problems)
	}
	return b.Flush()
}

func (r Report) pythonLine() string {
	p := r.Python
	if !p.Available {
		return "Python: not checked"
	}
	parts := make([]string, 0, len(p.Packages))
	for _, spec := range pythonPackages() {
		info := p.Packages[spec.Name]
		switch {
		case !info.Installed:
			parts = append(parts, spec.Name+" absent")
		case info.Error != "":
			parts = append(parts, spec.Name+" broken")
		case info.CUDAAvailable != nil:
			cuda := "no CUDA"
			if *info.CUDAAvailable {
				cuda = "CUDA " + orUnknown(info.CUDAVersion)
			}
			parts = append(parts, fmt.Sprintf("%s %s (%s)", spec.Name, orUnknown(info.Version), cuda))
		default:
			parts = append(parts, fmt.Sprintf("%s %s", spec.Name, orUnknown(info.Version)))
		}
	}
	return fmt.Sprintf("Python %s (%s): %s", p.Version, p.Executable, strings.Join(parts, ", "))
}

func writeFindings(b *bufio.Writer, title string, fs []Finding) {
	if len(fs) == 0 {
		return
	}
	fmt.Fprintf(b, "%s:\n", title)
	for _, f := range fs {
		tag := ""
		if f.Hardware {
			tag = "[hardware] "
		}
		fmt.Fprintf(b, "  - %s%s\n", tag, f.Text)
		if f.Advice != "" {
			fmt.Fprintf(b, "    %s\n", f.Advice)
		}
	}
}
