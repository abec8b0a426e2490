package pyscript

import "github.com/vramrun/vramrun/sdk"

// tqdm's bar ends "| n/total [elapsed<remaining, rate{postfix}]", its rate
// "4.50it/s", or "1.23s/it" once an iteration takes longer than a second
// (tqdm's rate_fmt; the rate is an exponential average of the latest
// iterations, smoothing 0.3). The total keeps bars apart (sdk's "of"
// group): an HF evaluation bar draws in the same format between the
// training bar's ticks.
const (
	tqdmHead   = `\| *[0-9]+/(?P<of>[0-9?]+) \[[^<\]]*<[^,\]]*, *`
	tqdmRate   = tqdmHead + `(?P<per_s>[0-9]+(?:\.[0-9]+)?)it/s`
	tqdmPeriod = tqdmHead + `(?P<s_per>[0-9]+(?:\.[0-9]+)?)s/it`
)

// Tqdm are the two forms of a tqdm bar's rate, for a framework whose bar
// ticks once per unit; prefix, an RE2 expression, is what the bar's line
// starts with ("" for any bar, "Epoch [0-9]+: " for Lightning's training
// bar).
func Tqdm(framework, prefix string, unit sdk.ProgressUnit) []sdk.ProgressPattern {
	return []sdk.ProgressPattern{
		{ID: framework + ".tqdm_rate", Regexp: prefix + `.*?` + tqdmRate, Unit: unit},
		{ID: framework + ".tqdm_period", Regexp: prefix + `.*?` + tqdmPeriod, Unit: unit},
	}
}
