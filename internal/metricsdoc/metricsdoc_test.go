package metricsdoc

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	doc := "# x\n| name | type | labels | meaning |\n|---|---|---|---|\n" +
		"| `a_total` | counter | sts | text |\n" +
		"| `b_seconds` | histogram | | text |\n" +
		"not a row `c` | gauge |\n"
	got, err := Parse(strings.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0] != (Metric{"a_total", "counter"}) || got[1] != (Metric{"b_seconds", "histogram"}) {
		t.Fatalf("Parse = %v", got)
	}
	series := strings.Join(SeriesNames(got), " ")
	if series != "a_total b_seconds_bucket b_seconds_count b_seconds_sum" {
		t.Fatalf("SeriesNames = %s", series)
	}
}

func TestParseRejectsDuplicatesAndEmpty(t *testing.T) {
	if _, err := Parse(strings.NewReader("| `a` | gauge | | x |\n| `a` | gauge | | y |\n")); err == nil {
		t.Fatal("duplicate row accepted")
	}
	if _, err := Parse(strings.NewReader("nothing here\n")); err == nil {
		t.Fatal("empty reference accepted")
	}
}

func TestLoadRepositoryReference(t *testing.T) {
	metrics, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	if len(metrics) < 30 {
		t.Fatalf("docs/metrics.md lists only %d metrics", len(metrics))
	}
}
