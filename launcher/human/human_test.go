package human

import "testing"

func TestBytes(t *testing.T) {
	for n, want := range map[int64]string{
		512: "512 bytes", 5 << 20: "5 MiB", 2<<30 + 300<<20: "2.3 GiB", 24 << 30: "24 GiB", 10 << 30: "10 GiB",
	} {
		if got := Bytes(n); got != want {
			t.Errorf("Bytes(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestJoin(t *testing.T) {
	got := Join([]string{"python", "train.py", "--name", "my run", "--x=it's", ""})
	want := `python train.py --name 'my run' '--x=it'\''s' ''`
	if got != want {
		t.Fatalf("Join = %s, want %s", got, want)
	}
}

func TestCommandLine(t *testing.T) {
	got := CommandLine(map[string]string{"B": "x y", "A": "1"}, []string{"python", "t.py"})
	if want := "A=1 B='x y' python t.py"; got != want {
		t.Fatalf("CommandLine = %q, want %q", got, want)
	}
	if got := CommandLine(nil, []string{"true"}); got != "true" {
		t.Fatalf("CommandLine without env = %q", got)
	}
}

func TestJoinReadsBackInAShell(t *testing.T) {
	argv := []string{"python3", "-c", "print('a b')", "", "--x=$HOME", "plain-1.0/x:y"}
	want := `python3 -c 'print('\''a b'\'')' '' '--x=$HOME' plain-1.0/x:y`
	if got := Join(argv); got != want {
		t.Errorf("Join = %q, want %q", got, want)
	}
}

func TestPrintable(t *testing.T) {
	for in, want := range map[string]string{
		"plain words":        "plain words",
		"a\nvramrun: forged": `a\nvramrun: forged`,
		"\x1b[2Jclear":       `\x1b[2Jclear`,
		"tab\there\r":        `tab\there\r`,
		"c1 \u009b31m":       `c1 \x9b31m`,
		"bad \xff byte":      `bad \ufffd byte`,
		"ok: ünïcödé — and emoji 🙂 stay": "ok: ünïcödé — and emoji 🙂 stay",
	} {
		if got := Printable(in); got != want {
			t.Errorf("Printable(%q) = %q, want %q", in, got, want)
		}
	}
	if got, want := Join([]string{"python", "x\ny", "it's\x1b"}), `python $'x\ny' $'it\'s\x1b'`; got != want {
		t.Errorf("Join = %s, want %s", got, want)
	}
}
