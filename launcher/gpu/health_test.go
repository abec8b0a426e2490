package gpu

import (
	"testing"

	"github.com/vramrun/vramrun/launcher/gpu/gputest"
)

func TestHealthReadsCounters(t *testing.T) {
	gpu0 := a100("GPU-aaaa", 0)
	gpu0.ECC = &gputest.ECC{VolatileCorrected: 5, VolatileUncorrected: 2, AggregateCorrected: 50, AggregateUncorrected: 3}
	gpu0.RetiredSingleBit = []uint64{0x1000}
	gpu0.RetiredDoubleBit = []uint64{0x2000, 0x3000}
	gpu0.PendingRetirement = true
	gpu0.RemapCorrected, gpu0.RemapUncorrected, gpu0.RemapPending, gpu0.RemapFailure = 1, 2, true, true
	healthy := a100("GPU-bbbb", 0)
	healthy.RetiredPagesUnsupported, healthy.RemapUnsupported = true, true
	g := openFake(t, gputest.New("550", gpu0, healthy), nil)
	devs := devicesOf(t, g)

	h := g.Health(devs[0])
	if v, a := h.ECC.Uncorrected(); v != 2 || a != 3 || *h.ECC.VolatileCorrected != 5 || *h.ECC.AggregateCorrected != 50 {
		t.Errorf("ECC = %+v", h.ECC)
	}
	if h.RetiredPages == nil || *h.RetiredPages != (RetiredPages{MultipleSingleBit: 1, DoubleBit: 2, Pending: true}) {
		t.Errorf("retired pages = %+v", h.RetiredPages)
	}
	if h.RemappedRows == nil || *h.RemappedRows != (RemappedRows{Corrected: 1, Uncorrected: 2, Pending: true, Failure: true}) {
		t.Errorf("remapped rows = %+v", h.RemappedRows)
	}
	if h.UtilizationPercent == nil || *h.UtilizationPercent != 10 {
		t.Errorf("utilisation = %v", h.UtilizationPercent)
	}

	h = g.Health(devs[1])
	if h.ECC != nil || h.RetiredPages != nil || h.RemappedRows != nil || h.Error != "" {
		t.Errorf("unsupported queries must read as absent, not as faults: %+v", h)
	}
}
