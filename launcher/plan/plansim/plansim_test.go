package plansim

import "testing"

// TestPlannerBeatsHalvingOnTheGrid is the diagnosis issue's bar: on the
// grid, vramrun's planner needs no more relaunches than halving and ends at
// a larger micro-batch, on median, and never fails to fit.
func TestPlannerBeatsHalvingOnTheGrid(t *testing.T) {
	s := Summarize(Grid(), &Planner{}, Halving{})
	planner, halving := s[0], s[1]
	if planner.Failed > 0 {
		t.Fatalf("the planner never fit %d jobs", planner.Failed)
	}
	if planner.MedianRelaunches > halving.MedianRelaunches {
		t.Errorf("median relaunches: planner %.1f, halving %.1f", planner.MedianRelaunches, halving.MedianRelaunches)
	}
	if planner.MedianShare <= halving.MedianShare {
		t.Errorf("median final share: planner %.2f, halving %.2f", planner.MedianShare, halving.MedianShare)
	}
	if planner.MaxRelaunches > halving.MaxRelaunches+1 {
		t.Errorf("worst case: planner %d relaunches, halving %d", planner.MaxRelaunches, halving.MaxRelaunches)
	}
}

func TestJobModel(t *testing.T) {
	j := Grid()[0]
	b := j.Largest()
	if !j.Fits(b) || j.Fits(b+1) {
		t.Fatalf("Largest = %d, but Fits(%d)=%v Fits(%d)=%v", b, b, j.Fits(b), b+1, j.Fits(b+1))
	}
	d := j.OOM(j.Start)
	if !d.OOM || *d.TriedBytes <= *d.FreeBytes {
		t.Fatalf("an OOM must ask for more than is free: %+v", d)
	}
	// Halving from 256 reaches a fitting size.
	if o := Simulate(j, Halving{}); o.Share <= 0 || o.Share > 1 {
		t.Fatalf("halving share = %v", o.Share)
	}
}

// BenchmarkConvergence reports, per strategy, the mean relaunches to fit and
// the mean final share of the largest micro-batch that fits over the grid.
func BenchmarkConvergence(b *testing.B) {
	jobs := Grid()
	for _, s := range []Strategy{&Planner{}, Halving{}, Shrink90{}} {
		b.Run(s.Name(), func(b *testing.B) {
			var sum []Summary
			for i := 0; i < b.N; i++ {
				sum = Summarize(jobs, s)
			}
			b.ReportMetric(sum[0].MeanRelaunches, "relaunches/job")
			b.ReportMetric(sum[0].MeanShare*100, "%share")
		})
	}
}
