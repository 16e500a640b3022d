// Package deploy holds the Kubernetes manifests of statefulset-exporter (a kustomize base
// in this directory and the Prometheus Operator component in prometheus-operator/) and
// makes them available to Go code: the files are embedded, so the helpers work from any
// working directory.
//
// Integration tests use ClusterRole, WatchedResources and NonResourceURLs to create the
// exact RBAC that ships and prove that it is enough for the exporter and nothing more.
package deploy

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io/fs"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

//go:embed *.yaml prometheus-operator/*.yaml
var files embed.FS

// Names shared by the manifests.
const (
	// Namespace is where the base puts the namespaced objects. It is not created by the
	// manifests.
	Namespace = "monitoring"
	// Name is the name of the ServiceAccount, ClusterRole, ClusterRoleBinding, Deployment,
	// Service, ServiceMonitor and of the exporter's container.
	Name = "statefulset-exporter"
	// MetricsPort is the exporter's listen port (--web.listen-address=:9817).
	MetricsPort = 9817
	// MetricsPortName names the container and Service port that is scraped.
	MetricsPortName = "http-metrics"
	// Image is the image repository the Deployment runs (its tag is to be pinned).
	Image = "ghcr.io/statefulset-exporter/statefulset-exporter"
)

// Manifest file names, relative to the deploy directory.
const (
	ServiceAccountFile      = "serviceaccount.yaml"
	ClusterRoleFile         = "clusterrole.yaml"
	ClusterRoleBindingFile  = "clusterrolebinding.yaml"
	DeploymentFile          = "deployment.yaml"
	PodDisruptionBudgetFile = "pdb.yaml"
	ServiceFile             = "service.yaml"
	KustomizationFile       = "kustomization.yaml"
	ServiceMonitorFile      = "prometheus-operator/servicemonitor.yaml"
)

// ReadVerbs returns the only verbs the exporter is granted on resources: what an informer
// needs.
func ReadVerbs() []string { return []string{"get", "list", "watch"} }

// WatchedResources returns every API group/resource the exporter lists and watches. The
// ClusterRole grants ReadVerbs on exactly these and on nothing else.
func WatchedResources() []schema.GroupResource {
	return []schema.GroupResource{
		{Group: "apps", Resource: "statefulsets"},
		{Group: "", Resource: "pods"},
		{Group: "", Resource: "persistentvolumeclaims"},
		{Group: "", Resource: "persistentvolumes"},
		{Group: "", Resource: "nodes"},
		{Group: "", Resource: "services"},
		{Group: "storage.k8s.io", Resource: "storageclasses"},
		{Group: "storage.k8s.io", Resource: "volumeattachments"},
		{Group: "policy", Resource: "poddisruptionbudgets"},
		{Group: "coordination.k8s.io", Resource: "leases"},
	}
}

// NonResourceURLs returns the non-resource URLs the exporter GETs (its API probe). The
// ClusterRole grants only "get" on them.
func NonResourceURLs() []string { return []string{"/version"} }

// FS returns the embedded manifests: the *.yaml files of the base and
// prometheus-operator/*.yaml.
func FS() fs.FS { return files }

// Manifest returns the raw bytes of one embedded manifest, for example ClusterRoleFile.
func Manifest(name string) ([]byte, error) {
	return files.ReadFile(name)
}

// ClusterRole returns the shipped ClusterRole, decoded from clusterrole.yaml.
func ClusterRole() (*rbacv1.ClusterRole, error) {
	return load(ClusterRoleFile, rbacv1.SchemeGroupVersion.WithKind("ClusterRole"), &rbacv1.ClusterRole{})
}

// ClusterRoleBinding returns the shipped ClusterRoleBinding, decoded from
// clusterrolebinding.yaml. Its subject is the ServiceAccount in Namespace.
func ClusterRoleBinding() (*rbacv1.ClusterRoleBinding, error) {
	return load(ClusterRoleBindingFile, rbacv1.SchemeGroupVersion.WithKind("ClusterRoleBinding"), &rbacv1.ClusterRoleBinding{})
}

// ServiceAccount returns the shipped ServiceAccount, decoded from serviceaccount.yaml.
func ServiceAccount() (*corev1.ServiceAccount, error) {
	return load(ServiceAccountFile, corev1.SchemeGroupVersion.WithKind("ServiceAccount"), &corev1.ServiceAccount{})
}

// Deployment returns the shipped Deployment, decoded from deployment.yaml.
func Deployment() (*appsv1.Deployment, error) {
	return load(DeploymentFile, appsv1.SchemeGroupVersion.WithKind("Deployment"), &appsv1.Deployment{})
}

// PodDisruptionBudget returns the shipped PodDisruptionBudget, decoded from pdb.yaml.
func PodDisruptionBudget() (*policyv1.PodDisruptionBudget, error) {
	return load(PodDisruptionBudgetFile, policyv1.SchemeGroupVersion.WithKind("PodDisruptionBudget"), &policyv1.PodDisruptionBudget{})
}

// Service returns the shipped Service, decoded from service.yaml.
func Service() (*corev1.Service, error) {
	return load(ServiceFile, corev1.SchemeGroupVersion.WithKind("Service"), &corev1.Service{})
}

// unmarshalStrict decodes YAML the way the API server reads JSON: field names are
// case-sensitive (encoding/json, and so yaml.UnmarshalStrict, would accept
// "readOnlyRootFileSystem" for readOnlyRootFilesystem; the API server drops it), and
// unknown or duplicate fields are errors.
func unmarshalStrict(data []byte, obj any) error {
	js, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		return err
	}
	strictErrs, err := kjson.UnmarshalStrict(js, obj, kjson.DisallowDuplicateFields, kjson.DisallowUnknownFields)
	if err != nil {
		return err
	}
	return errors.Join(strictErrs...)
}

// load decodes one embedded manifest into obj and returns it, or nil and an error.
func load[T runtime.Object](name string, want schema.GroupVersionKind, obj T) (T, error) {
	if err := decode(name, want, obj); err != nil {
		var zero T
		return zero, err
	}
	return obj, nil
}

// decode reads one embedded single-document manifest into obj, rejecting unknown fields
// (a misspelt securityContext field would otherwise be silently ignored) and a kind other
// than want.
func decode(name string, want schema.GroupVersionKind, obj runtime.Object) error {
	data, err := files.ReadFile(name)
	if err != nil {
		return err
	}
	if bytes.Contains(append([]byte("\n"), data...), []byte("\n---")) {
		return fmt.Errorf("%s: expected exactly one YAML document", name)
	}
	if err := unmarshalStrict(data, obj); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if got := obj.GetObjectKind().GroupVersionKind(); got != want {
		return fmt.Errorf("%s: got %s, want %s", name, got, want)
	}
	return nil
}
