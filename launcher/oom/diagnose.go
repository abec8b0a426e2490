package oom

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/vramrun/vramrun/sdk"
)

const (
	// windowLines is how far back from an OOM line its traceback and an
	// earlier match of the same runtime may be (an allocator's dump can put
	// hundreds of lines between its own report and the exception).
	windowLines = 2000
	// detailRadius is how many lines around an OOM line Detail figures are
	// taken from.
	detailRadius = 3
	// historyCap bounds the earlier matches kept for filling figures.
	historyCap = 16
	// maxOthers bounds the other processes listed.
	maxOthers = 64
	// maxFollowLineBytes bounds each line after an OOM line kept for the
	// message; the match itself sees the whole line.
	maxFollowLineBytes = 4 << 10
	// sigkill is Linux's signal number for SIGKILL, which is also what the
	// kernel's OOM killer sends.
	sigkill = 9
)

// Ending is how an attempt's process ended, as far as it is known.
type Ending struct {
	// Exited is false for a log given to explain without an exit status.
	Exited   bool
	ExitCode int
	// Signal is the signal that ended the process (9 for SIGKILL), 0 if none.
	Signal int
	// HostOOMKills is how much the cgroup's oom_kill counter rose during the
	// attempt (0 when unknown or none).
	HostOOMKills int
	// KernelOOM is set when the kernel log showed an OOM kill of the job;
	// KernelLogRead when the log could be read at all.
	KernelOOM, KernelLogRead bool
	// JobPIDs are the job's processes seen during the attempt: an OOM text
	// that lists one of them among the GPU's processes is not counting
	// another process (see withoutJob).
	JobPIDs []int
}

// killed says whether the process died of SIGKILL, directly or as a shell
// reports it (128+9).
func (e Ending) killed() bool {
	return e.Signal == sigkill || e.Exited && e.ExitCode == 128+sigkill
}

// Diagnose reads an attempt's combined output (or a log given to explain)
// and the way the process ended, and returns the explain --json diagnosis
// with NextFixes empty (the planner fills it). script is the user's training
// script, for telling its eval*/valid* functions; "" when unknown.
//
// The diagnosis is about the last OOM text in the output, since a job may
// survive earlier ones. Figures missing from that text are taken from Detail
// texts around it, then from the nearest earlier, different text of the same
// runtime in the window (an allocator's own report before the exception). Without any
// OOM text, a SIGKILL means a host OOM. Memory stays bounded: a line longer
// than MaxLine is read through windows of MaxLine bytes (an OOM text is found
// in any of them; tracebacks, Detail and Follow texts in its first), and only a
// summary of the window before the latest OOM is kept.
//
// On a read error Diagnose returns the diagnosis of what it read, with the
// error.
func Diagnose(m *Matcher, r io.Reader, end Ending, script string) (Diagnosis, error) {
	if m == nil || r == nil {
		return NoOOM(), errors.New("oom: Diagnose needs a matcher and a reader")
	}
	d := &diagnoser{m: m, script: script}
	d.split.emit = d.line
	_, err := io.Copy(writerFunc(d.write), r)
	d.split.flush()
	if err != nil {
		err = fmt.Errorf("reading output: %w", err)
	}
	return d.diagnosis(end), err
}

// writerFunc adapts the line splitter to io.Copy.
type writerFunc func(p []byte)

func (w writerFunc) Write(p []byte) (int, error) {
	w(p)
	return len(p), nil
}

// diagnoser follows the output line by line, keeping only what the latest
// OOM needs.
type diagnoser struct {
	m      *Matcher
	script string
	split  lineSplitter
	// near finds the lines that may hold an OOM text (see Scanner), with
	// the matcher's filters (nil until the output needs them).
	near    anchorHits
	f       *filters
	lineNo  int
	scratch []int
	tb      traceback
	// recent are the Detail findings of the last detailRadius lines.
	recent []detailFinding
	// history are earlier OOM matches in the window, oldest first.
	history []sighting
	cand    *candidate
}

// detailFinding is what the Detail patterns found on one line.
type detailFinding struct {
	lineNo int
	figs   figures
	others []ProcessUsage
}

// sighting is an earlier OOM match, kept to fill a later one's figures.
type sighting struct {
	id, framework string
	lineNo        int
	figs          figures
}

// candidate is the latest OOM match and what was gathered around it.
type candidate struct {
	p      *compiledPattern
	lineNo int
	groups map[string]string
	phase  sdk.Phase
	// lines are the OOM line and the lines of its Follow window seen so
	// far; lastFollow indexes the last one a Follow expression matched.
	lines      []string
	lastFollow int
	followDone []bool
	followLeft int
	afterLeft  int
	nearby     []nearbyFigures
	others     []ProcessUsage
	earlier    *figures
}

type nearbyFigures struct {
	distance int
	figs     figures
}

// write takes the next part of the output.
func (d *diagnoser) write(p []byte) { d.near.feed(d.anchors(), &d.split, p) }

// anchors are the matcher's anchors, its filters built on first use (an
// empty output needs none).
func (d *diagnoser) anchors() *anchorSet {
	if d.f == nil {
		d.f = d.m.filters()
	}
	return d.f.anchors
}

// trigger is firstTrigger for the line being emitted, skipped where no
// anchor is.
func (d *diagnoser) trigger(line []byte) (int, []int) {
	if !d.near.mayHold(d.anchors(), &d.split, line) {
		return -1, nil
	}
	return d.m.firstTrigger(line, &d.scratch)
}

func (d *diagnoser) line(line []byte, cont bool) {
	if cont {
		d.window(line)
		return
	}
	d.lineNo++
	d.tb.observe(line, d.lineNo, d.m, d.script)

	found := detailFinding{lineNo: d.lineNo}
	hasDetail := false
	d.m.detailMatches(line, &d.scratch, func(p *compiledPattern, groups map[string]string) {
		hasDetail = true
		found.figs.fillFrom(figuresOf(groups, p.decl.DTypeSizes))
		if u, ok := processUsage(groups); ok {
			found.others = append(found.others, u)
		}
	})

	if idx, loc := d.trigger(line); idx >= 0 {
		d.retire()
		d.cand = d.newCandidate(&d.m.patterns[idx], line, loc)
		if hasDetail {
			d.cand.nearby = append(d.cand.nearby, nearbyFigures{0, found.figs})
			d.cand.addOthers(found.others)
		}
	} else if c := d.cand; c != nil {
		inFollow := c.followLeft > 0
		if inFollow {
			c.followLeft--
			c.follow(line)
		}
		if hasDetail && (inFollow || c.afterLeft > 0) {
			c.nearby = append(c.nearby, nearbyFigures{d.lineNo - c.lineNo, found.figs})
			if inFollow {
				c.addOthers(found.others)
			}
		}
		if c.afterLeft > 0 {
			c.afterLeft--
		}
	}

	if hasDetail {
		d.recent = append(d.recent, found)
	}
	keep := d.recent[:0]
	for _, f := range d.recent {
		if d.lineNo-f.lineNo < detailRadius {
			keep = append(keep, f)
		}
	}
	d.recent = keep
}

// window looks for an OOM text in a later window of an over-long line (see
// lineSplitter); the rest of the line's reading was done on its first. The
// latest match wins, as between lines; a match on the same line replaces the
// candidate without filing it as an earlier one (windows overlap, so it may
// be the same text again).
func (d *diagnoser) window(line []byte) {
	idx, loc := d.trigger(line)
	if idx < 0 {
		return
	}
	if d.cand != nil && d.cand.lineNo != d.lineNo {
		d.retire()
	}
	d.cand = d.newCandidate(&d.m.patterns[idx], line, loc)
}

func (d *diagnoser) newCandidate(p *compiledPattern, line []byte, loc []int) *candidate {
	c := &candidate{
		p:          p,
		lineNo:     d.lineNo,
		groups:     groupsOf(p.re.get(), line, loc),
		phase:      d.tb.phaseAt(d.lineNo),
		lines:      []string{string(line)},
		followDone: make([]bool, len(p.follow)),
		afterLeft:  detailRadius,
	}
	if len(p.follow) > 0 {
		// The sdk's window: each Follow expression once, within the next
		// 2*len(Follow)+2 lines.
		c.followLeft = 2*len(p.follow) + 2
	}
	for _, f := range d.recent {
		c.nearby = append(c.nearby, nearbyFigures{d.lineNo - f.lineNo, f.figs})
	}
	for i := len(d.history) - 1; i >= 0; i-- {
		h := d.history[i]
		if d.lineNo-h.lineNo > windowLines {
			break
		}
		// The nearest other text of the same runtime: the same text again
		// is either an earlier, separate failure or a log line repeating
		// this one (an op kernel's log before the exception), and adds
		// nothing.
		if h.framework == p.decl.Framework && h.id != p.decl.ID {
			figs := h.figs
			c.earlier = &figs
			break
		}
	}
	return c
}

// follow offers a line of the Follow window to the Follow expressions not
// matched yet, in order; the first that matches takes the line.
func (c *candidate) follow(line []byte) {
	kept := line
	if len(kept) > maxFollowLineBytes {
		kept = kept[:maxFollowLineBytes]
	}
	c.lines = append(c.lines, string(kept))
	for i, lazy := range c.p.follow {
		if c.followDone[i] {
			continue
		}
		re := lazy.get()
		loc := re.FindSubmatchIndex(line)
		if loc == nil {
			continue
		}
		c.followDone[i] = true
		c.lastFollow = len(c.lines) - 1
		for name, v := range groupsOf(re, line, loc) {
			if _, ok := c.groups[name]; !ok {
				c.groups[name] = v
			}
		}
		return
	}
}

func (c *candidate) addOthers(us []ProcessUsage) {
next:
	for _, u := range us {
		if len(c.others) >= maxOthers {
			return
		}
		for _, o := range c.others {
			if o.PID == u.PID {
				continue next
			}
		}
		c.others = append(c.others, u)
	}
}

// figures are the candidate's own figures, then the nearest Detail ones,
// then the earlier match's.
func (c *candidate) figures() figures {
	f := figuresOf(c.groups, c.p.decl.DTypeSizes)
	sort.SliceStable(c.nearby, func(i, j int) bool { return abs(c.nearby[i].distance) < abs(c.nearby[j].distance) })
	for _, n := range c.nearby {
		f.fillFrom(n.figs)
	}
	if c.earlier != nil {
		f.fillFrom(*c.earlier)
	}
	return f
}

// retire files the current candidate away as an earlier match.
func (d *diagnoser) retire() {
	c := d.cand
	if c == nil {
		return
	}
	own := figuresOf(c.groups, c.p.decl.DTypeSizes)
	for _, n := range c.nearby {
		own.fillFrom(n.figs)
	}
	d.history = append(d.history, sighting{id: c.p.decl.ID, framework: c.p.decl.Framework, lineNo: c.lineNo, figs: own})
	if len(d.history) > historyCap {
		d.history = append(d.history[:0], d.history[len(d.history)-historyCap:]...)
	}
	d.cand = nil
}

func (d *diagnoser) diagnosis(end Ending) Diagnosis {
	c := d.cand
	if c == nil {
		return hostDiagnosis(end)
	}
	f := c.figures()
	diag := NoOOM()
	diag.OOM = true
	diag.Kind = c.p.decl.Kind
	diag.Framework = c.p.decl.Framework
	diag.Signature = c.p.decl.ID
	diag.Device = f.device
	diag.Phase = c.phase
	diag.TriedBytes = f.tried
	diag.CapacityBytes = f.capacity
	diag.FreeBytes = f.free
	diag.AllocatedBytes = f.allocated
	diag.ReservedUnallocatedBytes = f.reservedUnallocated
	diag.AllowedBytes = f.allowed
	if c.others != nil {
		diag.OtherProcesses = withoutJob(c.others, end.JobPIDs, f)
	}
	diag.Fragmented = f.fragmented()
	lines := make([]string, 0, c.lastFollow+1)
	for _, l := range c.lines[:c.lastFollow+1] {
		lines = append(lines, strings.TrimRight(l, " \t"))
	}
	diag.Message = strings.Join(lines, "\n")
	return diag
}

// hostDiagnosis is the diagnosis of output with no OOM text: a host OOM
// when the process died of SIGKILL or the kernel log shows the OOM killer
// ended it, else no OOM.
func hostDiagnosis(end Ending) Diagnosis {
	diag := NoOOM()
	if !end.killed() && !end.KernelOOM {
		return diag
	}
	if !end.KernelOOM && end.HostOOMKills == 0 && end.KernelLogRead {
		// The kernel log is there to read and records no OOM kill: the
		// job was killed by someone (kill -9, timeout -s KILL, a
		// scheduler), not by the OOM killer.
		return diag
	}
	diag.OOM = true
	diag.Kind = sdk.KindHost
	diag.Signature = SignatureSIGKILL
	var how string
	switch {
	case end.Signal == sigkill:
		how = "the job was killed by SIGKILL and printed no out-of-memory text"
	case end.killed():
		how = "the job exited with status 137 (a shell's report of SIGKILL) and printed no out-of-memory text"
	default:
		how = "the job printed no out-of-memory text"
	}
	switch {
	case end.KernelOOM:
		diag.Signature = SignatureOOMKill
		diag.Message = how + "; the kernel log shows the OOM killer killed it"
	case end.HostOOMKills > 0:
		diag.Signature = SignatureOOMKill
		diag.Message = how + "; the cgroup recorded " + strconv.Itoa(end.HostOOMKills) + " OOM kill(s) during the attempt"
	default:
		diag.Message = how + "; the kernel log cannot be read and no cgroup record confirms an OOM kill, so host memory is the likely cause"
	}
	return diag
}

// processUsage reads another process's usage from a Detail match.
func processUsage(groups map[string]string) (ProcessUsage, bool) {
	pidText, ok1 := groups["pid"]
	usedText, ok2 := groups["used"]
	if !ok1 || !ok2 {
		return ProcessUsage{}, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(pidText))
	if err != nil || pid < 0 {
		return ProcessUsage{}, false
	}
	used, err := ParseSize(usedText)
	if err != nil {
		return ProcessUsage{}, false
	}
	return ProcessUsage{PID: pid, UsedBytes: used}, true
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}
