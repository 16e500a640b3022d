// Package metricsdoc reads the metrics reference in docs/metrics.md, the single list of
// what the exporter exports. Tests use it to keep the collector, the rules, the dashboards
// and the documentation in agreement.
package metricsdoc

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
)

// Metric is one row of the reference.
type Metric struct {
	Name string
	Type string // gauge, counter or histogram
}

// rowPattern matches a table row whose first cell is a back-quoted metric name and whose
// second cell is its type.
var rowPattern = regexp.MustCompile("^\\|\\s*`([a-zA-Z_:][a-zA-Z0-9_:]*)`\\s*\\|\\s*(gauge|counter|histogram|summary)\\s*\\|")

// Parse reads every metric row of a reference in the format of docs/metrics.md.
func Parse(r io.Reader) ([]Metric, error) {
	var metrics []Metric
	seen := map[string]bool{}
	scanner := bufio.NewScanner(r)
	for line := 1; scanner.Scan(); line++ {
		m := rowPattern.FindStringSubmatch(strings.TrimSpace(scanner.Text()))
		if m == nil {
			continue
		}
		if seen[m[1]] {
			return nil, fmt.Errorf("metricsdoc: line %d: %s listed twice", line, m[1])
		}
		seen[m[1]] = true
		metrics = append(metrics, Metric{Name: m[1], Type: m[2]})
	}
	if err := scanner.Err(); err != nil {
		return nil, fmt.Errorf("metricsdoc: %w", err)
	}
	if len(metrics) == 0 {
		return nil, fmt.Errorf("metricsdoc: no metric rows found")
	}
	return metrics, nil
}

// Load parses docs/metrics.md of this repository.
func Load() ([]Metric, error) {
	f, err := os.Open(Path())
	if err != nil {
		return nil, fmt.Errorf("metricsdoc: %w", err)
	}
	defer f.Close()
	return Parse(f)
}

// Path returns the location of docs/metrics.md in this repository's source tree.
func Path() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "docs", "metrics.md")
}

// SeriesNames returns every series name the metrics produce: a histogram or summary adds
// its _bucket, _sum and _count series. The result is sorted.
func SeriesNames(metrics []Metric) []string {
	var names []string
	for _, m := range metrics {
		switch m.Type {
		case "histogram":
			names = append(names, m.Name+"_bucket", m.Name+"_sum", m.Name+"_count")
		case "summary":
			names = append(names, m.Name, m.Name+"_sum", m.Name+"_count")
		default:
			names = append(names, m.Name)
		}
	}
	sort.Strings(names)
	return names
}
