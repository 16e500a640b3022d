package derive

import "testing"

func TestClaimBaseAndPodOrdinal(t *testing.T) {
	for _, tc := range []struct {
		name, base string
		ok         bool
	}{
		{"data-db-0", "data-db", true},
		{"data-db-12", "data-db", true},
		{"data-db-2147483647", "data-db", true},
		{"data-db-2147483648", "", false},
		{"data-db-01", "", false},
		{"data-db-00", "", false},
		{"data-db-+1", "", false},
		{"data-db--1", "data-db-", true}, // a split, but no StatefulSet name ends with "-"
		{"data-db-", "", false},
		{"data-db-x", "", false},
		{"-0", "", false},
		{"0", "", false},
		{"", "", false},
		{"a-0", "a", true},
	} {
		base, ok := ClaimBase(tc.name)
		if base != tc.base || ok != tc.ok {
			t.Errorf("ClaimBase(%q) = %q, %v; want %q, %v", tc.name, base, ok, tc.base, tc.ok)
		}
	}
	for _, tc := range []struct {
		set, pod string
		n        int
		ok       bool
	}{
		{"web", "web-0", 0, true},
		{"web", "web-10", 10, true},
		{"web", "web-2147483647", 2147483647, true},
		{"web", "web-01", 0, false},
		{"web", "web-+1", 0, false},
		{"web", "web--1", 0, false},
		{"web", "web--0", 0, false},
		{"web", "web- 1", 0, false},
		{"web", "web-", 0, false},
		{"web", "web-x", 0, false},
		{"web", "web-1x", 0, false},
		{"web", "webx-1", 0, false},
		{"web", "other-1", 0, false},
		{"web", "web-99999999999999999999", 0, false},
	} {
		n, ok := podOrdinal(tc.set, tc.pod)
		if n != tc.n || ok != tc.ok {
			t.Errorf("podOrdinal(%q, %q) = %d, %v; want %d, %v", tc.set, tc.pod, n, ok, tc.n, tc.ok)
		}
	}
}
