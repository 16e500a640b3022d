package main

import (
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"

	"github.com/KimMachineGun/automemlimit/memlimit"
	"github.com/alecthomas/kingpin/v2"
)

// memLimitFlags set the Go runtime's soft memory limit from the container's, as
// Prometheus' --auto-gomemlimit does (with the same library, already in our module
// graph through prometheus/prometheus).
type memLimitFlags struct {
	enabled bool
	ratio   float64
}

// defaultMemLimitRatio leaves 10% of the container's limit to what the Go runtime does
// not count (the binary's mapped text and data) and to its overshoot of a soft limit;
// docs/benchmarks.md ("GOMEMLIMIT") has the measurements.
const defaultMemLimitRatio = "0.9"

func (m *memLimitFlags) register(app *kingpin.Application) {
	app.Flag("auto-gomemlimit", "Set the Go runtime's soft memory limit (GOMEMLIMIT) to --auto-gomemlimit.ratio of the container's memory limit (cgroup), so that the garbage collector works harder near the limit instead of the container being OOM-killed. A GOMEMLIMIT environment variable takes precedence (and AUTOMEMLIMIT, the library's, over the ratio). Use --no-auto-gomemlimit to turn it off.").
		Default("true").BoolVar(&m.enabled)
	app.Flag("auto-gomemlimit.ratio", "Share of the container's memory limit given to the Go runtime, in (0, 1].").
		Default(defaultMemLimitRatio).Float64Var(&m.ratio)
}

func (m *memLimitFlags) validate() error {
	if m.ratio <= 0 || m.ratio > 1 {
		return fmt.Errorf("--auto-gomemlimit.ratio must be in (0, 1], got %g", m.ratio)
	}
	return nil
}

// defaultGCPercent is the exporter's GOGC unless the environment sets one. The live heap
// is small (about 1 kB per pod) and, once synced, the exporter allocates little (a few
// hundred kB per scrape), so collecting at 1.5 times the live heap instead of twice
// costs little CPU; it lowers the peak RSS of the initial lists, whose decoded pages are
// garbage as soon as the transforms have slimmed them, by about an eighth at 10,000 pods
// (docs/benchmarks.md, "Start-up").
const defaultGCPercent = 50

// setGCPercent applies defaultGCPercent when GOGC is not set.
func setGCPercent() {
	if _, ok := os.LookupEnv("GOGC"); !ok {
		debug.SetGCPercent(defaultGCPercent)
	}
}

// apply sets the limit when enabled and the process runs under a cgroup memory limit.
// automemlimit logs what it set, or why it set nothing.
func (m *memLimitFlags) apply(logger *slog.Logger) {
	if !m.enabled {
		return
	}
	_, _ = memlimit.SetGoMemLimitWithOpts(
		memlimit.WithRatio(m.ratio),
		memlimit.WithProvider(memlimit.FromCgroup),
		memlimit.WithLogger(logger.With("component", "automemlimit")),
	)
}
