package report

import (
	"bytes"
	"fmt"
	"image/color"
	"math"
	"sort"
	"strings"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/vramrun/vramrun/launcher/gpu"
)

// maxChartPoints bounds the points drawn per line. A week-long attempt can
// keep 20000 samples; drawing them all would make the page megabytes long
// for no visible gain, so longer series are thinned to the lowest and highest
// sample of each bucket, which keeps every peak.
const maxChartPoints = 600

// chartInput is what one attempt's chart draws.
type chartInput struct {
	samples []gpu.Sample
	// start is time zero of the x axis: the attempt's start, or the first
	// sample when the start is unknown.
	start time.Time
	// capacity is the GPU's total memory in bytes; 0 when unknown.
	capacity int64
	// oomAt is when the attempt ran out of memory, in seconds from start;
	// negative when it did not.
	oomAt    float64
	oomLabel string
}

var (
	jobColor      = color.RGBA{R: 0x1f, G: 0x6f, B: 0xeb, A: 0xff}
	capacityColor = color.RGBA{R: 0x6e, G: 0x77, B: 0x81, A: 0xff}
	oomColor      = color.RGBA{R: 0xcf, G: 0x22, B: 0x2e, A: 0xff}
	// deviceColors are the whole-GPU lines, one per sampled device.
	deviceColors = []color.RGBA{
		{R: 0xbc, G: 0x4c, B: 0x00, A: 0xff},
		{R: 0x1a, G: 0x7f, B: 0x37, A: 0xff},
		{R: 0x82, G: 0x50, B: 0xdf, A: 0xff},
		{R: 0x9a, G: 0x67, B: 0x00, A: 0xff},
	}
)

// chartSeries is one drawn line of memory over time.
type chartSeries struct {
	name string
	xys  plotter.XYs
}

// seriesOf splits samples into the job's own line (when NVML attributed
// memory to the job) and one whole-GPU line per device, in bytes.
func seriesOf(samples []gpu.Sample, start time.Time) (job plotter.XYs, devices []chartSeries) {
	byDevice := map[string]plotter.XYs{}
	for _, s := range samples {
		x := s.Time.Sub(start).Seconds()
		if s.JobUsedKnown {
			job = append(job, plotter.XY{X: x, Y: float64(s.JobUsed)})
		}
		for uuid, used := range s.DeviceUsed {
			byDevice[uuid] = append(byDevice[uuid], plotter.XY{X: x, Y: float64(used)})
		}
	}
	uuids := make([]string, 0, len(byDevice))
	for uuid := range byDevice {
		uuids = append(uuids, uuid)
	}
	sort.Strings(uuids)
	for _, uuid := range uuids {
		name := "whole GPU"
		if len(uuids) > 1 {
			name = "GPU " + shortUUID(uuid)
		}
		devices = append(devices, chartSeries{name: name, xys: byDevice[uuid]})
	}
	return job, devices
}

// shortUUID keeps enough of a GPU UUID to tell devices apart in a legend.
func shortUUID(uuid string) string {
	const keep = 12
	if len(uuid) <= keep {
		return uuid
	}
	return uuid[:keep]
}

// thin keeps at most limit points: for each bucket of consecutive points,
// the lowest and the highest, in time order.
func thin(xys plotter.XYs, limit int) plotter.XYs {
	if len(xys) <= limit || limit < 2 {
		return xys
	}
	buckets := limit / 2
	out := make(plotter.XYs, 0, buckets*2)
	for b := 0; b < buckets; b++ {
		lo, hi := b*len(xys)/buckets, (b+1)*len(xys)/buckets
		if lo >= hi {
			continue
		}
		minI, maxI := lo, lo
		for i := lo; i < hi; i++ {
			if xys[i].Y < xys[minI].Y {
				minI = i
			}
			if xys[i].Y > xys[maxI].Y {
				maxI = i
			}
		}
		first, second := min(minI, maxI), max(minI, maxI)
		out = append(out, xys[first])
		if second != first {
			out = append(out, xys[second])
		}
	}
	return out
}

// byteUnit picks GiB, or MiB when everything drawn is under 1 GiB.
func byteUnit(largest float64) (name string, size float64) {
	if largest >= 1<<30 {
		return "GiB", 1 << 30
	}
	return "MiB", 1 << 20
}

func scaled(xys plotter.XYs, unit float64) plotter.XYs {
	out := make(plotter.XYs, len(xys))
	for i, p := range xys {
		out[i] = plotter.XY{X: p.X, Y: p.Y / unit}
	}
	return out
}

// sansFont is the charts' typeface. The page's style sheet overrides the
// family in the browser; this one only sets the metrics gonum lays out with.
func sansFont(size vg.Length) font.Font {
	f := font.From(plot.DefaultFont, size)
	f.Variant = "Sans"
	return f
}

// renderChart draws the VRAM chart of one attempt as an SVG element, ready to
// be placed inline in HTML (no XML prolog, no external references: gonum
// embeds no fonts unless asked and links to nothing).
func renderChart(in chartInput) ([]byte, error) {
	job, devices := seriesOf(in.samples, in.start)
	if len(job) == 0 && len(devices) == 0 {
		return nil, fmt.Errorf("no samples to draw")
	}
	largest := float64(in.capacity)
	xmax := 0.0
	for _, xys := range append([]plotter.XYs{job}, xysOf(devices)...) {
		for _, p := range xys {
			largest = math.Max(largest, p.Y)
			xmax = math.Max(xmax, p.X)
		}
	}
	if in.oomAt > xmax {
		xmax = in.oomAt
	}
	unitName, unit := byteUnit(largest)
	top := largest / unit * 1.3 // headroom for the legend above the capacity line
	if top <= 0 {
		top = 1
	}

	p := plot.New()
	p.X.Label.Text = "seconds since the attempt started"
	p.Y.Label.Text = unitName + " used"
	p.X.Label.TextStyle.Font = sansFont(11)
	p.Y.Label.TextStyle.Font = sansFont(11)
	p.X.Tick.Label.Font = sansFont(9)
	p.Y.Tick.Label.Font = sansFont(9)
	p.Legend.TextStyle.Font = sansFont(9)
	p.Legend.Top, p.Legend.Left = true, true
	p.Legend.XOffs, p.Legend.YOffs = vg.Points(6), vg.Points(-4)
	// A little room right of the last sample keeps its tick label whole.
	p.X.Min, p.X.Max = 0, math.Max(xmax*1.03, 1e-3)
	p.Y.Min, p.Y.Max = 0, top
	p.Add(plotter.NewGrid())

	if in.capacity > 0 {
		c := float64(in.capacity) / unit
		if err := addLine(p, "capacity", plotter.XYs{{X: 0, Y: c}, {X: p.X.Max, Y: c}},
			draw.LineStyle{Color: capacityColor, Width: vg.Points(1), Dashes: []vg.Length{vg.Points(6), vg.Points(3)}}); err != nil {
			return nil, err
		}
	}
	// The job's line goes under the thinner whole-GPU lines: when the job is
	// alone on the GPU they coincide, and both stay visible.
	if len(job) > 0 {
		if err := addLine(p, "job's own", scaled(thin(job, maxChartPoints), unit),
			draw.LineStyle{Color: jobColor, Width: vg.Points(2.5)}); err != nil {
			return nil, err
		}
	}
	for i, d := range devices {
		if err := addLine(p, d.name, scaled(thin(d.xys, maxChartPoints), unit),
			draw.LineStyle{Color: deviceColors[i%len(deviceColors)], Width: vg.Points(1.25)}); err != nil {
			return nil, err
		}
	}
	if in.oomAt >= 0 {
		if err := addLine(p, in.oomLabel, plotter.XYs{{X: in.oomAt, Y: 0}, {X: in.oomAt, Y: top}},
			draw.LineStyle{Color: oomColor, Width: vg.Points(1.5), Dashes: []vg.Length{vg.Points(3), vg.Points(2)}}); err != nil {
			return nil, err
		}
	}

	canvas := vgsvg.New(7*vg.Inch, 3*vg.Inch)
	p.Draw(draw.New(canvas))
	var buf bytes.Buffer
	if _, err := canvas.WriteTo(&buf); err != nil {
		return nil, err
	}
	return inlineSVG(buf.Bytes())
}

func xysOf(series []chartSeries) []plotter.XYs {
	out := make([]plotter.XYs, len(series))
	for i, s := range series {
		out[i] = s.xys
	}
	return out
}

func addLine(p *plot.Plot, name string, xys plotter.XYs, style draw.LineStyle) error {
	l, err := plotter.NewLine(xys)
	if err != nil {
		return fmt.Errorf("chart line %q: %v", name, err)
	}
	l.LineStyle = style
	p.Add(l)
	p.Legend.Add(name, l)
	return nil
}

// inlineSVG drops what comes before the <svg> element (the XML prolog and
// a generator comment), which has no place inside an HTML document.
func inlineSVG(doc []byte) ([]byte, error) {
	i := bytes.Index(doc, []byte("<svg"))
	if i < 0 {
		return nil, fmt.Errorf("chart: the SVG writer produced no <svg> element")
	}
	out := doc[i:]
	if bytes.Contains(out, []byte("href=")) || bytes.Contains(out, []byte("url(")) {
		return nil, fmt.Errorf("chart: the SVG refers to something outside the page")
	}
	return []byte(strings.TrimSpace(string(out))), nil
}
