package main

import (
	"fmt"

	"github.com/NVIDIA/go-nvml/pkg/nvml"

	"github.com/vramrun/vramrun/launcher/gpu"
)

// nvmlLibrary is the NVML vramrun talks to: the driver's library, another
// copy of it named by VRAMRUN_NVML_LIBRARY, or the built-in simulated GPU
// when VRAMRUN_SIMGPU is set (the demo and the tests).
func nvmlLibrary(env map[string]string) nvml.Interface {
	if dir, ok := env["VRAMRUN_SIMGPU"]; ok {
		return gpu.Simulated(dir, env)
	}
	if path := env["VRAMRUN_NVML_LIBRARY"]; path != "" {
		return nvml.New(nvml.WithLibraryPath(path))
	}
	return nil
}

// openGPU opens NVML for a run. Without it vramrun works from the job's
// output alone, after one line saying why.
func (s *session) openGPU(verbosity int) *gpu.GPUs {
	g, err := gpu.Open(nvmlLibrary(s.env))
	if err != nil {
		if verbosity >= 0 {
			fmt.Fprintf(s.stderr, "vramrun: %v; working from the job's output alone\n", err)
		}
		return nil
	}
	return g
}
