package collector

import (
	"bytes"
	"compress/gzip"
	"errors"
	"hash/crc32"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	corev1 "k8s.io/api/core/v1"

	"github.com/statefulset-exporter/statefulset-exporter/collector/derive"
)

// serveExpo GETs /metrics from h with the given Accept and Accept-Encoding headers and
// returns the body, decompressed if it came gzip-encoded, and the response.
func serveExpo(t *testing.T, h http.Handler, accept, encoding string) (string, *http.Response) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	if encoding != "" {
		req.Header.Set("Accept-Encoding", encoding)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	resp := rec.Result()
	body := rec.Body.Bytes()
	if resp.Header.Get("Content-Encoding") == "gzip" {
		// One gzip member: curl and other zlib users decode only the first.
		r := bytes.NewReader(body)
		zr, err := gzip.NewReader(r)
		if err != nil {
			t.Fatal(err)
		}
		zr.Multistream(false)
		if body, err = io.ReadAll(zr); err != nil {
			t.Fatal(err)
		}
		if r.Len() > 0 {
			t.Errorf("%d bytes after the first gzip member", r.Len())
		}
	}
	return string(body), resp
}

// withoutDuration drops the collection duration, which differs between two scrapes.
func withoutDuration(body string) []string {
	var lines []string
	for _, l := range strings.Split(body, "\n") {
		if !strings.HasPrefix(l, "statefulset_exporter_collect_duration_seconds ") {
			lines = append(lines, l)
		}
	}
	return lines
}

// TestExpositionIsTheRegistrys: the handler serves what promhttp serves from a
// registry holding the whole collector: the same families in the same order, the same
// lines (within a family in the registry's order, but for the families sorted by a
// label before namespace); gzip decodes to the plain body; the text parses, has every
// family once, and promtool accepts it.
func TestExpositionIsTheRegistrys(t *testing.T) {
	e := newBenchEnv(t, 1_000)
	full := prometheus.NewRegistry()
	full.MustRegister(e.c)
	want, _ := serveExpo(t, promhttp.HandlerFor(full, promhttp.HandlerOpts{}), "", "")

	h := benchHandler(e.c)
	plain, resp := serveExpo(t, h, "", "")
	if ct := resp.Header.Get("Content-Type"); expfmt.ResponseFormat(resp.Header).FormatType() != expfmt.TypeTextPlain {
		t.Errorf("Content-Type %q, want the text format", ct)
	}
	gotLines, wantLines := withoutDuration(plain), withoutDuration(want)
	wantLines = slices.DeleteFunc(wantLines, func(l string) bool { return strings.Contains(l, "promhttp_metric_handler_errors_total") })
	gotLines = slices.DeleteFunc(gotLines, func(l string) bool { return strings.Contains(l, "promhttp_metric_handler_errors_total") })
	headers := func(lines []string) []string {
		return slices.DeleteFunc(slices.Clone(lines), func(l string) bool { return !strings.HasPrefix(l, "# ") })
	}
	if !slices.Equal(headers(gotLines), headers(wantLines)) {
		t.Errorf("families differ from the registry's:\n got %q\nwant %q", headers(gotLines), headers(wantLines))
	}
	if diff := cmp.Diff(slices.Sorted(slices.Values(wantLines)), slices.Sorted(slices.Values(gotLines))); diff != "" {
		t.Errorf("lines differ from the registry's (-registry +handler):\n%s", diff)
	}
	// The line order is the registry's but for the families sorted by container or
	// attached_node first.
	byNamespace := func(lines []string) []string {
		return slices.DeleteFunc(slices.Clone(lines), func(l string) bool {
			return strings.HasPrefix(l, "statefulset_pod_not_ready_info{") || strings.HasPrefix(l, "statefulset_container_last_terminated_timestamp_seconds{") ||
				strings.HasPrefix(l, "statefulset_pod_volume_attached_elsewhere_info{")
		})
	}
	if !slices.Equal(byNamespace(gotLines), byNamespace(wantLines)) {
		t.Error("the lines of a family sorted by namespace first are not in the registry's order")
	}
	if !strings.Contains(plain, "statefulset_pod_not_ready_info{") || !strings.Contains(plain, "statefulset_control_plane_lease_held{") {
		t.Error("the fixture has no pod_not_ready_info or lease samples: the comparison would miss them")
	}

	zipped, resp := serveExpo(t, h, "", "gzip")
	if resp.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("Content-Encoding %q with Accept-Encoding: gzip", resp.Header.Get("Content-Encoding"))
	}
	if !slices.Equal(withoutDuration(zipped), withoutDuration(plain)) {
		t.Error("the gzip body does not decode to the plain body")
	}

	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(plain))
	if err != nil {
		t.Fatalf("the text parser rejects the exposition: %v", err)
	}
	if n := strings.Count(plain, "# TYPE "); n != len(families) {
		t.Errorf("%d # TYPE lines for %d families: a family appears twice", n, len(families))
	}
	if _, err := exec.LookPath("go"); err == nil {
		cmd := exec.Command("go", "tool", "promtool", "check", "metrics")
		cmd.Stdin = strings.NewReader(plain)
		// promtool reports lint problems (not errors) with exit code 3; only errors fail.
		if out, err := cmd.CombinedOutput(); err != nil && (cmd.ProcessState == nil || cmd.ProcessState.ExitCode() != 3) {
			t.Errorf("promtool check metrics: %v\n%s", err, out)
		} else if strings.Contains(string(out), "error while linting") {
			t.Errorf("promtool check metrics: %s", out)
		}
	}
}

// TestExpositionProtobuf: a protobuf request gets every family, from a full gathering.
func TestExpositionProtobuf(t *testing.T) {
	e := newBenchEnv(t, 300)
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	req.Header.Set("Accept", string(expfmt.NewFormat(expfmt.TypeProtoDelim)))
	rec := httptest.NewRecorder()
	benchHandler(e.c).ServeHTTP(rec, req)
	if expfmt.ResponseFormat(rec.Result().Header).FormatType() != expfmt.TypeProtoDelim {
		t.Fatalf("Content-Type %q, want protobuf", rec.Header().Get("Content-Type"))
	}
	dec := expfmt.NewDecoder(rec.Body, expfmt.NewFormat(expfmt.TypeProtoDelim))
	names := map[string]bool{}
	for {
		mf := new(dto.MetricFamily)
		if err := dec.Decode(mf); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		names[mf.GetName()] = true
	}
	for _, name := range []string{"statefulset_replicas_desired", "statefulset_container_restarts_total", "statefulset_exporter_api_reachable"} {
		if !names[name] {
			t.Errorf("protobuf response lacks %s", name)
		}
	}
}

// TestExpositionRecompressesOnlyTheChangedChunk: with nothing changed a gzip scrape
// compresses nothing; after one pod's restart it compresses exactly the chunk of the
// pod's namespace, and every other chunk's parts stay the same bytes.
func TestExpositionRecompressesOnlyTheChangedChunk(t *testing.T) {
	e := newRawBenchEnv(t, 3_000)
	if _, n := e.c.exposition(true); n < 3 {
		t.Fatalf("%d chunks: the test needs several", n)
	}
	if _, n := e.c.exposition(true); n != 0 {
		t.Errorf("nothing changed, yet %d chunks were compressed again", n)
	}
	before := map[string][]deflatePart{}
	for key, ch := range e.c.chunks {
		before[key] = slices.Clone(ch.gz)
	}

	indexer := e.c.watch.resources[resPods].informer.GetIndexer()
	key := e.podKeys[len(e.podKeys)/2]
	obj, _, _ := indexer.GetByKey(key)
	old := obj.(*derive.Pod)
	raw := e.rawOf(resPods, key, old).(*corev1.Pod).DeepCopy()
	raw.ResourceVersion += "1"
	raw.Status.ContainerStatuses[0].RestartCount++
	e.update(t, resPods, old, e.transform(t, resPods, raw))
	set := derive.OwnerStatefulSetKey(old)
	want := e.c.restarts.total(set)

	if _, n := e.c.exposition(true); n != 1 {
		t.Errorf("one pod changed, and %d chunks were compressed again, want 1", n)
	}
	var changed []string
	for key, ch := range e.c.chunks {
		for f := range exposeFamilies {
			if !sameBytes(ch.gz[f].data, before[key][f].data) {
				changed = append(changed, key+" "+exposeFamilies[f].name)
			}
		}
	}
	if len(changed) != 1 || !strings.HasSuffix(changed[0], " statefulset_container_restarts_total") {
		t.Errorf("parts changed: %q, want the restart counter of the pod's chunk only", changed)
	}
	body, _ := serveExpo(t, benchHandler(e.c), "", "gzip")
	ns, name, _ := strings.Cut(set, "/")
	line := "statefulset_container_restarts_total{namespace=\"" + ns + "\",statefulset=\"" + name + "\"} " + strconv.FormatFloat(want, 'g', -1, 64)
	if !strings.Contains(body, line+"\n") {
		t.Errorf("scrape lacks %s", line)
	}
}

// TestAcceptsGzip covers the Accept-Encoding forms scrapers send.
func TestAcceptsGzip(t *testing.T) {
	for header, want := range map[string]bool{
		"": false, "gzip": true, "identity": false, "gzip;q=0": false, "br, gzip;q=0.5": true,
		"*": true, "deflate, identity": false, "GZIP": true, "gzip;q=0, *": false, "*;q=0, gzip": true,
		"*;q=0": false,
	} {
		h := http.Header{}
		if header != "" {
			h.Set("Accept-Encoding", header)
		}
		if got := acceptsGzip(h); got != want {
			t.Errorf("Accept-Encoding %q: %v, want %v", header, got, want)
		}
	}
}

// TestCRC32Combine: combining the CRC-32s of two texts gives the CRC-32 of both.
func TestCRC32Combine(t *testing.T) {
	texts := []string{"", "a", "statefulset_replicas_desired 3\n", strings.Repeat("0123456789", 1000)}
	for _, a := range texts {
		for _, b := range texts {
			got := crc32Combine(crc32.ChecksumIEEE([]byte(a)), crc32.ChecksumIEEE([]byte(b)), len(b))
			if want := crc32.ChecksumIEEE([]byte(a + b)); got != want {
				t.Errorf("crc32Combine of %d and %d bytes: %08x, want %08x", len(a), len(b), got, want)
			}
		}
	}
}

func sameBytes(a, b []byte) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

// failingCollector sends a sample whose Write fails.
type failingCollector struct{ desc *prometheus.Desc }

func (f failingCollector) Describe(ch chan<- *prometheus.Desc) { ch <- f.desc }
func (f failingCollector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.NewInvalidMetric(f.desc, errors.New("broken source"))
}

// TestExpositionContinuesOnGatheringError: like promhttp with ContinueOnError, a
// gathering error is counted in promhttp_metric_handler_errors_total and the rest is
// served.
func TestExpositionContinuesOnGatheringError(t *testing.T) {
	e := newBenchEnv(t, 300)
	reg := prometheus.NewRegistry()
	reg.MustRegister(e.c.Others(), failingCollector{prometheus.NewDesc("broken_metric", "Fails.", nil, nil)})
	h := e.c.Handler(reg, HandlerOpts{Registry: reg})
	body, resp := serveExpo(t, h, "", "gzip")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	for _, want := range []string{"statefulset_replicas_desired{", "statefulset_exporter_api_reachable "} {
		if !strings.Contains(body, want) {
			t.Errorf("the response lacks %s", want)
		}
	}
	body, _ = serveExpo(t, h, "", "")
	if !strings.Contains(body, `promhttp_metric_handler_errors_total{cause="gathering"} 1`+"\n") {
		t.Errorf("the gathering error was not counted:\n%s", grepLines(body, "promhttp_"))
	}
}

func grepLines(body, prefix string) string {
	var out []string
	for _, l := range strings.Split(body, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
