package speed_test

import (
	"bytes"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/vramrun/vramrun/launcher/speed"
	"github.com/vramrun/vramrun/sdk"
)

var (
	barRate   = sdk.ProgressPattern{ID: "t.rate", Regexp: `(?P<per_s>[0-9.]+)it/s`, Unit: sdk.UnitStep}
	barPeriod = sdk.ProgressPattern{ID: "t.period", Regexp: `(?P<s_per>[0-9.]+)s/it`, Unit: sdk.UnitStep}
	iterMS    = sdk.ProgressPattern{ID: "t.iter", Regexp: `^iter \d+: loss [0-9.]+, time (?P<ms_per>[0-9.]+)ms`, Unit: sdk.UnitStep}
	tokens    = sdk.ProgressPattern{ID: "t.tokens", Regexp: `tokens_per_second_per_gpu:(?P<per_s>[0-9.]+)`, Unit: sdk.UnitToken, PerProcess: true}
	final     = sdk.ProgressPattern{ID: "t.final", Regexp: `'train_samples_per_second': (?P<per_s>[0-9.]+)`, Unit: sdk.UnitSample, Summary: true}
)

func readAll(t *testing.T, decls []sdk.ProgressPattern, writes ...string) *speed.Readings {
	t.Helper()
	set, err := speed.Compile(decls)
	if err != nil {
		t.Fatal(err)
	}
	r := set.NewReadings()
	m := r.Meter()
	for _, w := range writes {
		if n, err := m.Write([]byte(w)); n != len(w) || err != nil {
			t.Fatalf("Write = %d, %v", n, err)
		}
	}
	m.Close()
	return r
}

func near(t *testing.T, what string, got *float64, want float64) {
	t.Helper()
	if got == nil {
		t.Fatalf("%s unknown, want %g", what, want)
	}
	if math.Abs(*got-want) > 1e-9*want {
		t.Fatalf("%s = %g, want %g", what, *got, want)
	}
}

// bar draws a tqdm bar with the given rates, one "\r" redraw each.
func bar(rates ...float64) string {
	var b strings.Builder
	for i, r := range rates {
		fmt.Fprintf(&b, "\r %d/100 [00:01<00:09, %.2fit/s]", i+1, r)
	}
	return b.String()
}

func TestWarmUpIsDroppedAndTheMedianTaken(t *testing.T) {
	// Three slow first steps, then steady readings around 4.
	r := readAll(t, []sdk.ProgressPattern{barRate}, bar(0.5, 1, 2, 4, 3.9, 4.1, 4, 40)+"\n")
	s := r.Speed(speed.Shape{Micro: 8, Accumulation: 2, World: 2})
	if s.Readings != 5 || s.Rate != 4 || s.Unit != "step" || s.Pattern != "t.rate" {
		t.Fatalf("speed = %+v", s)
	}
	near(t, "samples/s", s.SamplesPerS, 4*8*2*2)
	if s.Spread <= 0 || s.Spread > 0.1 {
		t.Fatalf("spread = %g, want small and positive", s.Spread)
	}
}

func TestPeriodsAreInverted(t *testing.T) {
	r := readAll(t, []sdk.ProgressPattern{barRate, barPeriod}, "\r 1/9 [00:04<00:30, 4.00s/it]\r 2/9 [00:06<00:20, 2.00s/it]\n")
	near(t, "samples/s", r.Speed(speed.Shape{Micro: 4, Accumulation: 1, World: 1}).SamplesPerS, 4*0.5)

	lines := "iter 0: loss 4.2, time 900.00ms, mfu -100.00%\niter 1: loss 4.1, time 250.00ms, mfu -100.00%\n" +
		"iter 2: loss 4.0, time 250.00ms, mfu 30.00%\n"
	s := readAll(t, []sdk.ProgressPattern{iterMS}, lines).Speed(speed.Shape{Micro: 12, Accumulation: 40, World: 1})
	near(t, "samples/s", s.SamplesPerS, 4*12*40)
}

func TestLinesSplitAcrossWrites(t *testing.T) {
	text := bar(3, 3, 3, 3, 5, 5, 5) + "\n"
	var writes []string
	for i := 0; i < len(text); i += 3 {
		writes = append(writes, text[i:min(i+3, len(text))])
	}
	s := readAll(t, []sdk.ProgressPattern{barRate}, writes...).Speed(speed.Shape{Micro: 1, Accumulation: 1, World: 1})
	if s.Readings != 4 || s.Rate != 5 {
		t.Fatalf("speed = %+v, want the median 5 of 4 steady readings", s)
	}
}

func TestLastLineWithoutBreakIsRead(t *testing.T) {
	s := readAll(t, []sdk.ProgressPattern{barRate}, " 1/2 [00:01<00:01, 2.50it/s]").Speed(speed.Shape{Micro: 2, World: 1, Accumulation: 1})
	near(t, "samples/s", s.SamplesPerS, 5)
}

func TestUnknownWithoutReadings(t *testing.T) {
	r := readAll(t, []sdk.ProgressPattern{barRate}, "epoch 1 loss 2.3\nno rate here\n")
	if s := r.Speed(speed.Shape{Micro: 8, World: 1}); s != nil {
		t.Fatalf("speed = %+v, want unknown", s)
	}
	empty := readAll(t, nil, bar(1, 2, 3))
	if s := empty.Speed(speed.Shape{Micro: 8, World: 1}); s != nil {
		t.Fatalf("no patterns: speed = %+v, want unknown", s)
	}
}

func TestStepOfUnknownSizeKeepsTheRate(t *testing.T) {
	s := readAll(t, []sdk.ProgressPattern{barRate}, bar(2, 2)).Speed(speed.Shape{World: 1})
	if s == nil || s.SamplesPerS != nil || s.Rate != 2 {
		t.Fatalf("speed = %+v, want rate 2 and samples unknown", s)
	}
}

func TestTokensPerProcessCountEveryProcess(t *testing.T) {
	s := readAll(t, []sdk.ProgressPattern{tokens}, "Step 1 | tokens_per_second_per_gpu:1000.0\n").Speed(speed.Shape{Micro: 2, World: 4})
	if s.SamplesPerS != nil {
		t.Fatalf("samples/s = %g, want unknown for tokens", *s.SamplesPerS)
	}
	near(t, "tokens/s", s.TokensPerS, 4000)
}

func TestSummaryOnlyWithoutOtherReadings(t *testing.T) {
	end := "{'train_runtime': 10.0, 'train_samples_per_second': 51.2, 'epoch': 1.0}\n"
	alone := readAll(t, []sdk.ProgressPattern{final, barRate}, end).Speed(speed.Shape{Micro: 4, World: 1, Accumulation: 1})
	near(t, "summary samples/s", alone.SamplesPerS, 51.2)
	withBar := readAll(t, []sdk.ProgressPattern{final, barRate}, bar(3, 3)+"\n"+end).Speed(speed.Shape{Micro: 4, World: 1, Accumulation: 1})
	near(t, "bar samples/s", withBar.SamplesPerS, 12)
}

func TestFirstDeclaredPatternWins(t *testing.T) {
	text := bar(1, 1, 1, 1) + "\n" + "iter 9: loss 1.0, time 100.00ms, mfu 1.00%\n"
	s := readAll(t, []sdk.ProgressPattern{iterMS, barRate}, text).Speed(speed.Shape{Micro: 1, World: 1, Accumulation: 1})
	if s.Pattern != "t.iter" {
		t.Fatalf("pattern = %s, want the first declared that read something", s.Pattern)
	}
}

func TestOverlongLinesArePassedOver(t *testing.T) {
	long := strings.Repeat("x", 80<<10) + " 9.00it/s\n"
	r := readAll(t, []sdk.ProgressPattern{barRate}, long, " 1/2 [3.00it/s]\n")
	if s := r.Speed(speed.Shape{Micro: 1, World: 1, Accumulation: 1}); s.Readings != 1 || s.Rate != 3 {
		t.Fatalf("speed = %+v, want only the short line's 3", s)
	}
}

// TestLongMetricLinesAreRead: a logger that prints every metric on one
// line of some kilobytes, the rate near its end, is read.
func TestLongMetricLinesAreRead(t *testing.T) {
	var b strings.Builder
	for i := 0; b.Len() < 5000; i++ {
		fmt.Fprintf(&b, "metric/%d:%d.123 - ", i, i)
	}
	line := b.String() + "tokens_per_second_per_gpu:250.5\n"
	r := readAll(t, []sdk.ProgressPattern{tokens}, line, line, line, line)
	if s := r.Speed(speed.Shape{World: 1}); s.Readings == 0 {
		t.Fatalf("speed = %+v, want the long lines read", s)
	}
}

func TestWindowIsBounded(t *testing.T) {
	rates := make([]float64, 1000)
	for i := range rates {
		rates[i] = 1
		if i >= 900 {
			rates[i] = 7
		}
	}
	s := readAll(t, []sdk.ProgressPattern{barRate}, bar(rates...)).Speed(speed.Shape{Micro: 1, World: 1, Accumulation: 1})
	if s.Rate != 7 || s.Readings != 32 {
		t.Fatalf("speed = %+v, want the latest 32 readings, all 7", s)
	}
}

func TestCompileRefusesBadPatterns(t *testing.T) {
	_, err := speed.Compile([]sdk.ProgressPattern{{ID: "x", Regexp: `(\d+)it/s`, Unit: sdk.UnitStep}})
	if err == nil || !strings.Contains(err.Error(), "progress pattern x") {
		t.Fatalf("err = %v", err)
	}
}

func FuzzMeter(f *testing.F) {
	f.Add([]byte(bar(1, 2, 3, 4.5)), 3)
	f.Add([]byte("iter 3: loss 1.0, time 0.00ms, mfu 1%\n\r\r\n"), 1)
	f.Add([]byte("1e999it/s\nNaNit/s\n-3it/s\n"), 2)
	set, err := speed.Compile([]sdk.ProgressPattern{barRate, barPeriod, iterMS})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte, cut int) {
		// However the bytes are cut into writes, the readings are the same.
		whole := set.NewReadings()
		m := whole.Meter()
		m.Write(data)
		m.Close()
		parts := set.NewReadings()
		m = parts.Meter()
		step := max(cut%17, 1)
		for i := 0; i < len(data); i += step {
			m.Write(data[i:min(i+step, len(data))])
		}
		m.Close()
		shape := speed.Shape{Micro: 3, Accumulation: 2, World: 1}
		a, b := whole.Speed(shape), parts.Speed(shape)
		if (a == nil) != (b == nil) || (a != nil && (a.Rate != b.Rate || a.Readings != b.Readings)) {
			t.Fatalf("whole %+v, in parts %+v", a, b)
		}
		if a != nil && (a.Rate <= 0 || math.IsInf(a.Rate, 0) || math.IsNaN(a.Rate)) {
			t.Fatalf("rate %g", a.Rate)
		}
	})
}

func BenchmarkMeterChattyOutput(b *testing.B) {
	set, err := speed.Compile([]sdk.ProgressPattern{barRate, barPeriod, iterMS, tokens, final})
	if err != nil {
		b.Fatal(err)
	}
	var buf bytes.Buffer
	for buf.Len() < 1<<20 {
		buf.WriteString("VGhlIHF1aWNrIGJyb3duIGZveCBqdW1wcyBvdmVyIHRoZSBsYXp5IGRvZy4gVGhlIHF1aWNrIGJyb3du\n")
	}
	data := buf.Bytes()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		m := set.NewReadings().Meter()
		m.Write(data)
		m.Close()
	}
}

// TestEnoughClosesAfterTheWarmUp: a trial asking for 2 readings is told
// once the warm-up's 3 and 2 more have come, and a summary line counts
// for nothing.
func TestEnoughClosesAfterTheWarmUp(t *testing.T) {
	set, err := speed.Compile([]sdk.ProgressPattern{barRate, final})
	if err != nil {
		t.Fatal(err)
	}
	r := set.NewReadings()
	enough := r.Enough(2)
	m := r.Meter()
	closed := func() bool {
		select {
		case <-enough:
			return true
		default:
			return false
		}
	}
	_, _ = m.Write([]byte(bar(1, 2, 3, 4) + "\n" + "{'train_samples_per_second': 9.0}\n{'train_samples_per_second': 9.0}\n"))
	if closed() {
		t.Fatal("closed after 4 readings and summaries, want 5 readings first")
	}
	_, _ = m.Write([]byte(bar(5) + "\n"))
	if !closed() {
		t.Fatal("not closed after 5 readings")
	}
	_, _ = m.Write([]byte(bar(6) + "\n")) // no second close
	var none *speed.Readings
	if ch := none.Enough(1); ch == nil {
		t.Fatal("nil readings give a nil channel")
	}
}

// TestBarsOfOneFormatAreKeptApart: an evaluation bar (total 50, fast)
// drawn between a training bar's ticks (total 200) does not move the
// training speed; the total with the most readings is the attempt's.
func TestBarsOfOneFormatAreKeptApart(t *testing.T) {
	keyed := sdk.ProgressPattern{ID: "t.keyed", Regexp: `\| *[0-9]+/(?P<of>[0-9?]+) \[[^<\]]*<[^,\]]*, *(?P<per_s>[0-9.]+)it/s`, Unit: sdk.UnitStep}
	var b strings.Builder
	for i := 1; i <= 10; i++ {
		fmt.Fprintf(&b, "\r  5%%|5  | %d/200 [00:01<00:09, 4.00it/s]", i)
		if i == 6 {
			for j := 1; j <= 5; j++ {
				fmt.Fprintf(&b, "\r 10%%|#  | %d/50 [00:00<00:01, 40.00it/s]", j)
			}
		}
	}
	r := readAll(t, []sdk.ProgressPattern{keyed}, b.String()+"\n")
	s := r.Speed(speed.Shape{Micro: 1, Accumulation: 1, World: 1})
	if s.Rate != 4 || s.Readings != 7 {
		t.Fatalf("speed = %+v, want 4 step/s from the training bar's 7 readings after the warm-up", s)
	}
}

func TestThousandsSeparatorsAreDropped(t *testing.T) {
	tps := sdk.ProgressPattern{ID: "t.tps", Regexp: `tps: (?P<per_s>[0-9][0-9,]*)`, Unit: sdk.UnitToken, PerProcess: true}
	r := readAll(t, []sdk.ProgressPattern{tps}, "step:  1  tps: 12,345  tflops: 1.0\n")
	near(t, "tokens/s", r.Speed(speed.Shape{Micro: 1, Accumulation: 1, World: 2}).TokensPerS, 2*12345)
}

// Began is when the series the speed is read from first told: the
// training bar's, not a loading bar's before it. A redraw is read when the
// next one ends its line, so the first tick's time is the second's.
func TestBeganIsTheFirstReadingOfTheSpeedsSeries(t *testing.T) {
	keyed := sdk.ProgressPattern{ID: "t.keyed", Regexp: `\| *[0-9]+/(?P<of>[0-9?]+) \[[^<\]]*<[^,\]]*, *(?P<per_s>[0-9.]+)it/s`, Unit: sdk.UnitStep}
	set, err := speed.Compile([]sdk.ProgressPattern{keyed})
	if err != nil {
		t.Fatal(err)
	}
	loaded := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	clock := loaded
	r := set.NewReadingsAt(func() time.Time { return clock })
	if _, ok := r.Began(); ok {
		t.Fatal("Began() known before any reading")
	}
	m := r.Meter()
	m.Write([]byte("\rLoading checkpoint shards: 100%|##| 2/2 [00:03<00:00, 0.66it/s]\n"))
	clock = loaded.Add(10 * time.Second)
	for i := 1; i <= 5; i++ {
		clock = clock.Add(time.Second)
		fmt.Fprintf(m, "\r  5%%|5  | %d/200 [00:01<00:09, 4.00it/s]", i)
	}
	m.Close()
	if at, ok := r.Began(); !ok || !at.Equal(loaded.Add(12*time.Second)) {
		t.Fatalf("Began() = %v, %v; want the training bar's first tick read, 12s after the loading bar", at, ok)
	}
	var none *speed.Readings
	if _, ok := none.Began(); ok {
		t.Fatal("nil readings Began")
	}
	// A summary comes when training is over: it tells nothing of when it began.
	if at, ok := readAll(t, []sdk.ProgressPattern{barRate, final}, "{'train_samples_per_second': 812.5}\n").Began(); ok {
		t.Fatalf("Began() = %v from a summary alone", at)
	}
}
