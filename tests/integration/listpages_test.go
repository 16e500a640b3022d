package integration

import "testing"

// TestOneObjectPages runs an exporter whose initial lists take one object per page, so
// that every list the real API server answers (nodes, pods, claims, volumes, ...) is
// continued page after page from the version of its first page: the exporter must see
// the same StatefulSets as with the default pages.
func TestOneObjectPages(t *testing.T) {
	t.Parallel()
	f := env(t)
	names := []string{"healthy", "zone-mismatch"}
	for _, name := range names {
		f.apply(t, name)
	}
	x := f.startExporter(t, "one-object-pages", "--kubeconfig="+f.adminKubeconfig, "--kube.list-page-size=1")
	for _, name := range names {
		f.waitGolden(t, x, name, name, nil, nil)
	}
}
