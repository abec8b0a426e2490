package profiles

import (
	"fmt"
	"testing"

	"github.com/vramrun/vramrun/sdk"
)

func fact(run string, micro int, outcome string, speed float64) Fact {
	return Fact{Fixes: []sdk.Fix{{ID: sdk.FixBatchSize, BatchSize: micro, GradAccumulation: 256 / micro}},
		Outcome: outcome, Micro: micro, Accum: 256 / micro, SamplesPerS: speed, RunID: run}
}

// TestFactsAccumulateAcrossRuns: a record keeps the facts other runs
// stored and replaces its own run's; the newest MaxFacts stay.
func TestFactsAccumulateAcrossRuns(t *testing.T) {
	s := openTestStore(t)
	fp, gpu := sampleFingerprint(), GPUKey{Model: "NVIDIA A10G", TotalBytes: 24 << 30}
	first := sampleLearned()
	first.Facts = []Fact{fact("r1", 256, "oom", 0), fact("r1", 128, "ok", 600)}
	second := sampleLearned()
	second.Facts = []Fact{fact("r2", 64, "ok", 750)}
	again := sampleLearned()
	again.Facts = []Fact{fact("r2", 64, "ok", 750), fact("r2", 32, "ok", 500)}
	for _, l := range []Learned{first, second, again} {
		if err := s.Record(fp, gpu, l); err != nil {
			t.Fatal(err)
		}
	}
	got, _, err := s.Lookup(fp, gpu)
	if err != nil {
		t.Fatal(err)
	}
	var micros []int
	for _, f := range got.Facts {
		micros = append(micros, f.Micro)
	}
	if fmt.Sprint(micros) != "[256 128 64 32]" {
		t.Fatalf("facts at %v, want r1's two then r2's two", micros)
	}

	many := make([]Fact, MaxFacts+5)
	for i := range many {
		many[i] = fact("r3", 1+i%200, "ok", float64(i))
	}
	if kept := mergeFacts(got.Facts, many); len(kept) != MaxFacts || kept[len(kept)-1].SamplesPerS != float64(MaxFacts+4) {
		t.Fatalf("kept %d facts, last %+v", len(kept), kept[len(kept)-1])
	}
}

// TestFastestJudgesEachConfigurationByItsNewestFact: the fastest fit is
// chosen, unless that configuration ran out of memory since.
func TestFastestJudgesEachConfigurationByItsNewestFact(t *testing.T) {
	l := Learned{Facts: []Fact{fact("r1", 128, "ok", 600), fact("r2", 64, "ok", 750), fact("r2", 256, "oom", 0)}}
	if best, ok := l.Fastest(); !ok || best.Micro != 64 {
		t.Fatalf("fastest = %+v, %v; want 64", best, ok)
	}
	if got := l.SpeedOf(l.Facts[0].Fixes); got != 600 {
		t.Fatalf("speed of 128 = %v", got)
	}
	l.Facts = append(l.Facts, fact("r3", 64, "oom", 0))
	if best, ok := l.Fastest(); !ok || best.Micro != 128 {
		t.Fatalf("after 64 ran out: fastest = %+v, %v; want 128", best, ok)
	}
	if _, ok := (Learned{Facts: []Fact{fact("r1", 128, "ok", 0)}}).Fastest(); ok {
		t.Fatal("no speed measured, yet a fastest")
	}
}
