// Package speed reads how fast a job trains from its own output, with the
// progress patterns its plugin (or the profile) declares: a tqdm bar's rate,
// nanoGPT's time per iteration, DeepSpeed's samples a second. It keeps the
// readings of one attempt, in bounded memory, and turns them into samples a
// second once the warm-up is dropped. No reading, no guess: an attempt with
// none has an unknown speed.
package speed

import (
	"bytes"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vramrun/vramrun/launcher/oom"
	"github.com/vramrun/vramrun/sdk"
)

// maxLine is the longest line looked at; a longer one is no progress line
// and is passed over whole. A bar redraw is far shorter, but some loggers
// put every metric on one line (verl's console line runs to 3-5 KB, its
// throughput near the end): the OOM scanner's 64 KiB, kept per stream.
const maxLine = 64 << 10

// window is how many of a pattern's latest readings are kept: the median
// is taken over them.
const window = 32

// pattern is one compiled declaration.
type pattern struct {
	decl sdk.ProgressPattern
	re   *regexp.Regexp
	// literal is what every line it matches contains; nil when none.
	literal []byte
	group   int
	// key is the index of the ProgressKeyGroup; 0 none.
	key int
	// invert says the group is a time a unit (s_per, ms_per); scale turns
	// the figure into seconds or units a second.
	invert bool
	scale  float64
}

// Set is the compiled progress patterns of one run, in preference order:
// the attempt's speed comes from the first that has steady readings.
type Set struct {
	patterns []pattern
}

// Compile checks and compiles decls; the first bad one is the error.
func Compile(decls []sdk.ProgressPattern) (*Set, error) {
	s := &Set{}
	for _, d := range decls {
		if err := d.Validate(); err != nil {
			return nil, err
		}
		re, err := regexp.Compile(d.Regexp)
		if err != nil {
			return nil, fmt.Errorf("progress pattern %s: %v", d.ID, err)
		}
		p := pattern{decl: d, re: re, scale: 1}
		for _, g := range sdk.ProgressGroups() {
			if i := re.SubexpIndex(g); i > 0 {
				p.group = i
				p.invert = g != "per_s"
				if g == "ms_per" {
					p.scale = 1e-3
				}
			}
		}
		p.key = max(re.SubexpIndex(sdk.ProgressKeyGroup), 0)
		if lit, ok := oom.RequiredLiteral(d.Regexp); ok {
			p.literal = []byte(lit)
		}
		s.patterns = append(s.patterns, p)
	}
	return s, nil
}

// Empty says the set has no patterns: there is nothing to read.
func (s *Set) Empty() bool { return s == nil || len(s.patterns) == 0 }

// Readings are what one attempt's output said of its speed, per pattern.
// Safe for concurrent use.
type Readings struct {
	set *Set
	mu  sync.Mutex
	// per holds each pattern's series, one per key value (see
	// sdk.ProgressKeyGroup), at most maxKeys.
	per [][]series
	// enough is closed once a pattern that is not a summary has want
	// readings after the warm-up (see Enough); nil when nobody asked.
	enough chan struct{}
	want   int
	// now stamps each series' first reading (see Began).
	now func() time.Time
}

// series is one pattern's readings: how many came, when the first did,
// and the latest window, in units a second.
type series struct {
	key    string
	count  int
	first  time.Time
	latest [window]float64
}

// maxKeys bounds the key values kept per pattern: a bar per evaluation
// set, not one per anything.
const maxKeys = 4

// NewReadings starts the readings of one attempt, on the system clock
// (the one NVML's samples are stamped with, see Began).
func (s *Set) NewReadings() *Readings { return s.NewReadingsAt(time.Now) }

// NewReadingsAt is NewReadings on the clock now.
func (s *Set) NewReadingsAt(now func() time.Time) *Readings {
	r := &Readings{set: s, now: now}
	if s != nil {
		r.per = make([][]series, len(s.patterns))
	}
	return r
}

func (r *Readings) add(i int, key string, v float64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	at := slices.IndexFunc(r.per[i], func(s series) bool { return s.key == key })
	if at < 0 {
		if len(r.per[i]) >= maxKeys {
			return
		}
		r.per[i] = append(r.per[i], series{key: key})
		at = len(r.per[i]) - 1
	}
	sr := &r.per[i][at]
	if sr.count == 0 {
		sr.first = r.now()
	}
	sr.latest[sr.count%window] = v
	sr.count++
	if r.enough != nil && r.want > 0 && sr.count >= r.want+WarmUp && !r.set.patterns[i].decl.Summary {
		close(r.enough)
		r.want = 0
	}
}

// Enough returns a channel that is closed once one pattern that is not a
// summary has n readings after the warm-up: the speed of a trial is then
// known. Call it before the meters write; nil readings never close it.
func (r *Readings) Enough(n int) <-chan struct{} {
	ch := make(chan struct{})
	if r == nil || r.set == nil {
		return ch
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.enough, r.want = ch, max(n, 1)
	return ch
}

// Meter is an io.Writer over one output stream that reads progress lines
// into Readings. Lines end at "\n" or "\r" (bars redraw with it). Not safe
// for concurrent writes: one Meter per stream.
type Meter struct {
	r    *Readings
	line []byte
	// over says the current line outgrew maxLine and is being passed over.
	over bool
}

// Meter returns a writer for one stream of the attempt.
func (r *Readings) Meter() *Meter { return &Meter{r: r} }

// Write reads p. It never fails, so it can sit in a tee.
func (m *Meter) Write(p []byte) (int, error) {
	n := len(p)
	if m.r.set.Empty() {
		return n, nil
	}
	for len(p) > 0 {
		i := bytes.IndexAny(p, "\r\n")
		if i < 0 {
			m.keep(p)
			break
		}
		m.keep(p[:i])
		m.end()
		p = p[i+1:]
	}
	return n, nil
}

// Close reads a last line that has no line break.
func (m *Meter) Close() error {
	m.end()
	return nil
}

func (m *Meter) keep(b []byte) {
	if m.over {
		return
	}
	if len(m.line)+len(b) > maxLine {
		m.over, m.line = true, m.line[:0]
		return
	}
	m.line = append(m.line, b...)
}

func (m *Meter) end() {
	if !m.over && len(m.line) > 0 {
		m.look(m.line)
	}
	m.line, m.over = m.line[:0], false
}

// look reads line with every pattern whose literal it holds.
func (m *Meter) look(line []byte) {
	for i := range m.r.set.patterns {
		p := &m.r.set.patterns[i]
		if p.literal != nil && !bytes.Contains(line, p.literal) {
			continue
		}
		sub := p.re.FindSubmatchIndex(line)
		if sub == nil || sub[2*p.group] < 0 {
			continue
		}
		// Thousands separators ("1,234") are dropped: a figure never has a
		// comma for a decimal point in these logs.
		v, err := strconv.ParseFloat(strings.ReplaceAll(string(line[sub[2*p.group]:sub[2*p.group+1]]), ",", ""), 64)
		if err != nil || v <= 0 || v != v || v > 1e300 {
			continue
		}
		v *= p.scale
		if p.invert {
			v = 1 / v
		}
		key := ""
		if p.key > 0 && sub[2*p.key] >= 0 {
			key = string(line[sub[2*p.key]:sub[2*p.key+1]])
		}
		m.r.add(i, key, v)
	}
}
