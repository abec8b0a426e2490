package main

import (
	"regexp"
	"strings"
	"sync"

	"github.com/spf13/cobra"
)

// pflag's parse errors carry Go's internals ("strconv.ParseInt: parsing
// ..."); a user needs the flag, the value and what it should be.
var badFlagValue = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^invalid argument "(.*)" for "(.*?)" flag: (.*)$`) })

func flagError(c *cobra.Command, err error) error {
	m := badFlagValue().FindStringSubmatch(err.Error())
	if m == nil {
		return usageError("%v", err)
	}
	value, names, cause := m[1], m[2], m[3]
	name := names
	if i := strings.LastIndex(names, ", "); i >= 0 {
		name = names[i+2:]
	}
	want := "valid"
	switch {
	case strings.Contains(cause, "ParseInt"), strings.Contains(cause, "Atoi"):
		want = "a whole number"
	case strings.Contains(cause, "duration"):
		want = "a duration such as 10s or 500ms"
	case strings.Contains(cause, "ParseBool"):
		want = "true or false"
	}
	return usageError("%s: %q is not %s", name, value, want)
}
