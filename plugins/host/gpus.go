package host

import "github.com/vramrun/vramrun/plugins/cmdline"

// JobGPUs is the GPU count the plugins get for argv (sdk.Command.GPUs):
// seen, the GPUs vramrun's NVML view gives the job, or 0 (unknown) when
// the command's processes run on other machines (cmdline.OffMachine), so
// that no plugin counts a process per GPU of the wrong machine.
func JobGPUs(argv []string, seen int) int {
	if cmdline.OffMachine(argv) {
		return 0
	}
	return seen
}
