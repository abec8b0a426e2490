package gpu

import (
	"fmt"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
)

// Health is what NVML says about a GPU's memory hardware. A nil part means
// the GPU or driver does not support that query, which is not a fault.
type Health struct {
	ECC          *ECCCounts    `json:"ecc"`
	RetiredPages *RetiredPages `json:"retired_pages"`
	RemappedRows *RemappedRows `json:"remapped_rows"`
	// UtilizationPercent is how busy the GPU is; nil unknown.
	UtilizationPercent *int     `json:"utilization_percent"`
	MIG                MIGState `json:"mig"`
	// XidEvents are the critical Xid events seen while watching (filled by
	// whoever watched, e.g. the doctor).
	XidEvents []XidEvent `json:"xid_events"`
	// Error is set when NVML cannot read the GPU at all.
	Error string `json:"error,omitempty"`
}

// ECCCounts are the GPU's ECC error counters; a nil counter is one the GPU
// does not report. Volatile counts since the driver was loaded, aggregate
// over the GPU's life.
type ECCCounts struct {
	VolatileCorrected    *uint64 `json:"volatile_corrected"`
	VolatileUncorrected  *uint64 `json:"volatile_uncorrected"`
	AggregateCorrected   *uint64 `json:"aggregate_corrected"`
	AggregateUncorrected *uint64 `json:"aggregate_uncorrected"`
}

// RetiredPages is dynamic page retirement (GPUs before Ampere).
type RetiredPages struct {
	MultipleSingleBit int  `json:"multiple_single_bit"`
	DoubleBit         int  `json:"double_bit"`
	Pending           bool `json:"pending_retirement"`
}

// RemappedRows is row remapping (Ampere and newer).
type RemappedRows struct {
	Corrected   int  `json:"corrected"`
	Uncorrected int  `json:"uncorrected"`
	Pending     bool `json:"pending"`
	Failure     bool `json:"failure"`
}

// MIGState says whether the GPU is in MIG mode and which instances it has.
type MIGState struct {
	Enabled   bool          `json:"enabled"`
	Instances []MIGInstance `json:"instances"`
}

// Health reads d's health counters. For a MIG instance it reads its GPU.
func (g *GPUs) Health(d Device) Health {
	h := Health{MIG: MIGState{Enabled: d.MIG, Instances: d.MIGInstances}, XidEvents: []XidEvent{}}
	if h.MIG.Instances == nil {
		h.MIG.Instances = []MIGInstance{}
	}
	if d.Utilization >= 0 {
		u := d.Utilization
		h.UtilizationPercent = &u
	}
	if d.UUID == "" {
		h.Error = d.Problem
		return h
	}
	dev, ok := g.handle(g.physicalUUID(d.UUID))
	if !ok {
		h.Error = fmt.Sprintf("NVML no longer lists %s", d.UUID)
		return h
	}
	h.ECC = readECC(dev)
	h.RetiredPages = readRetiredPages(dev)
	if corrected, uncorrected, pending, failure, ret := dev.GetRemappedRows(); ret == nvml.SUCCESS {
		h.RemappedRows = &RemappedRows{Corrected: corrected, Uncorrected: uncorrected, Pending: pending, Failure: failure}
	}
	return h
}

func readECC(dev nvml.Device) *ECCCounts {
	read := func(t nvml.MemoryErrorType, c nvml.EccCounterType) *uint64 {
		v, ret := dev.GetTotalEccErrors(t, c)
		if ret != nvml.SUCCESS {
			return nil
		}
		return &v
	}
	e := ECCCounts{
		VolatileCorrected:    read(nvml.MEMORY_ERROR_TYPE_CORRECTED, nvml.VOLATILE_ECC),
		VolatileUncorrected:  read(nvml.MEMORY_ERROR_TYPE_UNCORRECTED, nvml.VOLATILE_ECC),
		AggregateCorrected:   read(nvml.MEMORY_ERROR_TYPE_CORRECTED, nvml.AGGREGATE_ECC),
		AggregateUncorrected: read(nvml.MEMORY_ERROR_TYPE_UNCORRECTED, nvml.AGGREGATE_ECC),
	}
	if e.VolatileCorrected == nil && e.VolatileUncorrected == nil && e.AggregateCorrected == nil && e.AggregateUncorrected == nil {
		return nil
	}
	return &e
}

func readRetiredPages(dev nvml.Device) *RetiredPages {
	sbe, ret1 := dev.GetRetiredPages(nvml.PAGE_RETIREMENT_CAUSE_MULTIPLE_SINGLE_BIT_ECC_ERRORS)
	dbe, ret2 := dev.GetRetiredPages(nvml.PAGE_RETIREMENT_CAUSE_DOUBLE_BIT_ECC_ERROR)
	pending, ret3 := dev.GetRetiredPagesPendingStatus()
	if ret1 != nvml.SUCCESS && ret2 != nvml.SUCCESS && ret3 != nvml.SUCCESS {
		return nil
	}
	return &RetiredPages{MultipleSingleBit: len(sbe), DoubleBit: len(dbe), Pending: ret3 == nvml.SUCCESS && pending == nvml.FEATURE_ENABLED}
}

// Uncorrected returns the volatile and aggregate uncorrectable ECC counts,
// 0 where unknown.
func (e *ECCCounts) Uncorrected() (volatile, aggregate uint64) {
	if e == nil {
		return 0, 0
	}
	if e.VolatileUncorrected != nil {
		volatile = *e.VolatileUncorrected
	}
	if e.AggregateUncorrected != nil {
		aggregate = *e.AggregateUncorrected
	}
	return volatile, aggregate
}
