package gpu

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/vramrun/vramrun/launcher/human"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
)

// Preflight is what stands in the job's way before an attempt starts.
type Preflight struct {
	// Others are other processes holding memory on the job's GPUs.
	Others []Process
	// Stale are processes of an earlier attempt of this run that still
	// hold memory: vramrun should have ended them, so this is its bug.
	Stale []Process
	// FreerGPU is another visible GPU with clearly more free memory, when
	// the job runs on one GPU that other processes make busy.
	FreerGPU *Device
	// Messages say all of the above in sentences, the stale ones first.
	Messages []string
}

// Preflight re-reads the memory and processes of the job's devices (the
// snapshot given may be from an earlier attempt) and of all (the visible
// devices), then names who holds memory the job may need. Processes of
// earlierAttemptPIDs are reported as Stale, the rest as Others.
func (g *GPUs) Preflight(job []Device, all []Device, earlierAttemptPIDs []int) Preflight {
	var pf Preflight
	earlier := map[int]bool{}
	for _, p := range earlierAttemptPIDs {
		earlier[p] = true
	}
	jobUUIDs := map[string]bool{}
	fresh := make([]Device, len(job))
	for i, d := range job {
		fresh[i] = g.refresh(d)
		jobUUIDs[d.UUID] = true
		jobUUIDs[d.ParentUUID] = true
	}
	for _, d := range fresh {
		var others []Process
		for _, p := range d.Processes {
			if earlier[p.PID] {
				pf.Stale = append(pf.Stale, p)
				pf.Messages = append(pf.Messages, fmt.Sprintf(
					"vramrun bug: %s from an earlier attempt of this run still holds %s on %s; vramrun should have ended it, please report this (end it yourself with: kill %d)",
					p.Label(), usedText(p), d.Label(), p.PID))
				continue
			}
			others = append(others, p)
		}
		if len(others) > 0 {
			pf.Others = append(pf.Others, others...)
			pf.Messages = append(pf.Messages, fmt.Sprintf("%s: %s", d.Label(), DescribeHolders(others)))
		}
	}
	if len(fresh) == 1 && len(pf.Others) > 0 {
		busy := fresh[0]
		var best *Device
		for _, d := range all {
			if jobUUIDs[d.UUID] || !pickable(d) || (d.ParentUUID != "" && jobUUIDs[d.ParentUUID]) {
				continue
			}
			d = g.refresh(d)
			if clearlyFreer(d, busy) && (best == nil || d.MemoryFree > best.MemoryFree) {
				c := d
				best = &c
			}
		}
		if best != nil {
			pf.FreerGPU = best
			pf.Messages = append(pf.Messages, fmt.Sprintf("%s has %s free against %s on %s; --pick-gpu runs the job on the freest GPU",
				best.Label(), human.Bytes(int64(best.MemoryFree)), human.Bytes(int64(busy.MemoryFree)), busy.Label()))
		}
	}
	return pf
}

// clearlyFreer reports whether d has at least a tenth of busy's capacity
// and a quarter more than busy has free: a move worth suggesting.
func clearlyFreer(d, busy Device) bool {
	return d.MemoryFree > busy.MemoryFree+busy.MemoryTotal/10 && d.MemoryFree >= busy.MemoryFree+busy.MemoryFree/4
}

// DescribeHolders says who holds memory: "2 other processes hold 11.0 GiB:
// pid 4242 (python) 10.0 GiB, pid 4243 (jupyter) 1.0 GiB".
func DescribeHolders(ps []Process) string {
	var total uint64
	parts := make([]string, 0, len(ps))
	for _, p := range ps {
		total += p.UsedBytes
		parts = append(parts, p.Label()+" "+usedText(p))
	}
	who := "1 other process holds"
	if len(ps) > 1 {
		who = fmt.Sprintf("%d other processes hold", len(ps))
	}
	return fmt.Sprintf("%s %s: %s", who, human.Bytes(int64(total)), strings.Join(parts, ", "))
}

func usedText(p Process) string {
	if !p.UsedKnown {
		return "an unknown amount"
	}
	return human.Bytes(int64(p.UsedBytes))
}

// refresh re-reads a device's memory and processes; on failure the snapshot
// is kept.
func (g *GPUs) refresh(d Device) Device {
	if d.UUID == "" {
		return d
	}
	h, ok := g.handle(d.UUID)
	if !ok {
		return d
	}
	if mem, ret := h.GetMemoryInfo(); ret == nvml.SUCCESS {
		d.MemoryTotal, d.MemoryUsed, d.MemoryFree = mem.Total, mem.Used, mem.Free
	}
	procDir := g.procDirectory()
	procs, ok := listProcesses(h, procDir)
	if !ok {
		return d
	}
	for _, m := range d.MIGInstances {
		if mh, ok := g.handle(m.UUID); ok {
			procs = mergeProcesses(procs, readProcesses(mh, procDir))
		}
	}
	d.Processes = procs
	return d
}

// PickFreest returns, for --pick-gpu, the device with the most free memory
// (the first of equals). The launcher then sets CUDA_VISIBLE_DEVICES to its
// UUID. A whole GPU in MIG mode (a job cannot have all of it) and a GPU
// NVML cannot read are picked only when nothing else is left. For an empty
// list it returns a Device with Index and CUDAIndex -1.
func PickFreest(devs []Device) Device {
	if len(devs) == 0 {
		return Device{Index: -1, CUDAIndex: -1, Utilization: -1}
	}
	var best *Device
	for i := range devs {
		if pickable(devs[i]) && (best == nil || devs[i].MemoryFree > best.MemoryFree) {
			best = &devs[i]
		}
	}
	if best == nil {
		return devs[0]
	}
	return *best
}

// pickable reports whether a job could be moved onto d alone.
func pickable(d Device) bool {
	return d.UUID != "" && d.Problem == "" && !(d.MIG && d.ParentUUID == "")
}

// WaitFree waits, for --wait-free, until no process holds memory on devs,
// checking at once and then on every tick (nil: every poll). waiting, when
// not nil, is told who still holds memory after each check that finds
// some. It returns nil once the memory is free, or an error naming the
// holders when ctx ends first (give ctx the --wait-free deadline).
func (g *GPUs) WaitFree(ctx context.Context, devs []Device, poll time.Duration, tick <-chan time.Time, waiting func(held []Process)) error {
	if tick == nil {
		if poll <= 0 {
			poll = time.Second
		}
		t := time.NewTicker(poll)
		defer t.Stop()
		tick = t.C
	}
	for {
		held, desc := g.holders(devs)
		if len(held) == 0 {
			return nil
		}
		if waiting != nil {
			waiting(held)
		}
		select {
		case <-ctx.Done():
			return &StillHeldError{Holders: desc, Err: ctx.Err()}
		case <-tick:
		}
	}
}

// StillHeldError is WaitFree's error when its context ends first: it names
// the holders, and unwraps to the context's error (which its message leaves
// out: "context deadline exceeded" tells a user nothing).
type StillHeldError struct {
	Holders string
	Err     error
}

func (e *StillHeldError) Error() string {
	return "GPU memory still held by other processes after waiting: " + e.Holders
}

func (e *StillHeldError) Unwrap() error { return e.Err }

// holders lists the processes holding memory on devs now, and says so in
// a sentence.
func (g *GPUs) holders(devs []Device) ([]Process, string) {
	var held []Process
	var parts []string
	for _, d := range devs {
		d = g.refresh(d)
		var on []Process
		for _, p := range d.Processes {
			if p.UsedBytes > 0 || !p.UsedKnown {
				on = append(on, p)
			}
		}
		if len(on) > 0 {
			held = append(held, on...)
			parts = append(parts, d.Label()+": "+DescribeHolders(on))
		}
	}
	return held, strings.Join(parts, "; ")
}
