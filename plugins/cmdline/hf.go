package cmdline

import (
	"fmt"
	"strings"
	"unicode"
)

// ParseBool reads a truth value as HfArgumentParser's string_to_bool
// does: yes/no, true/false, t/f, y/n, 1/0, in any case.
func ParseBool(s string) (bool, error) {
	switch strings.ToLower(s) {
	case "yes", "true", "t", "y", "1":
		return true, nil
	case "no", "false", "f", "n", "0":
		return false, nil
	}
	return false, fmt.Errorf("invalid truth value %q (want yes/no, true/false, t/f, y/n or 1/0)", s)
}

// HFNames returns the two spellings HfArgumentParser accepts for a
// dataclass field: "--per_device_train_batch_size" and
// "--per-device-train-batch-size" (one when the name has no underscore).
// field may be given with or without its leading dashes.
func HFNames(field string) []string {
	field = strings.TrimLeft(field, "-")
	dashed := strings.ReplaceAll(field, "_", "-")
	if dashed == field {
		return []string{"--" + field}
	}
	return []string{"--" + field, "--" + dashed}
}

// hfNegatives are the --no_ spellings HfArgumentParser adds for a boolean
// field whose default is True.
func hfNegatives(field string) []string {
	field = strings.TrimLeft(field, "-")
	return []string{"--no_" + field, "--no-" + strings.ReplaceAll(field, "_", "-")}
}

// hfBoolHit is one occurrence of a boolean field.
type hfBoolHit struct {
	index    int
	negative bool
	form     FlagForm // Bare, Space (with a truth word after it) or Equals
	name     string
	word     string // the truth word typed, for Space and Equals
	value    bool
}

// hfBoolHits finds every occurrence of a boolean field before a bare "--".
func hfBoolHits(args []string, field string) []hfBoolHit {
	positives, negatives := HFNames(field), hfNegatives(field)
	end := optionsEnd(args)
	var hits []hfBoolHit
	for i := 0; i < end; i++ {
		tok := args[i]
		if contains(negatives, tok) {
			hits = append(hits, hfBoolHit{index: i, negative: true, form: Bare, name: tok})
			continue
		}
		for _, name := range positives {
			switch {
			case tok == name:
				h := hfBoolHit{index: i, form: Bare, name: name, value: true}
				if i+1 < end {
					if v, err := ParseBool(args[i+1]); err == nil {
						h.form, h.word, h.value = Space, args[i+1], v
						i++
					}
				}
				hits = append(hits, h)
			case strings.HasPrefix(tok, name+"="):
				word := tok[len(name)+1:]
				// A word string_to_bool refuses makes HF stop; read it as
				// not true.
				v, _ := ParseBool(word)
				hits = append(hits, hfBoolHit{index: i, form: Equals, name: name, word: word, value: v})
			default:
				continue
			}
			break
		}
	}
	return hits
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// HFBool reads a HfArgumentParser boolean field ("bf16",
// "gradient_checkpointing") from a script's arguments: true when the flag
// is bare or followed by a true-ish word, false after a false-ish word or
// --no_<field> / --no-<field>. The last occurrence wins; present is false
// when the field is not given at all.
func HFBool(args []string, field string) (value bool, present bool) {
	hits := hfBoolHits(args, field)
	if len(hits) == 0 {
		return false, false
	}
	return hits[len(hits)-1].value, true
}

// exclusiveHFBools are fields that must not both be true: setting one true
// turns the other off.
var exclusiveHFBools = map[string]string{
	"bf16": "fp16", "fp16": "bf16",
	"bf16_full_eval": "fp16_full_eval", "fp16_full_eval": "bf16_full_eval",
}

// SetHFBool returns args with a HfArgumentParser boolean field set to v,
// keeping the form the user typed: a bare flag stays bare when v is true
// (and gets "False" after it otherwise), a typed truth word is replaced by
// the matching word of the same kind and case (true/false, yes/no, 1/0,
// ...), a --no_<field> becomes --<field> for true. An absent field is
// added as `--<field>` for true and `--<field> False` for false. Setting
// bf16 (fp16, bf16_full_eval, fp16_full_eval) true removes its
// counterpart where that is on, so both are never true.
func SetHFBool(args []string, field string, v bool) []string {
	field = strings.TrimLeft(field, "-")
	out := append([]string{}, args...)
	hits := hfBoolHits(out, field)
	switch {
	case len(hits) == 0:
		add := []string{"--" + field}
		if !v {
			add = append(add, "False")
		}
		out = insertAt(out, optionsEnd(out), add...)
	default:
		out = setHFBoolHit(out, hits[len(hits)-1], field, v)
	}
	if other, ok := exclusiveHFBools[field]; ok && v {
		if on, _ := HFBool(out, other); on {
			out = removeHFBool(out, other)
		}
	}
	return out
}

// setHFBoolHit rewrites one occurrence of a boolean field to v.
func setHFBoolHit(out []string, h hfBoolHit, field string, v bool) []string {
	switch {
	case h.negative && !v, !h.negative && h.form == Bare && v:
		return out
	case h.negative:
		if strings.HasPrefix(h.name, "--no-") {
			out[h.index] = "--" + strings.ReplaceAll(field, "_", "-")
		} else {
			out[h.index] = "--" + field
		}
		return out
	case h.form == Bare:
		return insertAt(out, h.index+1, truthWord(v, ""))
	case h.form == Space:
		out[h.index+1] = truthWord(v, h.word)
	default:
		out[h.index] = h.name + "=" + truthWord(v, h.word)
	}
	return out
}

// removeHFBool removes every positive occurrence of a boolean field, with
// its truth word.
func removeHFBool(args []string, field string) []string {
	drop := map[int]bool{}
	for _, h := range hfBoolHits(args, field) {
		if h.negative {
			continue
		}
		drop[h.index] = true
		if h.form == Space {
			drop[h.index+1] = true
		}
	}
	out := make([]string, 0, len(args))
	for i, a := range args {
		if !drop[i] {
			out = append(out, a)
		}
	}
	return out
}

// truthWord spells v like the word the user typed: the same pair
// (true/false, t/f, yes/no, y/n, 1/0) in the same case; "True"/"False"
// when there is nothing to follow.
func truthWord(v bool, like string) string {
	pairs := [][2]string{{"true", "false"}, {"t", "f"}, {"yes", "no"}, {"y", "n"}, {"1", "0"}}
	lower := strings.ToLower(like)
	for _, p := range pairs {
		if lower != p[0] && lower != p[1] {
			continue
		}
		w := p[1]
		if v {
			w = p[0]
		}
		switch {
		case like == strings.ToUpper(like) && strings.ToUpper(like) != lower:
			return strings.ToUpper(w)
		case unicode.IsUpper(rune(like[0])):
			return strings.ToUpper(w[:1]) + w[1:]
		}
		return w
	}
	if v {
		return "True"
	}
	return "False"
}
