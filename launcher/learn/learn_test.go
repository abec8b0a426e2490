package learn

import (
	"testing"

	"github.com/vramrun/vramrun/sdk"
)

func TestSummary(t *testing.T) {
	got := Summary([]sdk.Fix{{ID: sdk.FixAllocator}, {ID: sdk.FixMixedPrecision, Precision: "bf16"},
		{ID: sdk.FixBatchSize, BatchSize: 32, GradAccumulation: 2}, {ID: sdk.FixBatchSize, BatchSize: 24, GradAccumulation: 4}})
	if want := "batch 24 x accumulation 4, allocator, bf16"; got != want {
		t.Fatalf("Summary = %q, want %q", got, want)
	}
}
