package integration

import (
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// Golden files: the expected samples of a StatefulSet live in testdata/scenarios/<name>.prom,
// one file per expectation, in the form workload renders a scrape:
//
//   - one sample a line, `name{labels} value`, without the namespace and statefulset
//     labels; labels sorted; lines sorted; numbers formatted by formatValue; no blank
//     lines and no comments (-update would drop them: comment in the test instead);
//   - every sample the exporter serves for the StatefulSet (bindDurationSeries aside, as
//     in workload): a sample missing or one too many fails;
//   - a value may be a placeholder: <ts> is a timestamp between the fixture's start and
//     the scrape (see render); any other <name> stands for a value the test computes at
//     run time and passes in vars (e.g. <pvc_created>, a PVC's creation time).
//
// go test ./tests/integration/ -run ... -update rewrites the golden files from what the
// exporter served: see waitGolden.

var update = flag.Bool("update", false, "rewrite the golden files from the scrapes")

const goldenDir = "testdata/scenarios"

// settle is how long, with -update, a state that differs from the golden file must stay
// unchanged before it is written as the final one. It is longer than every time-based
// threshold of the shared exporter (stallAfter; stuckAfter after a grace period of 1s
// in the terminating scenario), so that, say, a rollout that is about to count as stalled
// is not written as not stalled.
const settle = 2 * (stallAfter + stuckAfter)

// vars are the values, formatted by formatValue, of the placeholders of a golden file
// other than <ts>, keyed by placeholder ("<pvc_created>").
type vars map[string]string

func goldenPath(name string) string {
	return filepath.Join(goldenDir, name+".prom")
}

// readGolden returns the expected lines of golden file name with the placeholders of v
// replaced by their values; <ts> stays, as render writes it. With -update a file that is
// missing or cannot be read reads as nil: waitGolden writes it anew.
func readGolden(t *testing.T, name string, v vars) []string {
	t.Helper()
	path := goldenPath(name)
	data, err := os.ReadFile(path)
	if err != nil {
		if *update {
			t.Logf("-update: %v", err)
			return nil
		}
		if errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("golden file %s missing: go test -run '%s' -update writes it", path, t.Name())
		}
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	keep := []string{ts}
	for p := range v {
		keep = append(keep, p)
	}
	canonical := make([]string, 0, len(lines))
	for i, l := range lines {
		var err error
		if value := l[strings.LastIndexByte(l, ' ')+1:]; l == "" || strings.HasPrefix(l, "#") {
			err = errors.New("a blank line or a comment: golden files hold samples only")
		} else if strings.HasPrefix(value, "<") && !slices.Contains(keep, value) {
			err = fmt.Errorf("placeholder %s has no value in this test", value)
		} else {
			l, err = expectedLine(l, keep...)
		}
		if err != nil {
			if *update {
				t.Logf("-update: %s:%d: %v", path, i+1, err)
				return nil
			}
			t.Fatalf("%s:%d: %v", path, i+1, err)
		}
		canonical = append(canonical, l)
	}
	sort.Strings(canonical)
	if !slices.Equal(canonical, lines) && !*update {
		// It compares the same, but -update would rewrite it.
		t.Errorf("%s is not in the form -update writes (lines and labels sorted, numbers formatted alike); it would be:\n%s",
			path, strings.Join(canonical, "\n"))
	}
	for i, l := range canonical {
		j := strings.LastIndexByte(l, ' ')
		if value, ok := v[l[j+1:]]; ok {
			canonical[i] = l[:j+1] + value
		}
	}
	return expect(t, strings.Join(canonical, "\n"))
}

// written records the golden files -update wrote in this test binary, so that two tests
// expecting the same file (TestScenarios/healthy and TestLeastPrivilege) must agree.
var (
	writtenMu sync.Mutex
	written   = map[string]writtenGolden{}
)

type writtenGolden struct {
	content, by string
}

// writeGolden writes the rendered lines got as golden file name, the values of v
// replaced by their placeholders.
func writeGolden(t *testing.T, name string, got []string, v vars) {
	t.Helper()
	path := goldenPath(name)
	byValue := map[string]string{}
	for p, value := range v {
		if other, ok := byValue[value]; ok {
			t.Fatalf("-update: placeholders %s and %s have the same value %s", other, p, value)
		}
		byValue[value] = p
	}
	lines := make([]string, 0, len(got))
	for _, l := range got {
		j := strings.LastIndexByte(l, ' ')
		if p, ok := byValue[l[j+1:]]; ok {
			l = l[:j+1] + p
		}
		lines = append(lines, l)
	}
	sort.Strings(lines)
	content := strings.Join(lines, "\n") + "\n"

	writtenMu.Lock()
	prev, seen := written[path]
	if !seen {
		written[path] = writtenGolden{content, t.Name()}
	}
	writtenMu.Unlock()
	if seen {
		if prev.content != content {
			t.Errorf("-update: %s and %s saw different samples for %s:\n%s\nand:\n%s", prev.by, t.Name(), path, prev.content, content)
		}
		return
	}

	old, err := os.ReadFile(path)
	if err == nil && string(old) == content {
		t.Logf("-update: %s unchanged", path)
		return
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("-update: rewrote %s:\n%s", path, content)
}

// waitGolden waits until the samples of StatefulSet ns/ns on x are exactly those of
// golden file name, calling invariant on every scrape as waitWorkloadWith does, and
// returns the scrape and the expected lines (for further comparisons).
//
// With -update it accepts the golden file's state as without, and otherwise, when the
// file is missing or the exporter serves something else, the first state that stayed
// unchanged for settle; it writes that scrape back as golden file name, so that without
// a change in the exporter the file is rewritten byte for byte.
func (f *fixture) waitGolden(t *testing.T, x *exporter, ns, name string, v vars, invariant func(*scrape) error) (*scrape, []string) {
	t.Helper()
	want := readGolden(t, name, v)
	if !*update {
		return f.waitWorkloadWith(t, x, ns, want, invariant), want
	}
	var last []string
	var since time.Time
	s := poll(t, x, "samples of statefulset "+ns+" (-update)", func(s *scrape) (bool, string) {
		got := f.workload(s, ns)
		d := diff(want, got)
		if want != nil && d == "" {
			return true, ""
		}
		if len(got) == 0 || !slices.Equal(got, last) {
			last, since = got, s.end
			return false, fmt.Sprintf("not as in %s yet %s", goldenPath(name), d)
		}
		if unchanged := s.end.Sub(since); unchanged < settle {
			return false, fmt.Sprintf("not as in %s, unchanged for %s only %s", goldenPath(name), unchanged.Round(time.Millisecond), d)
		}
		return true, ""
	}, invariant)
	got := f.workload(s, ns)
	writeGolden(t, name, got, v)
	return s, got
}
