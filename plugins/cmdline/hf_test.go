package cmdline

import (
	"reflect"
	"testing"
)

func TestParseBool(t *testing.T) {
	for _, s := range []string{"yes", "TRUE", "True", "t", "Y", "1"} {
		if v, err := ParseBool(s); err != nil || !v {
			t.Errorf("ParseBool(%q) = %v, %v; want true", s, v, err)
		}
	}
	for _, s := range []string{"no", "False", "F", "n", "0", "NO"} {
		if v, err := ParseBool(s); err != nil || v {
			t.Errorf("ParseBool(%q) = %v, %v; want false", s, v, err)
		}
	}
	for _, s := range []string{"", "2", "maybe", "tru", "on"} {
		if _, err := ParseBool(s); err == nil {
			t.Errorf("ParseBool(%q): no error", s)
		}
	}
}

func TestHFNames(t *testing.T) {
	if got := HFNames("per_device_train_batch_size"); !reflect.DeepEqual(got, []string{"--per_device_train_batch_size", "--per-device-train-batch-size"}) {
		t.Errorf("HFNames = %q", got)
	}
	if got := HFNames("--bf16"); !reflect.DeepEqual(got, []string{"--bf16"}) {
		t.Errorf("HFNames(--bf16) = %q", got)
	}
	f, ok := FindFlag(w("--per-device-train-batch-size 4 --do_train"), HFNames("per_device_train_batch_size")...)
	if !ok || f.Value != "4" {
		t.Errorf("FindFlag with HFNames = %+v, %v", f, ok)
	}
}

func TestHFBool(t *testing.T) {
	tests := []struct {
		args, field    string
		value, present bool
	}{
		{"--do_train --bf16 --output_dir x", "bf16", true, true},
		{"--bf16 True", "bf16", true, true},
		{"--bf16 false --lr 1", "bf16", false, true},
		{"--bf16=0", "bf16", false, true},
		{"--bf16=yes", "bf16", true, true},
		{"--gradient-checkpointing", "gradient_checkpointing", true, true},
		{"--gradient_checkpointing --no_gradient_checkpointing", "gradient_checkpointing", false, true},
		{"--no-remove-unused-columns --remove_unused_columns y", "remove_unused_columns", true, true},
		{"--fp16 --output_dir out", "bf16", false, false},
		{"--bf16_full_eval", "bf16", false, false},
		{"--bf16 -- --bf16 false", "bf16", true, true},
	}
	for _, tt := range tests {
		v, p := HFBool(w(tt.args), tt.field)
		if v != tt.value || p != tt.present {
			t.Errorf("HFBool(%q, %q) = %v, %v; want %v, %v", tt.args, tt.field, v, p, tt.value, tt.present)
		}
	}
}

func TestSetHFBool(t *testing.T) {
	tests := []struct {
		name, args, field string
		v                 bool
		want              string
	}{
		{"absent true", "--output_dir x", "gradient_checkpointing", true, "--output_dir x --gradient_checkpointing"},
		{"absent false", "--output_dir x", "remove_unused_columns", false, "--output_dir x --remove_unused_columns False"},
		{"bare stays bare", "--bf16 --lr 1", "bf16", true, "--bf16 --lr 1"},
		{"bare turned off", "--tf32 --lr 1", "tf32", false, "--tf32 False --lr 1"},
		{"word of the same kind and case", "--gradient_checkpointing false --x 1", "gradient_checkpointing", true, "--gradient_checkpointing true --x 1"},
		{"equals word", "--gradient-checkpointing=NO", "gradient_checkpointing", true, "--gradient-checkpointing=YES"},
		{"digit word", "--tf32 1", "tf32", false, "--tf32 0"},
		{"negative spelling turned on", "--no-remove-unused-columns", "remove_unused_columns", true, "--remove-unused-columns"},
		{"negative spelling kept", "--no_remove_unused_columns", "remove_unused_columns", false, "--no_remove_unused_columns"},
		{"bf16 on removes bare fp16", "--fp16 --lr 1", "bf16", true, "--lr 1 --bf16"},
		{"fp16 on removes worded bf16", "--bf16 True --lr 1", "fp16", true, "--lr 1 --fp16"},
		{"fp16 False left alone", "--fp16 False", "bf16", true, "--fp16 False --bf16"},
		{"full eval pair", "--fp16_full_eval", "bf16_full_eval", true, "--bf16_full_eval"},
		{"appended before --", "--lr 1 -- x", "bf16", true, "--lr 1 --bf16 -- x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := w(tt.args)
			out := SetHFBool(in, tt.field, tt.v)
			if !reflect.DeepEqual(out, w(tt.want)) {
				t.Errorf("SetHFBool(%q, %q, %v) = %q, want %q", tt.args, tt.field, tt.v, out, w(tt.want))
			}
			if !reflect.DeepEqual(in, w(tt.args)) {
				t.Errorf("the input was changed: %q", in)
			}
			if v, p := HFBool(out, tt.field); !p || v != tt.v {
				t.Errorf("HFBool after SetHFBool = %v, %v; want %v, true", v, p, tt.v)
			}
		})
	}
}

func TestSetHFBoolNeverLeavesBothPrecisionsOn(t *testing.T) {
	for _, args := range []string{"--fp16", "--fp16 True", "--fp16=1 --fp16", "--fp16 --bf16 false", ""} {
		out := SetHFBool(w(args), "bf16", true)
		bf, _ := HFBool(out, "bf16")
		fp, _ := HFBool(out, "fp16")
		if !bf || fp {
			t.Errorf("SetHFBool(%q, bf16, true) = %q: bf16=%v fp16=%v", args, out, bf, fp)
		}
	}
}
