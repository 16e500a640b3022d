package derive

import (
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

func TestVersion(t *testing.T) {
	for _, s := range []string{"", "0", "1", "42", "9223372036854775806"} {
		if got := versionOf(s).String(); got != s {
			t.Errorf("version %q comes back as %q", s, got)
		}
	}
	// Versions that are not decimal counters stay equal to themselves and apart from
	// the others.
	seen := map[version]string{}
	for _, s := range []string{"", "0", "00", "007", "7", "abc", "abd", "-1", "9223372036854775807", "18446744073709551616"} {
		v := versionOf(s)
		if v != versionOf(s) {
			t.Errorf("version %q differs from itself", s)
		}
		if other, ok := seen[v]; ok {
			t.Errorf("versions %q and %q are equal", s, other)
		}
		seen[v] = s
	}
}

func TestStamp(t *testing.T) {
	at := metav1.NewTime(time.Date(2026, 11, 23, 12, 0, 0, 5, time.UTC))
	if got := stampOf(&at).time(); !got.Equal(at.Time) {
		t.Errorf("stamp of %v gives %v", at, got)
	}
	if s := stampOf(nil); s.set() || !s.time().IsZero() {
		t.Error("no time is set")
	}
	if s := stampOf(&metav1.Time{}); !s.set() || !s.time().IsZero() {
		t.Error("the zero time is not set as the zero time")
	}
}

// TestPodsShareTheirSpec: a StatefulSet's replicas share one podSpec, their claims named
// after each pod.
func TestPodsShareTheirSpec(t *testing.T) {
	pod := func(name string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name,
			Labels:          map[string]string{appsv1.ControllerRevisionHashLabelKey: "web-1"},
			OwnerReferences: []metav1.OwnerReference{{Kind: "StatefulSet", Name: "web", Controller: ptr.To(true)}}},
			Spec: corev1.PodSpec{Volumes: []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{
				PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data-" + name}}}}}}
	}
	a, b := PodFrom(pod("web-0")), PodFrom(pod("web-1"))
	if a.spec != b.spec {
		t.Error("two replicas do not share their spec")
	}
	var claims []string
	b.claimNames(func(name string) bool { claims = append(claims, name); return true })
	if len(claims) != 1 || claims[0] != "data-web-1" || OwnerStatefulSetKey(b) != "ns/web" {
		t.Errorf("claims %q, owner %q", claims, OwnerStatefulSetKey(b))
	}
}

func TestUID(t *testing.T) {
	const uuid = "0f8fad5b-d9cb-469f-a165-70867728950e"
	if got := UIDOf(uuid).String(); got != uuid {
		t.Errorf("UID %s comes back as %s", uuid, got)
	}
	if !UIDOf("").IsZero() || UIDOf("").String() != "" {
		t.Error(`UID "" is not the zero UID`)
	}
	// Other strings (tests use them) stay apart, and their String gives the same UID.
	seen := map[UID]string{}
	for _, s := range []string{uuid, "0F8FAD5B-D9CB-469F-A165-70867728950E", "uid-web-0", "uid-web-1", "x"} {
		u := UIDOf(types.UID(s))
		if other, ok := seen[u]; ok {
			t.Errorf("UIDs %q and %q are equal", s, other)
		}
		seen[u] = s
		if UIDOf(u.String()) != u {
			t.Errorf("UID %q does not survive String", s)
		}
	}
}
