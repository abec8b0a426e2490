package gpu

import (
	"context"
	"fmt"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
)

// XidEvent is a critical Xid error the driver reported for a GPU.
type XidEvent struct {
	Xid        uint64    `json:"xid"`
	DeviceUUID string    `json:"device_uuid"`
	Time       time.Time `json:"time"`
}

// xidWaitSlice bounds each blocking nvmlEventSetWait call, so that a
// cancelled watch returns within this long. Each slice wakes vramrun once:
// a quiet job should cost it next to nothing.
const xidWaitSlice = time.Second

// ApplicationXid reports whether an Xid is caused by the application
// (a bad memory access, a kernel fault, a reset it asked for) rather than
// by the GPU: 13, 31, 43, 45, 68 and 109, the list NVIDIA's Kubernetes
// device plugin ignores when it judges a GPU's health.
func ApplicationXid(xid uint64) bool {
	switch xid {
	case 13, 31, 43, 45, 68, 109:
		return true
	}
	return false
}

// XidMeaning says what a well-known hardware Xid means, "" for others.
func XidMeaning(xid uint64) string {
	switch xid {
	case 48:
		return "double-bit ECC error"
	case 63:
		return "ECC page retirement or row remapping recorded"
	case 64:
		return "ECC page retirement or row remapping failed"
	case 74:
		return "NVLink error"
	case 79:
		return "the GPU has fallen off the bus"
	case 92:
		return "high single-bit ECC error rate"
	case 94:
		return "contained ECC error"
	case 95:
		return "uncontained ECC error"
	case 119, 120:
		return "GPU System Processor (GSP) error"
	}
	return ""
}

// WatchXid reports critical Xid events on devs (for a MIG instance, its
// GPU) to onXid until ctx ends, leaving out the application-caused ones
// (ApplicationXid). It blocks; run it in a goroutine. It returns nil when
// ctx ends, and an error when no device can be watched or NVML's wait
// fails with something other than a timeout.
func (g *GPUs) WatchXid(ctx context.Context, devs []Device, onXid func(XidEvent)) error {
	set, ret := g.lib.EventSetCreate()
	if ret != nvml.SUCCESS {
		return fmt.Errorf("cannot watch for Xid errors: NVML event set: %v", ret)
	}
	defer set.Free()
	registered := 0
	seen := map[string]bool{}
	var lastErr nvml.Return
	for _, d := range devs {
		if d.UUID == "" {
			continue
		}
		uuid := g.physicalUUID(d.UUID)
		if d.ParentUUID != "" {
			uuid = d.ParentUUID
		}
		if seen[uuid] {
			continue
		}
		seen[uuid] = true
		h, ok := g.handle(uuid)
		if !ok {
			continue
		}
		if ret := h.RegisterEvents(nvml.EventTypeXidCriticalError, set); ret != nvml.SUCCESS {
			lastErr = ret
			continue
		}
		registered++
	}
	if registered == 0 {
		if lastErr != nvml.SUCCESS {
			return fmt.Errorf("cannot watch for Xid errors on these GPUs: %v", lastErr)
		}
		return fmt.Errorf("cannot watch for Xid errors: no GPU to watch")
	}
	for {
		data, ret := set.Wait(waitMillis(ctx))
		switch ret {
		case nvml.SUCCESS:
			if data.EventType == nvml.EventTypeXidCriticalError && !ApplicationXid(data.EventData) {
				ev := XidEvent{Xid: data.EventData, Time: time.Now()}
				if data.Device != nil {
					if uuid, ret := data.Device.GetUUID(); ret == nvml.SUCCESS {
						ev.DeviceUUID = uuid
					}
				}
				onXid(ev)
			}
		case nvml.ERROR_TIMEOUT:
		default:
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("watching for Xid errors stopped: %v", ret)
		}
		if ctx.Err() != nil {
			return nil
		}
	}
}

// waitMillis is how long the next wait may block: a slice, or less when
// ctx's deadline is nearer.
func waitMillis(ctx context.Context) uint32 {
	d := xidWaitSlice
	if deadline, ok := ctx.Deadline(); ok {
		if left := time.Until(deadline); left < d {
			d = left
		}
	}
	if d < time.Millisecond {
		return 1
	}
	return uint32(d / time.Millisecond)
}
