// Package collector derives StatefulSet health from client-go informer caches and
// exposes it as Prometheus metrics. A scrape never calls the Kubernetes API: it reads the
// caches, so while the API server fails over the last known state keeps being served.
//
// # Stages
//
// Data flows through four stages; the files are on floors, each using only what its
// own floor and the floors below declare (layers_test.go enforces it):
//
//	  Kubernetes API
//	       │ list (slimmed pages) / watch, transient failures retried in place
//	  ┌────▼────────────────────────────────────────────────────────────────┐
//	1 │ collector.go  the Collector: wiring, API probe, Describe/Collect      │
//	  │ collect.go    one collection: inputs per StatefulSet → memo → samples │
//	  │ handler.go    /metrics: pre-encoded text, gzip members, the rest      │
//	  ├──────────────────────────────────────────────────────────────────────┤
//	2 │ EXPOSE  memo.go         memoised derivations, samples per namespace   │
//	  │         families*.go    every metric, declared as a family            │
//	  │         sample.go       compact immutable samples                     │
//	  │         expo.go         samples as text lines and gzip chunks         │
//	  ├──────────────────────────────────────────────────────────────────────┤
//	3 │ WATCH   informers.go    what is watched (watchSpecs), event handling  │
//	  │         transform.go    what is kept of each object                   │
//	  │         claims.go       which claims and old volumes are a set's      │
//	  │         listpages.go resilient.go apierrors.go                        │
//	  ├──────────────────────────────────────────────────────────────────────┤
//	4 │ TRACK   restarts.go binddurations.go leases.go self.go (trackers.go)  │
//	  │         dirty.go        the namespaces changed since the last scrape  │
//	  ├──────────────────────────────────────────────────────────────────────┤
//	5 │ config.go caches.go nsinformers.go helpers.go                         │
//	  └──────────────────────────────────────────────────────────────────────┘
//	  DERIVE  package derive: pure functions of one StatefulSet, its pods and
//	          claims, a read-only View of the cluster and the time; it imports
//	          neither client-go nor Prometheus (layers_test.go checks).
//
// # Where a change goes
//
//   - A new metric of a StatefulSet: a field of derive.Health filled in derive/, a
//     family in the matching families_*.go table, a line in docs/metrics.md (a test
//     fails without it), an exposition test here.
//   - A new watched kind: a watchSpec and a resource name in informers.go, a transform
//     in transform.go keeping only what is read, the RBAC rule in deploy/, and a lookup
//     of derive.View built in collect.go (clusterView) if derivations read it: lookups
//     made with derive.NewLookup record themselves, so the memo sees their changes; and
//     its dirtyScopes entry in informers.go (for a cluster-scoped kind, the questions
//     its changes may answer differently, in questionsOf), or a scrape never revisits
//     what it changed.
//   - State that needs history (a counter across pod recreation): a tracker on the
//     track floor, fed from the event handlers in informers.go.
//   - A new alert: mixin/rules, with promtool tests in tests/ and a runbook in
//     docs/runbooks.md; nothing here unless it needs a new metric.
package collector
