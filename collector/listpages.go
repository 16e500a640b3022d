package collector

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
)

// Lists in pages, slimmed page by page.
//
// A reflector lists with resourceVersion=0, which the API server answers from its watch
// cache in one response however large: on 150,000 pods that is several hundred
// megabytes of protobuf, held twice while decoding, plus every decoded pod, before the
// transform functions drop what the exporter does not keep. slimPagedList asks for pages
// instead (resourceVersion="" or resourceVersionMatch=NotOlderThan, which the watch
// cache paginates) and applies the transform to each page as it arrives, so that only
// one page of full objects is alive at a time. It returns the slimmed items in a
// metav1.List, from which the reflector takes them without copying.
//
// When the API server supports streaming lists (WatchList), the reflector does not list
// at all and transforms the objects as they stream in.

type listFunc func(ctx context.Context, opts metav1.ListOptions) (k8sruntime.Object, error)

type watchFunc func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error)

// slimListWatch lists in slimmed pages of pageSize objects (0: in one response) and
// watches as usual. tweak, when set, adjusts the options of both.
func slimListWatch(list listFunc, watchFn watchFunc, tweak func(*metav1.ListOptions), transform cache.TransformFunc, pageSize int64) *cache.ListWatch {
	return &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, opts metav1.ListOptions) (k8sruntime.Object, error) {
			if tweak != nil {
				tweak(&opts)
			}
			return slimPagedList(ctx, opts, list, transform, pageSize)
		},
		WatchFuncWithContext: func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
			if tweak != nil {
				tweak(&opts)
			}
			return watchFn(ctx, opts)
		},
	}
}

// slimPagedList lists everything opts selects, page by page of pageSize objects,
// transforming every item. The reflector's own page size (its pager's 500) is replaced:
// the pages are ours. pageSize 0 lists in one response, which the watch cache serves
// at resourceVersion 0 as kube-state-metrics' lists are served.
func slimPagedList(ctx context.Context, opts metav1.ListOptions, list listFunc, transform cache.TransformFunc, pageSize int64) (k8sruntime.Object, error) {
	opts.Limit = pageSize
	opts.Continue = ""
	switch {
	case pageSize == 0:
	case opts.ResourceVersion == "0":
		// "Any version" ignores the limit; the most recent version honours it.
		opts.ResourceVersion = ""
	case opts.ResourceVersion != "" && opts.ResourceVersionMatch == "":
		// What a reflector means by a version, and what the watch cache paginates.
		opts.ResourceVersionMatch = metav1.ResourceVersionMatchNotOlderThan
	}
	out := &metav1.List{}
	start := opts
	for {
		page, err := list(ctx, opts)
		if err != nil {
			if opts.Continue == "" || !apierrors.IsResourceExpired(err) {
				return nil, err
			}
			out.Items = out.Items[:0]
			start = afterExpiry(start)
			opts = start
			continue
		}
		if err := meta.EachListItem(page, func(obj k8sruntime.Object) error {
			slim, err := transform(obj)
			if err != nil {
				return err
			}
			o, ok := slim.(k8sruntime.Object)
			if !ok {
				return fmt.Errorf("transform returned %T, not a runtime.Object", slim)
			}
			out.Items = append(out.Items, k8sruntime.RawExtension{Object: o})
			return nil
		}); err != nil {
			return nil, err
		}
		lm, err := meta.ListAccessor(page)
		if err != nil {
			return nil, err
		}
		if lm.GetContinue() == "" || opts.Limit == 0 {
			out.ResourceVersion = lm.GetResourceVersion()
			return out, nil
		}
		opts.Continue = lm.GetContinue()
		// Continuation pages must not repeat the version.
		opts.ResourceVersion, opts.ResourceVersionMatch = "", ""
		opts.Limit = nextPageSize(pageSize, int64(len(out.Items)), lm.GetRemainingItemCount())
	}
}

// afterExpiry returns the options to list again with when the continuation of a list
// started with start has expired. A watch cache answers a NotOlderThan list at the
// version of the kind's last change, and its continuations from its snapshot at that
// version or from etcd; once etcd has compacted past it (every 5 minutes by default),
// a kind that has not changed since cannot be continued at that version. The list then
// starts over at the most recent version, still in pages: client-go's pager would take
// everything in one response, 1.3 GiB at 50,000 pods. Only when that too expires does
// it take one response.
func afterExpiry(start metav1.ListOptions) metav1.ListOptions {
	if start.ResourceVersion == "" && start.ResourceVersionMatch == "" {
		start.Limit = 0
	}
	start.ResourceVersion, start.ResourceVersionMatch, start.Continue = "", "", ""
	return start
}

// Lists of a large cluster take fewer, larger pages, and those of a small one smaller
// pages: on 2 cores shared with the API server, 100 sequential pages of 500 pods synced
// 50,000 pods in 1.5 times kube-state-metrics' time, pages of 2,000 in about the same
// time, and at 10,000 pods pages of 400 peaked lower than pages of 500 and synced as fast
// (docs/benchmarks.md). A list is aimed at listPageTarget pages in all, with pages
// between pageSize and maxPageGrowth times it: with the default 250, 400 objects at
// 10,000 pods, 2,000 at 50,000 and beyond.
const (
	listPageTarget = 25
	maxPageGrowth  = 8
)

// nextPageSize is the size of the next page of a list of pages of pageSize, after done
// objects, with remaining objects left when the API server says so (nil otherwise).
func nextPageSize(pageSize, done int64, remaining *int64) int64 {
	if remaining == nil {
		return pageSize
	}
	return min(max(pageSize, (done+*remaining)/listPageTarget), maxPageGrowth*pageSize)
}

// keepUnchanged wraps an informer's transform: when the slimmed object equals the one
// cached under its key except for its resourceVersion, it returns the cached object, so
// that updates that change nothing the exporter keeps (node heartbeats, PDB status,
// annotations) leave the cache as it is and do not invalidate the memoised derivations
// (memo.go). The cached object may lag behind the latest resourceVersion, which
// nothing reads.
func keepUnchanged(store cache.Store, transform cache.TransformFunc) cache.TransformFunc {
	return func(obj any) (any, error) {
		// Even an object the transform returns as it is: a relist hands the informer
		// objects it has already transformed.
		slim, err := transform(obj)
		if err != nil {
			return slim, err
		}
		cached, ok, err := store.Get(slim)
		if err != nil || !ok {
			return slim, nil
		}
		if c, ok := slim.(interface{ Unchanged(old any) bool }); ok { // the compact objects
			if c.Unchanged(cached) {
				return cached, nil
			}
			return slim, nil
		}
		newMeta, err1 := meta.Accessor(slim)
		oldMeta, err2 := meta.Accessor(cached)
		if err1 != nil || err2 != nil {
			return slim, nil
		}
		rv := newMeta.GetResourceVersion()
		newMeta.SetResourceVersion(oldMeta.GetResourceVersion())
		same := equality.Semantic.DeepEqual(cached, slim)
		newMeta.SetResourceVersion(rv)
		if same {
			return cached, nil
		}
		return slim, nil
	}
}
