package collector

import (
	"cmp"
	"context"
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/cache"

	"github.com/statefulset-exporter/statefulset-exporter/collector/derive"
)

// TestSlimPagedList checks the paginated, slimmed initial list of listpages.go against a
// lister that pages like the API server, its fallback when a continue token expires, and
// the page size replacing the reflector's, and the larger pages of long lists.
func TestSlimPagedList(t *testing.T) {
	var all []corev1.Pod
	for i := range 1234 {
		p := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: fmt.Sprintf("p-%d", i),
			Annotations: map[string]string{"big": "dropped by the transform"}}}
		all = append(all, p)
	}
	for _, tc := range []struct {
		pageSize int64
		expire   bool
		calls    int
		next     int64 // the limit of the second page, when different
	}{
		{pageSize: 500, calls: 3},
		{pageSize: 400, calls: 4},
		{pageSize: 20, calls: 1 + 25, next: 49}, // 1,234 objects in about 25 pages
		{pageSize: 5, calls: 1 + 31, next: 40},  // at most 8 times the page size
		{pageSize: 500, expire: true, calls: 3}, // first page, expired continuation, all at once
		{pageSize: 0, calls: 1},                 // one response from the watch cache
	} {
		expire := tc.expire
		var calls []metav1.ListOptions
		list := func(_ context.Context, o metav1.ListOptions) (k8sruntime.Object, error) {
			calls = append(calls, o)
			start := 0
			if o.Continue != "" {
				if expire {
					return nil, apierrors.NewResourceExpired("continue token expired")
				}
				fmt.Sscan(o.Continue, &start)
			}
			end := len(all)
			if o.Limit > 0 {
				end = min(start+int(o.Limit), len(all))
			}
			out := &corev1.PodList{ListMeta: metav1.ListMeta{ResourceVersion: "42"}, Items: append([]corev1.Pod(nil), all[start:end]...)}
			if end < len(all) {
				out.Continue = fmt.Sprint(end)
				remaining := int64(len(all) - end)
				out.RemainingItemCount = &remaining
			}
			return out, nil
		}
		obj, err := slimPagedList(context.Background(), metav1.ListOptions{ResourceVersion: "0", Limit: 500}, list, transformPod, tc.pageSize)
		if err != nil {
			t.Fatal(err)
		}
		items, err := meta.ExtractListWithAlloc(obj)
		if err != nil {
			t.Fatal(err)
		}
		if len(items) != len(all) {
			t.Fatalf("expire=%v: %d items, want %d", expire, len(items), len(all))
		}
		for i, it := range items {
			p := it.(*derive.Pod)
			if p.GetName() != all[i].Name || p.GetAnnotations() != nil {
				t.Fatalf("expire=%v: item %d is %s with annotations %v", expire, i, p.GetName(), p.GetAnnotations())
			}
		}
		if rv := obj.(*metav1.List).ResourceVersion; rv != "42" {
			t.Errorf("list resourceVersion %q", rv)
		}
		// Paged lists ask for any version with pages (served from the watch cache).
		wantRV, wantMatch := anyVersion, metav1.ResourceVersionMatchNotOlderThan
		if tc.pageSize == 0 {
			wantRV, wantMatch = "0", ""
		}
		if first := calls[0]; first.ResourceVersion != wantRV || first.ResourceVersionMatch != wantMatch || first.Limit != tc.pageSize {
			t.Errorf("%+v: first page asked with %+v", tc, first)
		}
		if last := calls[len(calls)-1]; expire && (last.ResourceVersion != "" || last.ResourceVersionMatch != "" || last.Limit != 0 || last.Continue != "") {
			t.Errorf("%+v: after the expired continuation, asked with %+v, want a consistent list in one response", tc, last)
		}
		for _, c := range calls[1:] {
			if c.Continue != "" && (c.ResourceVersion != "" || c.ResourceVersionMatch != "") {
				t.Errorf("%+v: continuation asked with %+v: a continue token carries its version", tc, c)
			}
		}
		if len(calls) != tc.calls {
			t.Errorf("%+v: %d list calls, want %d", tc, len(calls), tc.calls)
		}
		if want := cmp.Or(tc.next, tc.pageSize); len(calls) > 1 && !expire && calls[1].Limit != want {
			t.Errorf("%+v: second page asked for %d objects, want %d", tc, calls[1].Limit, want)
		}
	}
	// A relist at a known version keeps it, as NotOlderThan, which the watch cache pages.
	var got metav1.ListOptions
	_, _ = slimPagedList(context.Background(), metav1.ListOptions{ResourceVersion: "17"}, func(_ context.Context, o metav1.ListOptions) (k8sruntime.Object, error) {
		got = o
		return &corev1.PodList{}, nil
	}, transformPod, 500)
	if got.ResourceVersion != "17" || got.ResourceVersionMatch != metav1.ResourceVersionMatchNotOlderThan || got.Limit != 500 {
		t.Errorf("relist asked with %+v", got)
	}
}

// TestKeepUnchanged checks that an update changing only what the transform drops keeps
// the cached object, and that any kept change replaces it.
func TestKeepUnchanged(t *testing.T) {
	store := cache.NewStore(cache.MetaNamespaceKeyFunc)
	transform := keepUnchanged(store, transformPod)
	pod := func(rv, note string, ready corev1.ConditionStatus) *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p", ResourceVersion: rv, Annotations: map[string]string{"note": note}},
			Status:     corev1.PodStatus{Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: ready}}},
		}
	}
	first, _ := transform(pod("1", "a", corev1.ConditionTrue))
	if err := store.Add(first); err != nil {
		t.Fatal(err)
	}
	if got, _ := transform(pod("2", "b", corev1.ConditionTrue)); got != first {
		t.Error("an update of dropped fields replaced the cached pod")
	}
	changed, _ := transform(pod("3", "b", corev1.ConditionFalse))
	if changed == first || changed.(*derive.Pod).GetResourceVersion() != "3" {
		t.Error("a kept change did not replace the cached pod")
	}
	// A relist hands the transform objects it has already transformed.
	if got, _ := transform(derive.PodFrom(pod("4", "c", corev1.ConditionTrue))); got != first {
		t.Error("an unchanged pod transformed again replaced the cached pod")
	}
}
