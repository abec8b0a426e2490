package report

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"gonum.org/v1/plot/plotter"

	"github.com/vramrun/vramrun/launcher/gpu"
)

func TestThinKeepsEveryPeakAndTrough(t *testing.T) {
	xys := make(plotter.XYs, 10000)
	for i := range xys {
		xys[i] = plotter.XY{X: float64(i), Y: 5}
	}
	xys[4321].Y, xys[8765].Y = 99, -7
	got := thin(xys, 600)
	if len(got) > 600 {
		t.Fatalf("%d points kept, want at most 600", len(got))
	}
	var peak, trough bool
	for i, p := range got {
		peak = peak || p == xys[4321]
		trough = trough || p == xys[8765]
		if i > 0 && p.X <= got[i-1].X {
			t.Fatalf("points out of time order at %d: %v after %v", i, p, got[i-1])
		}
	}
	if !peak || !trough {
		t.Errorf("thinning lost the spike (%v) or the dip (%v)", peak, trough)
	}
	short := xys[:100]
	if got := thin(short, 600); len(got) != 100 {
		t.Errorf("a series under the limit was thinned to %d points", len(got))
	}
}

func TestRenderChartIsInlineSVG(t *testing.T) {
	start := time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)
	svg, err := renderChart(chartInput{samples: rampSamples(start, 10, 100*mib, 50*mib, 0),
		start: start, capacity: 800 * mib, oomAt: 9, oomLabel: "OOM (attempt ended)"})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(svg, []byte("<svg")) || !bytes.HasSuffix(svg, []byte("</svg>")) {
		t.Errorf("not a bare svg element: %.60q ... %.20q", svg, svg[max(0, len(svg)-20):])
	}
	text := string(svg)
	// Under 1 GiB the axis is in MiB.
	if !strings.Contains(text, "MiB used") {
		t.Error("the y axis is not labelled in MiB for a job under 1 GiB")
	}
	if strings.Contains(text, "@font-face") || strings.Contains(text, "base64") {
		t.Error("the chart embeds a font")
	}
}

func TestRenderChartWithSeveralDevicesAndNoJobFigure(t *testing.T) {
	start := time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)
	samples := []gpu.Sample{
		{Time: start, DeviceUsed: map[string]uint64{"GPU-aaaaaaaa-1111": uint64(2 * gib), "GPU-bbbbbbbb-2222": uint64(3 * gib)}},
		{Time: start.Add(time.Second), DeviceUsed: map[string]uint64{"GPU-aaaaaaaa-1111": uint64(4 * gib), "GPU-bbbbbbbb-2222": uint64(5 * gib)}},
	}
	svg, err := renderChart(chartInput{samples: samples, start: start, oomAt: -1})
	if err != nil {
		t.Fatal(err)
	}
	text := string(svg)
	for _, want := range []string{"GPU GPU-aaaaaaa", "GPU GPU-bbbbbbb", "GiB used"} {
		if !strings.Contains(text, want) {
			t.Errorf("chart lacks %q", want)
		}
	}
	for _, unwanted := range []string{"job's own", "capacity", "OOM"} {
		if strings.Contains(text, unwanted) {
			t.Errorf("chart draws %q with no figure for it", unwanted)
		}
	}
	if _, err := renderChart(chartInput{start: start, oomAt: -1}); err == nil {
		t.Error("a chart without samples should be an error")
	}
}

func TestInlineSVGRefusesOutsideReferences(t *testing.T) {
	if _, err := inlineSVG([]byte(`<?xml version="1.0"?><svg><image href="http://x/y.png"/></svg>`)); err == nil {
		t.Error("an SVG that links to an image was accepted")
	}
	if _, err := inlineSVG([]byte(`<?xml version="1.0"?>`)); err == nil {
		t.Error("a document without <svg> was accepted")
	}
	got, err := inlineSVG([]byte("<?xml version=\"1.0\"?>\n<!-- gen -->\n<svg></svg>\n"))
	if err != nil || string(got) != "<svg></svg>" {
		t.Errorf("inlineSVG = %q, %v", got, err)
	}
}
