package cmdline

import (
	"reflect"
	"testing"
)

func TestFindFlag(t *testing.T) {
	tests := []struct {
		name  string
		args  string
		names []string
		want  Flag
		ok    bool
	}{
		{"space", "--lr 1e-3 --batch-size 32 --amp", []string{"-b", "--batch-size"},
			Flag{Name: "--batch-size", Value: "32", HasValue: true, Index: 2, Form: Space}, true},
		{"equals", "--batch_size=16 config/train_gpt2.py", []string{"--batch_size"},
			Flag{Name: "--batch_size", Value: "16", HasValue: true, Index: 0, Form: Equals}, true},
		{"short attached", "-b32 --amp", []string{"-b", "--batch-size"},
			Flag{Name: "-b", Value: "32", HasValue: true, Index: 0, Form: ShortAttached}, true},
		{"short equals", "-b=32", []string{"-b"},
			Flag{Name: "-b", Value: "32", HasValue: true, Index: 0, Form: Equals}, true},
		{"last occurrence wins across spellings", "-b 64 --lr 1 --batch-size 128 -b32", []string{"-b", "--batch-size"},
			Flag{Name: "-b", Value: "32", HasValue: true, Index: 6, Form: ShortAttached}, true},
		{"bare boolean before another flag", "--amp --amp-dtype bfloat16", []string{"--amp"},
			Flag{Name: "--amp", Index: 0, Form: Bare}, true},
		{"bare boolean at the end", "--lr 1 --amp", []string{"--amp"},
			Flag{Name: "--amp", Index: 2, Form: Bare}, true},
		{"negative number is a value", "--min-lr -1e-5 --x", []string{"--min-lr"},
			Flag{Name: "--min-lr", Value: "-1e-5", HasValue: true, Index: 0, Form: Space}, true},
		{"a prefix of another flag is not the flag", "--amp-dtype bfloat16", []string{"--amp"}, Flag{}, false},
		{"stops at --", "--lr 1 -- --batch-size 8", []string{"--batch-size"}, Flag{}, false},
		{"a value is not read as a flag", "--run-name --lr=x", []string{"--lr"},
			Flag{Name: "--lr", Value: "x", HasValue: true, Index: 1, Form: Equals}, true},
		{"the value of a matched flag is skipped", "--tag -b -b 4", []string{"--tag", "-b"},
			Flag{Name: "-b", Value: "4", HasValue: true, Index: 2, Form: Space}, true},
		{"-- is not a value", "--amp --", []string{"--amp"}, Flag{Name: "--amp", Index: 0, Form: Bare}, true},
		{"absent", "--lr 1", []string{"-b", "--batch-size"}, Flag{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, ok := FindFlag(w(tt.args), tt.names...)
			if ok != tt.ok || f != tt.want {
				t.Errorf("FindFlag(%q, %q) = %+v, %v; want %+v, %v", tt.args, tt.names, f, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestSetFlag(t *testing.T) {
	tests := []struct {
		name  string
		args  string
		names []string
		value string
		style Style
		want  string
	}{
		{"space kept", "--data-dir /data -b 128 --amp", []string{"-b", "--batch-size"}, "64", Space,
			"--data-dir /data -b 64 --amp"},
		{"equals kept although Space asked", "--batch_size=16 config/x.py", []string{"--batch_size"}, "8", Space,
			"--batch_size=8 config/x.py"},
		{"short attached kept", "-b128 --amp", []string{"-b", "--batch-size"}, "64", Space,
			"-b64 --amp"},
		{"only the last occurrence changes", "-b 64 --batch-size 128", []string{"-b", "--batch-size"}, "32", Space,
			"-b 64 --batch-size 32"},
		{"bare gets a value", "--amp-dtype --lr 1", []string{"--amp-dtype"}, "bfloat16", Space,
			"--amp-dtype bfloat16 --lr 1"},
		{"bare gets an equals value in Equals style", "--amp-dtype", []string{"--amp-dtype"}, "float16", Equals,
			"--amp-dtype=float16"},
		{"absent appended, Space", "--lr 1", []string{"--grad-accum-steps"}, "2", Space,
			"--lr 1 --grad-accum-steps 2"},
		{"absent appended, Equals (nanoGPT)", "config/train_gpt2.py --batch_size=16", []string{"--gradient_accumulation_steps"}, "80", Equals,
			"config/train_gpt2.py --batch_size=16 --gradient_accumulation_steps=80"},
		{"absent appended before --", "--lr 1 -- extra", []string{"--bsz"}, "4", Space,
			"--lr 1 --bsz 4 -- extra"},
		{"absent short attached", "--lr 1", []string{"-b"}, "16", ShortAttached,
			"--lr 1 -b16"},
		{"absent bare", "--lr 1", []string{"--amp"}, "", Bare,
			"--lr 1 --amp"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := w(tt.args)
			out := SetFlag(in, tt.names, tt.value, tt.style)
			if !reflect.DeepEqual(out, w(tt.want)) {
				t.Errorf("SetFlag = %q, want %q", out, w(tt.want))
			}
			if !reflect.DeepEqual(in, w(tt.args)) {
				t.Errorf("the input was changed: %q", in)
			}
			if f, ok := FindFlag(out, tt.names...); !ok || f.Value != tt.value {
				t.Errorf("FindFlag after SetFlag = %+v, %v; want value %q", f, ok, tt.value)
			}
		})
	}
}

func TestSetFlagKeepsOtherTokensByteForByte(t *testing.T) {
	in := []string{"--name", "my run  (2)", "--lr", "3e-4", "--batch-size", "32", "--note=a=b", "data dir/"}
	out := SetFlag(in, []string{"--batch-size"}, "16", Space)
	want := []string{"--name", "my run  (2)", "--lr", "3e-4", "--batch-size", "16", "--note=a=b", "data dir/"}
	if !reflect.DeepEqual(out, want) {
		t.Errorf("SetFlag = %q, want %q", out, want)
	}
}

func TestRemoveFlag(t *testing.T) {
	tests := []struct {
		args  string
		names []string
		want  string
	}{
		{"--amp --amp-dtype bfloat16 --lr 1", []string{"--amp"}, "--amp-dtype bfloat16 --lr 1"},
		{"-b 64 --lr 1 --batch-size=32 -b16", []string{"-b", "--batch-size"}, "--lr 1"},
		{"--fp16 True --lr 1", []string{"--fp16"}, "--lr 1"},
		{"--lr 1 -- --amp", []string{"--amp"}, "--lr 1 -- --amp"},
		{"--lr 1", []string{"--amp"}, "--lr 1"},
	}
	for _, tt := range tests {
		if out := RemoveFlag(w(tt.args), tt.names...); !reflect.DeepEqual(out, w(tt.want)) {
			t.Errorf("RemoveFlag(%q, %q) = %q, want %q", tt.args, tt.names, out, w(tt.want))
		}
	}
}

func TestAddSwitch(t *testing.T) {
	cases := []struct {
		args []string
		want []string
	}{
		{[]string{"-b", "8"}, []string{"-b", "8", "--amp"}},
		{[]string{"-b", "8", "--", "extra"}, []string{"-b", "8", "--amp", "--", "extra"}},
		{[]string{"--amp", "-b", "8"}, []string{"--amp", "-b", "8"}},
	}
	for _, c := range cases {
		if got := AddSwitch(c.args, "--amp"); !reflect.DeepEqual(got, c.want) {
			t.Errorf("AddSwitch(%q) = %q, want %q", c.args, got, c.want)
		}
	}
}
