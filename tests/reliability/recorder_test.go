package reliability

import (
	"context"
	"sync"
	"time"

	"github.com/statefulset-exporter/statefulset-exporter/internal/exporterbin"
)

// scrapeRecord is one scrape of the recorder: what Prometheus would have stored.
type scrapeRecord struct {
	at time.Time
	ok bool    // the scrape succeeded (Prometheus' up)
	s  samples // nil when !ok
}

// marker is an event of the test, placed on the recording's time line.
type marker struct {
	at   time.Time
	kind string // "kill" or "restart"
}

// recorder scrapes /metrics at a fixed interval, like Prometheus, until stopped.
type recorder struct {
	mu      sync.Mutex
	records []scrapeRecord
	markers []marker
	stop    chan struct{}
	done    chan struct{}
}

func record(ctx context.Context, p *exporterbin.Process, every time.Duration) *recorder {
	r := &recorder{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(r.done)
		ticker := time.NewTicker(every)
		defer ticker.Stop()
		for {
			at := time.Now()
			sctx, cancel := context.WithTimeout(ctx, every)
			s, err := scrape(sctx, p)
			cancel()
			r.mu.Lock()
			r.records = append(r.records, scrapeRecord{at: at, ok: err == nil, s: s})
			r.mu.Unlock()
			select {
			case <-r.stop:
				return
			case <-ctx.Done():
				return
			case <-ticker.C:
			}
		}
	}()
	return r
}

func (r *recorder) mark(kind string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.markers = append(r.markers, marker{at: time.Now(), kind: kind})
}

// Stop ends the recording and returns it.
func (r *recorder) Stop() ([]scrapeRecord, []marker) {
	select {
	case <-r.stop:
	default:
		close(r.stop)
	}
	<-r.done
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]scrapeRecord(nil), r.records...), append([]marker(nil), r.markers...)
}
