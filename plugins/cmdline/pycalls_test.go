package cmdline

import (
	"reflect"
	"testing"
)

func TestPythonCalls(t *testing.T) {
	src := `import lightning as L

base = {"max_epochs": 1}
defaults = {"devices": 2, 'accelerator': "gpu", "plugins": [a, b], "strategy": make(),
            "ids": [0, 1], "shape": (1,), **base}

def Trainer(devices=4):  # a def, not a call
    pass

def main():
    cfg = dict(devices=-1, num_nodes=2)
    trainer = L.Trainer(devices=[0, 1, 2], precision="bf16-mixed",
                        callbacks=[Cb(devices=9)])
    Trainer(**cfg)
    cli = LightningCLI(Model, trainer_defaults=defaults)
    other = LightningCLI(trainer_defaults=cfg, run=False)
    f(trainer_defaults=unknown)
`
	calls := PythonCalls([]byte(src), "Trainer")
	if len(calls) != 2 {
		t.Fatalf("%d Trainer calls, want 2: %+v", len(calls), calls)
	}
	first := calls[0]
	if first.Callee != "L.Trainer" || first.Line != 12 || first.Unpacked {
		t.Errorf("first call %+v", first)
	}
	want := map[string]PyValue{
		"devices":   {Text: "[0, 1, 2]", Literal: true},
		"precision": {Text: "bf16-mixed", Literal: true},
		"callbacks": {Text: "[Cb(devices=9)]"},
	}
	if !reflect.DeepEqual(first.Keywords, want) {
		t.Errorf("keywords %+v, want %+v", first.Keywords, want)
	}
	if second := calls[1]; second.Callee != "Trainer" || !second.Unpacked || len(second.Keywords) != 0 {
		t.Errorf("second call %+v, want **cfg unpacked", second)
	}

	var defaultsOf []PyValue
	for _, c := range PythonCalls([]byte(src), "") {
		if v, ok := c.Keywords["trainer_defaults"]; ok {
			defaultsOf = append(defaultsOf, v)
		}
	}
	if len(defaultsOf) != 3 {
		t.Fatalf("%d trainer_defaults, want 3", len(defaultsOf))
	}
	d := defaultsOf[0]
	wantDict := map[string]PyValue{
		"devices":     {Text: "2", Literal: true},
		"accelerator": {Text: "gpu", Literal: true},
		"plugins":     {Text: "[a, b]"},
		"strategy":    {Text: "make()"},
		"ids":         {Text: "[0, 1]", Literal: true},
		"shape":       {Text: "[1]", Literal: true},
	}
	if !reflect.DeepEqual(d.Dict, wantDict) || !d.Unpacked {
		t.Errorf("defaults %+v (unpacked %v), want %+v and unpacked (**base)", d.Dict, d.Unpacked, wantDict)
	}
	// cfg is the dict(...) assigned in main, before the call.
	if c := defaultsOf[1]; c.Unpacked || !reflect.DeepEqual(c.Dict, map[string]PyValue{"devices": {Text: "-1", Literal: true}, "num_nodes": {Text: "2", Literal: true}}) {
		t.Errorf("cfg %+v", c)
	}
	if u := defaultsOf[2]; u.Dict != nil || u.Literal || u.Text != "unknown" {
		t.Errorf("an unassigned name: %+v", u)
	}
}

// TestPythonCallsNamesResolveBackwards: a name takes the last assignment
// before the call, never one after it, and a name assigned itself does
// not loop.
func TestPythonCallsNamesResolveBackwards(t *testing.T) {
	src := `d = {"devices": 1}
d = {"devices": 2}
run(x=d)
d = {"devices": 3}
loop = loop
run(x=loop)
`
	calls := PythonCalls([]byte(src), "run")
	if len(calls) != 2 {
		t.Fatalf("%d calls", len(calls))
	}
	if got := calls[0].Keywords["x"].Dict["devices"].Text; got != "2" {
		t.Errorf("devices %q, want 2 (the assignment before the call)", got)
	}
	if got := calls[1].Keywords["x"]; got.Literal || got.Dict != nil || got.Text != "loop" {
		t.Errorf("self-assigned name: %+v", got)
	}
}
