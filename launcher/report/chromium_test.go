package report

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// chromiumNames are the names headless Chromium goes by; Debian's package
// is "chromium", which .ci/run installs.
var chromiumNames = []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"}

// layoutProbe is appended to a copy of the page (the page itself has no
// script): it records what Chromium laid out into the DOM that --dump-dom
// prints, so the test sees the browser's own measurements.
const layoutProbe = `<pre id="layout-probe"></pre>
<script>
(function () {
  function box(el) { var r = el.getBoundingClientRect(); return {w: r.width, h: r.height}; }
  var out = {charts: [], rows: [], nochart: []};
  document.querySelectorAll("figure.chart").forEach(function (fig) {
    var svg = fig.querySelector("svg");
    out.charts.push({id: fig.id, svg: !!svg, ns: svg ? svg.namespaceURI : "",
      box: svg ? box(svg) : {w: 0, h: 0}, paths: svg ? svg.querySelectorAll("path").length : 0,
      text: svg ? svg.textContent : ""});
  });
  document.querySelectorAll("#attempts tbody tr").forEach(function (tr) {
    out.rows.push({box: box(tr), cells: Array.from(tr.cells).map(function (c) { return c.textContent; })});
  });
  document.querySelectorAll("p.nochart").forEach(function (p) {
    out.nochart.push({id: p.id, box: box(p), text: p.textContent});
  });
  document.getElementById("layout-probe").textContent = JSON.stringify(out);
})();
</script>
</body>`

type probedBox struct{ W, H float64 }

type probed struct {
	Charts []struct {
		ID, NS, Text string
		SVG          bool
		Box          probedBox
		Paths        int
	}
	Rows []struct {
		Box   probedBox
		Cells []string
	}
	Nochart []struct {
		ID, Text string
		Box      probedBox
	}
}

func findChromium(t *testing.T) string {
	t.Helper()
	for _, name := range chromiumNames {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	t.Fatalf("this test loads the report in headless Chromium, and none is on PATH (looked for %s): "+
		"install it (Debian: apt-get install chromium; .ci/run does this)", strings.Join(chromiumNames, ", "))
	return ""
}

// dumpDOM loads file in headless Chromium and returns the DOM it built.
func dumpDOM(t *testing.T, file string) string {
	t.Helper()
	bin := findChromium(t)
	// A bound on a hung browser, not a measure of speed.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--headless", "--no-sandbox", "--disable-gpu",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--no-first-run", "--disable-dev-shm-usage", "--user-data-dir="+t.TempDir(),
		"--window-size=1100,900", "--dump-dom", "file://"+file)
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s --dump-dom: %v\n%s", bin, err, stderr.String())
	}
	if stdout.Len() == 0 {
		t.Fatalf("%s printed no DOM; its stderr:\n%s", bin, stderr.String())
	}
	return stdout.String()
}

func TestChromiumRendersChartsAndAttemptsTable(t *testing.T) {
	run, dir := threeAttemptRun(t)
	page := render(t, run, dir)
	probedPage := filepath.Join(t.TempDir(), "probed.html")
	if !strings.Contains(page, "</body>") {
		t.Fatal("the page has no </body>")
	}
	if err := os.WriteFile(probedPage, []byte(strings.Replace(page, "</body>", layoutProbe, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	dom := parseHTML(t, dumpDOM(t, probedPage))

	// What Chromium's DOM holds: two charts as SVG, the attempts table.
	if got := len(byTag(dom, "svg")); got != 2 {
		t.Errorf("Chromium's DOM holds %d svg elements, want 2", got)
	}
	table := byID(dom, "attempts")
	if table == nil || len(byTag(table, "tr")) != 4 {
		t.Fatalf("Chromium's DOM lacks the attempts table with a header and 3 rows")
	}

	// What it laid out, as the probe measured it.
	probe := byID(dom, "layout-probe")
	if probe == nil {
		t.Fatal("the layout probe did not run")
	}
	var got probed
	if err := json.Unmarshal([]byte(textOf(probe)), &got); err != nil {
		t.Fatalf("probe output %q: %v", textOf(probe), err)
	}
	if len(got.Charts) != 2 {
		t.Fatalf("%d charts laid out, want 2", len(got.Charts))
	}
	for i, c := range got.Charts {
		wantID := []string{"chart-1", "chart-3"}[i]
		if c.ID != wantID || !c.SVG || c.NS != "http://www.w3.org/2000/svg" {
			t.Errorf("chart %d: id %q, svg %v, namespace %q; want %s holding an SVG element", i, c.ID, c.SVG, c.NS, wantID)
		}
		if c.Box.W <= 0 || c.Box.H <= 0 || c.Paths == 0 {
			t.Errorf("%s is laid out %vx%v with %d paths: nothing drawn", c.ID, c.Box.W, c.Box.H, c.Paths)
		}
		if !strings.Contains(c.Text, "job's own") || !strings.Contains(c.Text, "capacity") {
			t.Errorf("%s lacks its legend: %q", c.ID, c.Text)
		}
	}
	if len(got.Rows) != 3 {
		t.Fatalf("%d attempt rows laid out, want 3", len(got.Rows))
	}
	for i, r := range got.Rows {
		if r.Box.H <= 0 || len(r.Cells) != 7 || r.Cells[0] != []string{"1", "2", "3"}[i] {
			t.Errorf("row %d: %vx%v, cells %q", i+1, r.Box.W, r.Box.H, r.Cells)
		}
	}
	if len(got.Nochart) != 1 || got.Nochart[0].ID != "nochart-2" || got.Nochart[0].Box.H <= 0 ||
		!strings.Contains(got.Nochart[0].Text, "No GPU memory samples") {
		t.Errorf("attempt 2's no-samples text is not shown: %+v", got.Nochart)
	}
}
