package transformers

import (
	"strings"
	"testing"
)

func TestJSONObjectKeepsOrderAndSpelling(t *testing.T) {
	src := "{\n   \"b\": 1e-5,\n   \"a\": {\"y\": [1, 2], \"x\": \"auto\"},\n   \"path\": \"a&b<c>\"\n}\n"
	o, err := parseJSONObject([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	o.Child("a").Set("z", true)
	o.Set("c", 3)
	got, err := o.Indented([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	want := "{\n   \"b\": 1e-5,\n   \"a\": {\n      \"y\": [\n         1,\n         2\n      ],\n      \"x\": \"auto\",\n      \"z\": true\n   },\n   \"path\": \"a&b<c>\",\n   \"c\": 3\n}\n"
	if string(got) != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestJSONObjectDuplicateKeyKeepsFirstPlaceLastValue(t *testing.T) {
	o, err := parseJSONObject([]byte(`{"a": 1, "b": 2, "a": 3}`))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := o.Compact()
	if got != `{"a":3,"b":2}` {
		t.Errorf("got %s", got)
	}
}

func TestJSONObjectDelete(t *testing.T) {
	o, _ := parseJSONObject([]byte(`{"a": 1, "b": 2, "c": 3}`))
	o.Delete("b")
	o.Delete("missing")
	if got, _ := o.Compact(); got != `{"a":1,"c":3}` {
		t.Errorf("got %s", got)
	}
}

func TestParseJSONObjectErrors(t *testing.T) {
	for src, want := range map[string]string{
		"":                        "empty",
		"{\n  \"a\": 1,\n}":       "line 3, column 1",
		"[1, 2]":                  "not a JSON object",
		"{\"a\": 1} {\"b\": 2}":   "text after the JSON value",
		"{\n  \"a\": tru\n}":      "line 2, column 11",
		"{\"a\": {\"b\": [1, 2}}": "column 18",
	} {
		_, err := parseJSONObject([]byte(src))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("parse %q: err %v, want one with %q", src, err, want)
		}
	}
}

func TestJSONValueReaders(t *testing.T) {
	o, err := parseJSONObject([]byte(`{"n": 16, "f": 16.0, "s": "16", "x": 1.5, "auto": "auto", "t": true, "ts": "True", "no": "n", "null": null}`))
	if err != nil {
		t.Fatal(err)
	}
	get := func(k string) any { v, _ := o.Get(k); return v }
	for k, want := range map[string]int{"n": 16, "f": 16, "s": 16} {
		if n, ok := jsonInt(get(k)); !ok || n != want {
			t.Errorf("jsonInt(%s) = %d, %v", k, n, ok)
		}
	}
	for _, k := range []string{"x", "auto", "t", "null"} {
		if _, ok := jsonInt(get(k)); ok {
			t.Errorf("jsonInt(%s) read a whole number", k)
		}
	}
	if !isAuto(get("auto")) || isAuto(get("s")) {
		t.Error("isAuto")
	}
	for k, want := range map[string]bool{"t": true, "ts": true, "no": false} {
		if b, ok := jsonBool(get(k)); !ok || b != want {
			t.Errorf("jsonBool(%s) = %v, %v", k, b, ok)
		}
	}
	for _, k := range []string{"auto", "null", "n"} {
		if _, ok := jsonBool(get(k)); ok {
			t.Errorf("jsonBool(%s) read a truth value", k)
		}
	}
}

func TestIndentOf(t *testing.T) {
	for src, want := range map[string]string{
		"{\n    \"a\": 1\n}": "    ",
		"{\n\t\"a\": 1\n}":   "\t",
		"{\"a\": 1}":         "  ",
		"{\n\n  \"a\": 1}":   "  ",
	} {
		if got := indentOf([]byte(src)); got != want {
			t.Errorf("indentOf(%q) = %q, want %q", src, got, want)
		}
	}
}
