package collector

import (
	"slices"
	"sync"
	"time"
)

// selfMetrics is the exporter's state about itself and its view of the API server: what
// the probe, the watches and the collections report, read by the self families
// (families_self.go).
type selfMetrics struct {
	mu              sync.Mutex
	apiReachable    bool
	apiLastSuccess  time.Time             // zero before the first successful probe
	apiErrors       map[[2]string]float64 // {resource, reason} → failures
	lastEvent       map[string]time.Time  // resource → last add, update or delete
	resources       []resourceState       // as of the last collection
	collectDuration time.Duration
}

// resourceState is whether a watched resource is on, synced and failing.
type resourceState struct {
	name                     string
	enabled, synced, failing bool
}

// newSelfMetrics starts an error counter at 0 for every resource, the probe and every
// reason, so that increase() sees the first error.
func newSelfMetrics(resources, reasons []string) *selfMetrics {
	m := &selfMetrics{apiErrors: map[[2]string]float64{}, lastEvent: map[string]time.Time{}}
	for _, res := range append(slices.Clone(resources), "probe") {
		for _, reason := range reasons {
			m.apiErrors[[2]string{res, reason}] = 0
		}
	}
	return m
}

// probed records the outcome of an API server probe at now.
func (m *selfMetrics) probed(ok bool, now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.apiReachable = ok
	if ok {
		m.apiLastSuccess = now
	}
}

// countAPIError counts a failed call against resource ("probe" for the probe).
func (m *selfMetrics) countAPIError(resource, reason string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.apiErrors[[2]string{resource, reason}]++
}

// touch records an event of resource at now.
func (m *selfMetrics) touch(resource string, now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.lastEvent[resource] = now
}

// collected records the resources' states and the duration of a collection.
func (m *selfMetrics) collected(resources []resourceState, took time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.resources = resources
	m.collectDuration = took
}
