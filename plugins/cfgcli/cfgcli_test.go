package cfgcli

import (
	"reflect"
	"testing"
)

func TestSetOverride(t *testing.T) {
	args := []string{"train", "cfg.yaml", "a=1", "--flag=x", "+b.c=2", "a=3"}
	for _, c := range []struct {
		after      int
		key, value string
		want       []string
	}{
		{1, "a", "9", []string{"train", "cfg.yaml", "a=1", "--flag=x", "+b.c=2", "a=9"}},
		{1, "b.c", "7", []string{"train", "cfg.yaml", "a=1", "--flag=x", "+b.c=7", "a=3"}},
		{1, "flag", "y", []string{"train", "cfg.yaml", "a=1", "--flag=x", "+b.c=2", "a=3", "flag=y"}},
		{4, "b.c", "7", []string{"train", "cfg.yaml", "a=1", "--flag=x", "+b.c=2", "a=3", "b.c=7"}},
	} {
		if got := SetOverride(args, c.after, c.key, c.value); !reflect.DeepEqual(got, c.want) {
			t.Errorf("SetOverride(%d, %s=%s) = %q, want %q", c.after, c.key, c.value, got, c.want)
		}
	}
	if args[5] != "a=3" {
		t.Errorf("SetOverride changed its input: %q", args)
	}
}

func TestCount(t *testing.T) {
	v := Values{"n": "4", "auto": "auto", "zero": "0", "neg": "-1", "ref": "${oc.env:N}"}
	for key, want := range map[string]int{"n": 4, "auto": 1, "zero": 1, "neg": 1, "ref": 1, "unset": 1} {
		if got := v.Count(key); got != want {
			t.Errorf("Count(%s) = %d, want %d", key, got, want)
		}
	}
}
