package plan

import (
	"slices"
	"strings"

	"github.com/vramrun/vramrun/profiles"
	"github.com/vramrun/vramrun/sdk"
)

// Measured is what earlier runs of a command measured of its speed (its
// learned facts), where it replaces the speed model's priors: a
// micro-batch's own cost in samples' worth, and checkpointing's factor.
// Zero fields leave the prior.
type Measured struct {
	Overhead, Checkpointing float64
}

// MeasureSpeed reads Measured from facts. The overhead comes from the
// configuration (set of fixes other than the batch) with the most fitting
// micro-batches of known speed, at least two sizes: speed s at micro-batch
// b is k x b / (b + o), so 1/s = 1/k + (o/k) x 1/b, a line in 1/b whose
// slope over intercept is o. Checkpointing's factor is the mean ratio of
// speeds measured at the same micro-batch with and without it, the other
// fixes the same.
func MeasureSpeed(facts []profiles.Fact) Measured {
	type point struct{ micro, speed float64 }
	// A configuration is its fixes but the batch, checkpointing apart; at
	// is the newest speed of each at each micro-batch.
	type config struct {
		others string
		ckpt   bool
	}
	type sized struct {
		config
		micro int
	}
	groups := map[config][]point{}
	at := map[sized]float64{}
	for _, f := range facts {
		if f.Outcome != "ok" || f.SamplesPerS <= 0 || f.Micro <= 0 {
			continue
		}
		others, ckpt := otherFixes(f.Fixes)
		c := config{others, ckpt}
		groups[c] = append(groups[c], point{float64(f.Micro), f.SamplesPerS})
		at[sized{c, f.Micro}] = f.SamplesPerS
	}
	var m Measured
	best := 0
	for _, pts := range groups {
		sizes := map[float64]bool{}
		for _, p := range pts {
			sizes[p.micro] = true
		}
		if len(sizes) < 2 || len(pts) <= best {
			continue
		}
		var xs, ys []float64
		for _, p := range pts {
			xs, ys = append(xs, 1/p.micro), append(ys, 1/p.speed)
		}
		if intercept, slope, ok := leastSquares(xs, ys); ok && intercept > 0 && slope >= 0 {
			m.Overhead, best = max(slope/intercept, 0.01), len(pts)
		}
	}
	var ratios []float64
	for c, speed := range at {
		if !c.ckpt {
			continue
		}
		if plain, ok := at[sized{config{c.others, false}, c.micro}]; ok {
			ratios = append(ratios, speed/plain)
		}
	}
	if len(ratios) > 0 {
		sum := 0.0
		for _, r := range ratios {
			sum += r
		}
		m.Checkpointing = sum / float64(len(ratios))
	}
	return m
}

// otherFixes names a configuration's fixes but the batch and
// checkpointing (sorted ids, mixed precision with its precision), and says
// whether checkpointing is on.
func otherFixes(fixes []sdk.Fix) (others string, ckpt bool) {
	var ids []string
	for _, f := range fixes {
		switch f.ID {
		case sdk.FixBatchSize, sdk.FixEvalBatchSize, sdk.FixTrial:
		case sdk.FixGradCheckpointing:
			ckpt = true
		case sdk.FixMixedPrecision:
			ids = append(ids, string(f.ID)+":"+f.Precision)
		default:
			ids = append(ids, string(f.ID))
		}
	}
	slices.Sort(ids)
	return strings.Join(slices.Compact(ids), ","), ckpt
}

// leastSquares fits y = intercept + slope x.
func leastSquares(xs, ys []float64) (intercept, slope float64, ok bool) {
	n := float64(len(xs))
	var sx, sy, sxx, sxy float64
	for i := range xs {
		sx += xs[i]
		sy += ys[i]
		sxx += xs[i] * xs[i]
		sxy += xs[i] * ys[i]
	}
	den := n*sxx - sx*sx
	if den == 0 {
		return 0, 0, false
	}
	slope = (n*sxy - sx*sy) / den
	return (sy - slope*sx) / n, slope, true
}
