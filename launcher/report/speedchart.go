package report

import (
	"bytes"
	"fmt"
	"html/template"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/vramrun/vramrun/launcher/record"
)

// speedChart draws one bar per attempt, its samples a second as the job's
// own progress lines said (tokens a second when no attempt converts to
// samples); empty when no attempt has a speed in that unit. An attempt
// without a reading has no bar: no reading, no guess.
func speedChart(attempts []record.Attempt) (template.HTML, error) {
	unit, value := "samples a second", func(s *record.Speed) *float64 { return s.SamplesPerS }
	if !anySpeed(attempts, value) {
		unit, value = "tokens a second", func(s *record.Speed) *float64 { return s.TokensPerS }
	}
	if !anySpeed(attempts, value) {
		return "", nil
	}
	values := make(plotter.Values, len(attempts))
	names := make([]string, len(attempts))
	for i, a := range attempts {
		names[i] = strconv.Itoa(a.N)
		if a.Speed != nil {
			if v := value(a.Speed); v != nil {
				values[i] = *v
			}
		}
	}
	p := plot.New()
	p.X.Label.Text = "attempt"
	p.Y.Label.Text = unit
	p.X.Label.TextStyle.Font = sansFont(11)
	p.Y.Label.TextStyle.Font = sansFont(11)
	p.X.Tick.Label.Font = sansFont(9)
	p.Y.Tick.Label.Font = sansFont(9)
	p.Y.Min = 0
	p.Add(plotter.NewGrid())
	bars, err := plotter.NewBarChart(values, vg.Points(18))
	if err != nil {
		return "", fmt.Errorf("speed chart: %v", err)
	}
	bars.Color, bars.LineStyle.Width = jobColor, 0
	p.Add(bars)
	p.NominalX(names...)
	// Half a slot each side: the outer bars whole, not cut at the axes.
	p.X.Min, p.X.Max = -0.5, float64(len(names))-0.5
	canvas := vgsvg.New(7*vg.Inch, 2.5*vg.Inch)
	p.Draw(draw.New(canvas))
	var buf bytes.Buffer
	if _, err := canvas.WriteTo(&buf); err != nil {
		return "", err
	}
	svg, err := inlineSVG(buf.Bytes())
	return template.HTML(svg), err // drawn here from numbers; gonum escapes its text
}

func anySpeed(attempts []record.Attempt, value func(*record.Speed) *float64) bool {
	for _, a := range attempts {
		if a.Speed != nil && value(a.Speed) != nil {
			return true
		}
	}
	return false
}
