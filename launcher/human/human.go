// Package human writes what vramrun shows people: sizes, command lines and
// environments in the one form its lines, pages and plans all use.
package human

import (
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"
)

// Bytes writes a size: GiB with one decimal below 10 GiB and none above,
// MiB below 1 GiB, bytes below 1 MiB ("2.3 GiB", "24 GiB", "512 MiB").
func Bytes(n int64) string {
	const gib, mib = 1 << 30, 1 << 20
	switch {
	case n >= 10*gib:
		return fmt.Sprintf("%.0f GiB", float64(n)/gib)
	case n >= gib:
		return fmt.Sprintf("%.1f GiB", float64(n)/gib)
	case n >= mib:
		return fmt.Sprintf("%.0f MiB", float64(n)/mib)
	default:
		return fmt.Sprintf("%d bytes", n)
	}
}

// Join writes argv so that a POSIX shell reads it back unchanged.
func Join(argv []string) string {
	out := make([]string, len(argv))
	for i, a := range argv {
		out[i] = Quote(a)
	}
	return strings.Join(out, " ")
}

// Quote quotes a word for a POSIX shell when it needs it. A word with
// control characters in it is written $'...' with them escaped, so that it
// neither moves the terminal nor breaks the line it is shown on.
func Quote(s string) string {
	if s == "" {
		return "''"
	}
	if Printable(s) != s {
		return "$'" + Printable(strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), "'", `\'`)) + "'"
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("-_./=:,+@%", c)) {
			return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
		}
	}
	return s
}

// Env writes environment assignments sorted by name, each value quoted:
// "A=1 B='x y'".
func Env(env map[string]string) string {
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+Quote(v))
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

// CommandLine is argv preceded by the environment assignments, as one line
// a user can paste into a shell.
func CommandLine(env map[string]string, argv []string) string {
	var parts []string
	if len(env) > 0 {
		parts = append(parts, Env(env))
	}
	if len(argv) > 0 {
		parts = append(parts, Join(argv))
	}
	return strings.Join(parts, " ")
}

// Printable escapes what a terminal would act on instead of showing: line
// breaks, escape sequences and every other control character become \n,
// \r, \t, \x1b and so on. vramrun passes what others wrote (a plugin's
// summary, an argv, an OOM text) through it before printing it on its own
// lines, so that none can forge a "vramrun:" line or move the cursor.
func Printable(s string) string {
	clean := true
	for _, r := range s {
		if isControl(r) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x100 && isControl(r):
			fmt.Fprintf(&b, `\x%02x`, r)
		case isControl(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func isControl(r rune) bool {
	return r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == '\u2028' || r == '\u2029' || r == utf8.RuneError
}
