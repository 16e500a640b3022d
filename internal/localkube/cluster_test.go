package localkube_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/statefulset-exporter/statefulset-exporter/internal/localkube"
	"github.com/statefulset-exporter/statefulset-exporter/internal/localkube/localkubetest"
)

func TestCluster(t *testing.T) {
	cluster := localkubetest.ForTest(t)
	ctx := t.Context()
	admin := newClient(t, cluster.AdminConfig())
	restricted := newClient(t, cluster.RestrictedConfig())

	t.Run("version is stamped", func(t *testing.T) {
		want, err := localkube.KubernetesVersion()
		if err != nil {
			t.Fatal(err)
		}
		got, err := admin.Discovery().ServerVersion()
		if err != nil {
			t.Fatalf("getting server version: %v", err)
		}
		if got.GitVersion != want {
			t.Errorf("server version = %q, want %q", got.GitVersion, want)
		}
	})

	const namespace = "localkube-test"
	if _, err := admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{Name: namespace},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating namespace: %v", err)
	}
	sts, err := admin.AppsV1().StatefulSets(namespace).Create(ctx, newStatefulSet("web", 3), metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating StatefulSet: %v", err)
	}

	// No controller manager runs: the status is ours to write.
	sts.Status = appsv1.StatefulSetStatus{
		ObservedGeneration: sts.Generation,
		Replicas:           3,
		ReadyReplicas:      2,
		AvailableReplicas:  2,
		CurrentReplicas:    3,
		UpdatedReplicas:    3,
	}
	if _, err := admin.AppsV1().StatefulSets(namespace).UpdateStatus(ctx, sts, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("updating StatefulSet status: %v", err)
	}
	assertReadyReplicas(t, admin, namespace, "web", 2)

	t.Run("restricted user", func(t *testing.T) {
		review, err := restricted.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("reviewing own identity: %v", err)
		}
		if got := review.Status.UserInfo.Username; got != localkube.RestrictedUser {
			t.Errorf("restricted user name = %q, want %q", got, localkube.RestrictedUser)
		}

		checks := map[string]func() error{
			"list secrets": func() error {
				_, err := restricted.CoreV1().Secrets(namespace).List(ctx, metav1.ListOptions{})
				return err
			},
			"list pods in all namespaces": func() error {
				_, err := restricted.CoreV1().Pods(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
				return err
			},
			"get StatefulSet": func() error {
				_, err := restricted.AppsV1().StatefulSets(namespace).Get(ctx, "web", metav1.GetOptions{})
				return err
			},
		}
		for name, check := range checks {
			if err := check(); !apierrors.IsForbidden(err) {
				t.Errorf("%s: got error %v, want Forbidden", name, err)
			}
		}
	})

	t.Run("kubeconfig", func(t *testing.T) {
		for _, tc := range []struct {
			restricted bool
			wantUser   string
		}{
			{restricted: false, wantUser: localkube.AdminUser},
			{restricted: true, wantUser: localkube.RestrictedUser},
		} {
			path := filepath.Join(t.TempDir(), "kubeconfig")
			if err := cluster.WriteKubeconfig(path, tc.restricted); err != nil {
				t.Fatal(err)
			}
			config, err := clientcmd.BuildConfigFromFlags("", path)
			if err != nil {
				t.Fatalf("loading kubeconfig: %v", err)
			}
			review, err := newClient(t, config).AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
			if err != nil {
				t.Fatalf("using kubeconfig (restricted=%t): %v", tc.restricted, err)
			}
			if got := review.Status.UserInfo.Username; got != tc.wantUser {
				t.Errorf("kubeconfig (restricted=%t) user = %q, want %q", tc.restricted, got, tc.wantUser)
			}
		}
	})

	t.Run("API server restart keeps data and URL", func(t *testing.T) {
		url := cluster.URL()
		if err := cluster.StartAPIServer(ctx); err == nil {
			t.Error("StartAPIServer succeeded while the API server was running")
		}
		if err := cluster.StopAPIServer(); err != nil {
			t.Fatalf("stopping API server: %v", err)
		}
		shortCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if _, err := admin.CoreV1().Namespaces().Get(shortCtx, namespace, metav1.GetOptions{}); err == nil {
			t.Fatal("API server still answers after StopAPIServer")
		}

		if err := cluster.StartAPIServer(ctx); err != nil {
			t.Fatalf("restarting API server: %v", err)
		}
		if got := cluster.URL(); got != url {
			t.Errorf("URL after restart = %q, want %q", got, url)
		}
		// The clients made before the restart still work: same port,
		// certificate and tokens.
		assertReadyReplicas(t, admin, namespace, "web", 2)
	})

	// ForTest's cleanup stops the cluster again: Stop is idempotent.
	cluster.Stop()
	if err := cluster.StartAPIServer(ctx); err == nil {
		t.Error("StartAPIServer succeeded on a stopped cluster")
	}
}

func TestStartFailureReportsCommandAndLog(t *testing.T) {
	etcd, err := localkube.FindEtcd()
	if err != nil {
		t.Skip(err)
	}
	fake := filepath.Join(t.TempDir(), "kube-apiserver")
	script := "#!/bin/sh\necho 'E0101 fake kube-apiserver refuses to start' >&2\nexit 3\n"
	if err := os.WriteFile(fake, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()

	_, err = localkube.Start(t.Context(), localkube.Options{APIServerPath: fake, EtcdPath: etcd, Dir: dir})
	if err == nil {
		t.Fatal("Start succeeded with a kube-apiserver that exits")
	}
	for _, want := range []string{"kube-apiserver exited before becoming ready", "command: " + fake, "--secure-port=", "fake kube-apiserver refuses to start"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Start error does not contain %q:\n%v", want, err)
		}
	}
	if entries, err := os.ReadDir(dir); err != nil || len(entries) != 0 {
		t.Errorf("Start left files behind in %s: %v %v", dir, entries, err)
	}
}

func newClient(t *testing.T, config *rest.Config) kubernetes.Interface {
	t.Helper()
	client, err := kubernetes.NewForConfig(config)
	if err != nil {
		t.Fatalf("creating client: %v", err)
	}
	return client
}

func newStatefulSet(name string, replicas int32) *appsv1.StatefulSet {
	labels := map[string]string{"app": name}
	return &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.StatefulSetSpec{
			Replicas:    &replicas,
			ServiceName: name,
			Selector:    &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					Containers: []corev1.Container{{Name: "app", Image: "registry.k8s.io/pause:3.10"}},
				},
			},
		},
	}
}

func assertReadyReplicas(t *testing.T, client kubernetes.Interface, namespace, name string, want int32) {
	t.Helper()
	sts, err := client.AppsV1().StatefulSets(namespace).Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("getting StatefulSet %s/%s: %v", namespace, name, err)
	}
	if got := sts.Status.ReadyReplicas; got != want {
		t.Errorf("StatefulSet %s/%s status.readyReplicas = %d, want %d", namespace, name, got, want)
	}
}
