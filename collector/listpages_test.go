package collector

import (
	"cmp"
	"context"
	"fmt"
	"strconv"
	"strings"
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
// lister that pages like the API server, its fallbacks when a continue token expires, and
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
		rv       string // the reflector's version: "0" at first, its last one when it relists
		expire   string // which continuations expire: "stale" those of NotOlderThan lists, or "all"
		calls    int
		firstRV  string
		next     int64 // the limit of the second page, when different
		last     metav1.ListOptions
	}{
		{pageSize: 500, calls: 3},
		{pageSize: 400, calls: 4},
		{pageSize: 20, calls: 1 + 25, next: 49}, // 1,234 objects in about 25 pages
		{pageSize: 5, calls: 1 + 31, next: 40},  // at most 8 times the page size
		{pageSize: 0, calls: 1, firstRV: "0"},   // one response from the watch cache
		// first page, expired continuation, all at once
		{pageSize: 500, expire: "all", calls: 3, last: metav1.ListOptions{}},
		// A relist whose version etcd has compacted: the most recent version, in pages,
		// and after that in one response if that too expires.
		{pageSize: 500, rv: "17", expire: "stale", firstRV: "17", calls: 2 + 3, last: metav1.ListOptions{Limit: 500, Continue: "1000"}},
		{pageSize: 500, rv: "17", expire: "all", firstRV: "17", calls: 2 + 2 + 1, last: metav1.ListOptions{}},
	} {
		var calls []metav1.ListOptions
		list := func(_ context.Context, o metav1.ListOptions) (k8sruntime.Object, error) {
			calls = append(calls, o)
			start, notOlderThan := 0, o.ResourceVersionMatch == metav1.ResourceVersionMatchNotOlderThan
			if o.Continue != "" {
				var pos string
				pos, notOlderThan = strings.CutSuffix(o.Continue, "~")
				if tc.expire == "all" || tc.expire == "stale" && notOlderThan {
					return nil, apierrors.NewResourceExpired("continue token expired")
				}
				start, _ = strconv.Atoi(pos)
			}
			end := len(all)
			if o.Limit > 0 {
				end = min(start+int(o.Limit), len(all))
			}
			out := &corev1.PodList{ListMeta: metav1.ListMeta{ResourceVersion: "42"}, Items: append([]corev1.Pod(nil), all[start:end]...)}
			if end < len(all) {
				out.Continue = fmt.Sprint(end)
				if notOlderThan {
					out.Continue += "~"
				}
				remaining := int64(len(all) - end)
				out.RemainingItemCount = &remaining
			}
			return out, nil
		}
		obj, err := slimPagedList(context.Background(), metav1.ListOptions{ResourceVersion: cmp.Or(tc.rv, "0"), Limit: 500}, list, transformPod, tc.pageSize)
		if err != nil {
			t.Fatal(err)
		}
		items, err := meta.ExtractListWithAlloc(obj)
		if err != nil {
			t.Fatal(err)
		}
		if len(items) != len(all) {
			t.Fatalf("%+v: %d items, want %d", tc, len(items), len(all))
		}
		for i, it := range items {
			p := it.(*derive.Pod)
			if p.GetName() != all[i].Name || p.GetAnnotations() != nil {
				t.Fatalf("%+v: item %d is %s with annotations %v", tc, i, p.GetName(), p.GetAnnotations())
			}
		}
		if rv := obj.(*metav1.List).ResourceVersion; rv != "42" {
			t.Errorf("list resourceVersion %q", rv)
		}
		if calls[0].ResourceVersion != tc.firstRV || calls[0].Limit != tc.pageSize {
			t.Errorf("%+v: first page asked with %+v", tc, calls[0])
		}
		if len(calls) != tc.calls {
			t.Errorf("%+v: %d list calls, want %d", tc, len(calls), tc.calls)
		}
		if want := cmp.Or(tc.next, tc.pageSize); len(calls) > 1 && tc.expire == "" && calls[1].Limit != want {
			t.Errorf("%+v: second page asked for %d objects, want %d", tc, calls[1].Limit, want)
		}
		if last := calls[len(calls)-1]; tc.expire != "" && last != tc.last {
			t.Errorf("%+v: last asked with %+v, want %+v", tc, last, tc.last)
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
