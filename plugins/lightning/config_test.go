package lightning

import (
	"strings"
	"testing"
)

func TestEditConfig(t *testing.T) {
	batch := configEdit{Keys: []string{"data", "batch_size"}, Value: "16"}
	accum := configEdit{Keys: []string{"trainer", "accumulate_grad_batches"}, Value: "4"}
	tests := []struct {
		name  string
		src   string
		edits []configEdit
		want  string
	}{{
		name:  "value replaced in place, comments and layout kept",
		src:   "# training run\ntrainer:\n    max_steps: 100   # short\n    accumulate_grad_batches: 2\ndata:\n    batch_size: 64  # per GPU\n    num_workers: 4\n",
		edits: []configEdit{batch, accum},
		want:  "# training run\ntrainer:\n    max_steps: 100   # short\n    accumulate_grad_batches: 4\ndata:\n    batch_size: 16  # per GPU\n    num_workers: 4\n",
	}, {
		name:  "missing key added to its block mapping at the mapping's indentation",
		src:   "trainer:\n  max_steps: 100\ndata:\n  batch_size: 64\n",
		edits: []configEdit{batch, accum},
		want:  "trainer:\n  accumulate_grad_batches: 4\n  max_steps: 100\ndata:\n  batch_size: 16\n",
	}, {
		name:  "missing section added with the file's indentation step",
		src:   "# cfg\ndata:\n    batch_size: 64\n",
		edits: []configEdit{batch, accum},
		want:  "# cfg\ntrainer:\n    accumulate_grad_batches: 4\ndata:\n    batch_size: 16\n",
	}, {
		name:  "class_path data block",
		src:   "data:\n  class_path: mnist.MNISTDataModule\n  init_args:\n    batch_size: 64\n",
		edits: []configEdit{{Keys: []string{"data", "init_args", "batch_size"}, Value: "32"}},
		want:  "data:\n  class_path: mnist.MNISTDataModule\n  init_args:\n    batch_size: 32\n",
	}, {
		name:  "quoted value becomes a number",
		src:   "data:\n  batch_size: \"64\"\n",
		edits: []configEdit{batch},
		want:  "data:\n  batch_size: 16\n",
	}, {
		name:  "JSON keeps its layout and stays JSON",
		src:   "{\n  \"trainer\": {\"max_steps\": 100},\n  \"data\": {\"batch_size\": 64}\n}\n",
		edits: []configEdit{batch, accum},
		want:  "{\n  \"trainer\": {\"accumulate_grad_batches\": 4, \"max_steps\": 100},\n  \"data\": {\"batch_size\": 16}\n}\n",
	}, {
		name:  "JSON without the section",
		src:   "{\"data\": {\"batch_size\": 64}}",
		edits: []configEdit{batch, accum},
		want:  "{\"trainer\": {\"accumulate_grad_batches\": 4}, \"data\": {\"batch_size\": 16}}",
	}, {
		name:  "keys under a subcommand",
		src:   "fit:\n  data:\n    batch_size: 64\n",
		edits: []configEdit{{Keys: []string{"fit", "data", "batch_size"}, Value: "8"}, {Keys: []string{"fit", "trainer", "accumulate_grad_batches"}, Value: "8"}},
		want:  "fit:\n  trainer:\n    accumulate_grad_batches: 8\n  data:\n    batch_size: 8\n",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := editConfig([]byte(tt.src), tt.edits)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

// When the text cannot be edited in place the copy is re-encoded: it must
// still hold the new values, keep the other settings and comments, and
// leave an anchor's other uses alone.
func TestEditConfigReencodes(t *testing.T) {
	tests := []struct {
		name  string
		src   string
		edits []configEdit
		check map[string]string // key path -> value in the copy
	}{{
		name:  "aliased value",
		src:   "defaults: &bs 64\ndata:\n  batch_size: *bs # shared\nmodel:\n  batch_size: *bs\n",
		edits: []configEdit{{Keys: []string{"data", "batch_size"}, Value: "16"}},
		check: map[string]string{"data.batch_size": "16", "model.batch_size": "64", "defaults": "64"},
	}, {
		name:  "empty section",
		src:   "trainer:\ndata:\n  batch_size: 64\n",
		edits: []configEdit{{Keys: []string{"data", "batch_size"}, Value: "16"}, {Keys: []string{"trainer", "accumulate_grad_batches"}, Value: "4"}},
		check: map[string]string{"data.batch_size": "16", "trainer.accumulate_grad_batches": "4"},
	}, {
		name:  "aliased section",
		src:   "base: &d\n  batch_size: 64\n  num_workers: 2\ndata: *d\n",
		edits: []configEdit{{Keys: []string{"data", "batch_size"}, Value: "16"}},
		check: map[string]string{"data.batch_size": "16", "data.num_workers": "2", "base.batch_size": "64"},
	}, {
		name:  "empty file",
		src:   "# nothing yet\n",
		edits: []configEdit{{Keys: []string{"trainer", "accumulate_grad_batches"}, Value: "2"}},
		check: map[string]string{"trainer.accumulate_grad_batches": "2"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := editConfig([]byte(tt.src), tt.edits)
			if err != nil {
				t.Fatal(err)
			}
			d, err := parseConfig(got)
			if err != nil {
				t.Fatalf("copy does not parse: %v\n%s", err, got)
			}
			for path, want := range tt.check {
				if v := scalarText(d.lookup(strings.Split(path, "."))); v != want {
					t.Errorf("%s = %q, want %q in\n%s", path, v, want, got)
				}
			}
		})
	}
	got, err := editConfig([]byte("defaults: &bs 64\ndata:\n  batch_size: *bs # shared\n"), []configEdit{{Keys: []string{"data", "batch_size"}, Value: "16"}})
	if err != nil || !strings.Contains(string(got), "# shared") {
		t.Errorf("re-encoded copy lost its comment: %v\n%s", err, got)
	}
}

func TestEditConfigErrors(t *testing.T) {
	for _, src := range []string{"data: [1, 2\n", "- a\n- b\n", "data: 5\n"} {
		if _, err := editConfig([]byte(src), []configEdit{{Keys: []string{"data", "batch_size"}, Value: "16"}}); err == nil {
			t.Errorf("%q: no error", src)
		}
	}
}
