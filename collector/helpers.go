package collector

import (
	"regexp"
	"sort"
	"strings"
	"time"
	"unicode/utf8"
)

// maxLabelValueLength bounds label values taken from object fields.
const maxLabelValueLength = 253

// boundedLabel makes a string safe as a label value: invalid UTF-8 replaced, the length
// capped.
func boundedLabel(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= maxLabelValueLength {
		return s
	}
	cut := maxLabelValueLength
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}

// uuidSuffix matches the per-process suffix leader election appends to identities,
// e.g. "ip-10-0-1-2.ec2.internal_4b6c5c1e-8f3a-4b8e-9d8e-2f1a0b9c7d6e".
var uuidSuffix = regexp.MustCompile(`_[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// holderLabel turns a Lease holder identity into a bounded label value without the
// per-process UUID suffix.
func holderLabel(identity string) string {
	return boundedLabel(uuidSuffix.ReplaceAllString(identity, ""))
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// sortedKeys returns a map's keys in order, for a stable exposition.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// unixSeconds is t as a _timestamp_seconds value.
func unixSeconds(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

func concat[T any](lists ...[]T) []T {
	var out []T
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}
