package deploy

import (
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

// standardLabels must be on every object (and on the pod template).
var standardLabels = map[string]string{
	"app.kubernetes.io/name":      "statefulset-exporter",
	"app.kubernetes.io/component": "exporter",
	"app.kubernetes.io/part-of":   "statefulset-exporter",
}

func checkLabels(t *testing.T, what string, got map[string]string) {
	t.Helper()
	for k, v := range standardLabels {
		if got[k] != v {
			t.Errorf("%s: label %s = %q, want %q", what, k, got[k], v)
		}
	}
}

func TestClusterRoleLeastPrivilege(t *testing.T) {
	cr, err := ClusterRole()
	if err != nil {
		t.Fatal(err)
	}
	if cr.Name != Name {
		t.Errorf("name = %q, want %q", cr.Name, Name)
	}
	if cr.Namespace != "" {
		t.Errorf("ClusterRole has namespace %q", cr.Namespace)
	}
	checkLabels(t, "ClusterRole", cr.Labels)
	if cr.AggregationRule != nil {
		t.Error("ClusterRole must not aggregate other roles")
	}

	forbiddenVerbs := []string{"*", "create", "update", "patch", "delete", "deletecollection",
		"escalate", "bind", "impersonate", "approve", "sign", "proxy"}
	granted := map[schema.GroupResource]bool{}
	var nonResource []string
	for i, r := range cr.Rules {
		all := slices.Concat(r.APIGroups, r.Resources, r.Verbs, r.ResourceNames, r.NonResourceURLs)
		for _, s := range all {
			if strings.Contains(s, "*") {
				t.Errorf("rule %d: wildcard %q", i, s)
			}
		}
		for _, v := range r.Verbs {
			if slices.Contains(forbiddenVerbs, strings.ToLower(v)) {
				t.Errorf("rule %d: forbidden verb %q", i, v)
			}
		}
		if len(r.NonResourceURLs) > 0 {
			if len(r.APIGroups)+len(r.Resources)+len(r.ResourceNames) > 0 {
				t.Errorf("rule %d mixes resources and nonResourceURLs", i)
			}
			if !slices.Equal(r.Verbs, []string{"get"}) {
				t.Errorf("rule %d: nonResourceURLs verbs = %v, want [get]", i, r.Verbs)
			}
			nonResource = append(nonResource, r.NonResourceURLs...)
			continue
		}
		if len(r.ResourceNames) > 0 {
			t.Errorf("rule %d: unexpected resourceNames %v", i, r.ResourceNames)
		}
		if got := slices.Sorted(slices.Values(r.Verbs)); !slices.Equal(got, []string{"get", "list", "watch"}) {
			t.Errorf("rule %d: verbs = %v, want exactly get, list, watch", i, r.Verbs)
		}
		if len(r.APIGroups) == 0 || len(r.Resources) == 0 {
			t.Errorf("rule %d has no apiGroups or no resources", i)
		}
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				if res == "secrets" || strings.Contains(res, "/") {
					t.Errorf("rule %d: must not grant %q", i, res)
				}
				gr := schema.GroupResource{Group: g, Resource: res}
				if granted[gr] {
					t.Errorf("rule %d: %s granted twice", i, gr)
				}
				granted[gr] = true
			}
		}
	}

	want := map[schema.GroupResource]bool{}
	for _, gr := range WatchedResources() {
		want[gr] = true
	}
	for gr := range want {
		if !granted[gr] {
			t.Errorf("%s is watched but not granted", gr)
		}
	}
	for gr := range granted {
		if !want[gr] {
			t.Errorf("%s is granted but not in WatchedResources", gr)
		}
	}
	if !slices.Equal(slices.Sorted(slices.Values(nonResource)), NonResourceURLs()) {
		t.Errorf("nonResourceURLs = %v, want %v", nonResource, NonResourceURLs())
	}

	// An independent literal, so that WatchedResources and the YAML cannot drift together
	// unnoticed. Update all three when the exporter starts watching another kind.
	literal := []string{
		"apps/statefulsets", "/pods", "/persistentvolumeclaims", "/persistentvolumes",
		"/nodes", "/services", "storage.k8s.io/storageclasses", "storage.k8s.io/volumeattachments",
		"policy/poddisruptionbudgets", "coordination.k8s.io/leases",
	}
	var have []string
	for gr := range want {
		have = append(have, gr.Group+"/"+gr.Resource)
	}
	slices.Sort(have)
	slices.Sort(literal)
	if !slices.Equal(have, literal) {
		t.Errorf("WatchedResources = %v, want %v", have, literal)
	}
	if !slices.Equal(ReadVerbs(), []string{"get", "list", "watch"}) {
		t.Errorf("ReadVerbs = %v", ReadVerbs())
	}
}

func TestClusterRoleBinding(t *testing.T) {
	crb, err := ClusterRoleBinding()
	if err != nil {
		t.Fatal(err)
	}
	sa, err := ServiceAccount()
	if err != nil {
		t.Fatal(err)
	}
	checkLabels(t, "ClusterRoleBinding", crb.Labels)
	checkLabels(t, "ServiceAccount", sa.Labels)
	if crb.Name != Name {
		t.Errorf("ClusterRoleBinding name = %q", crb.Name)
	}
	if want := (rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: Name}); crb.RoleRef != want {
		t.Errorf("roleRef = %+v, want %+v", crb.RoleRef, want)
	}
	want := []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: sa.Name, Namespace: Namespace}}
	if !slices.Equal(crb.Subjects, want) {
		t.Errorf("subjects = %+v, want %+v", crb.Subjects, want)
	}
	if sa.Name != Name || sa.Namespace != Namespace {
		t.Errorf("ServiceAccount = %s/%s, want %s/%s", sa.Namespace, sa.Name, Namespace, Name)
	}
}

func TestDeploymentHardened(t *testing.T) {
	d, err := Deployment()
	if err != nil {
		t.Fatal(err)
	}
	checkLabels(t, "Deployment", d.Labels)
	checkLabels(t, "pod template", d.Spec.Template.Labels)
	if d.Name != Name || d.Namespace != Namespace {
		t.Errorf("Deployment = %s/%s", d.Namespace, d.Name)
	}
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 2 {
		t.Errorf("replicas = %v, want 2: a single replica is blind while its own node is down", d.Spec.Replicas)
	}
	if d.Spec.Selector == nil {
		t.Fatal("no selector")
	}
	ml := d.Spec.Selector.MatchLabels
	if len(ml) == 0 || len(d.Spec.Selector.MatchExpressions) > 0 || !labels.SelectorFromSet(ml).Matches(labels.Set(d.Spec.Template.Labels)) {
		t.Errorf("selector %v does not match the pod template labels", d.Spec.Selector)
	}

	pod := d.Spec.Template.Spec
	if pod.ServiceAccountName != Name {
		t.Errorf("serviceAccountName = %q", pod.ServiceAccountName)
	}
	if pod.AutomountServiceAccountToken == nil || !*pod.AutomountServiceAccountToken {
		t.Error("automountServiceAccountToken must be true: the exporter uses the token")
	}
	if pod.TerminationGracePeriodSeconds == nil || *pod.TerminationGracePeriodSeconds != 30 {
		t.Errorf("terminationGracePeriodSeconds = %v, want 30", pod.TerminationGracePeriodSeconds)
	}
	if pod.HostNetwork || pod.HostPID || pod.HostIPC {
		t.Error("pod must not use host namespaces")
	}
	for _, v := range pod.Volumes {
		if v.HostPath != nil || v.Secret != nil {
			t.Errorf("volume %q: no hostPath or Secret volumes", v.Name)
		}
	}
	psc := pod.SecurityContext
	if psc == nil {
		t.Fatal("pod has no securityContext")
	}
	if !isTrue(psc.RunAsNonRoot) {
		t.Error("pod: runAsNonRoot must be true")
	}
	if !isInt(psc.RunAsUser, 65534) || !isInt(psc.RunAsGroup, 65534) {
		t.Errorf("pod: runAsUser/runAsGroup = %v/%v, want 65534", psc.RunAsUser, psc.RunAsGroup)
	}
	if psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod: seccompProfile = %v, want RuntimeDefault", psc.SeccompProfile)
	}

	if len(pod.InitContainers) != 0 || len(pod.Containers) != 1 {
		t.Fatalf("want exactly one container, got %d (+%d init)", len(pod.Containers), len(pod.InitContainers))
	}
	c := pod.Containers[0]
	if c.Name != Name {
		t.Errorf("container name = %q, want %q", c.Name, Name)
	}
	if repo, _, ok := strings.Cut(c.Image, ":"); !ok || repo != Image {
		t.Errorf("image = %q, want %s:<tag>", c.Image, Image)
	}
	for _, e := range c.EnvFrom {
		if e.SecretRef != nil {
			t.Error("container must not read Secrets")
		}
	}
	for _, e := range c.Env {
		if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
			t.Errorf("env %s reads a Secret", e.Name)
		}
	}

	sc := c.SecurityContext
	if sc == nil {
		t.Fatal("container has no securityContext")
	}
	if !isFalse(sc.AllowPrivilegeEscalation) {
		t.Error("container: allowPrivilegeEscalation must be false")
	}
	if !isTrue(sc.ReadOnlyRootFilesystem) {
		t.Error("container: readOnlyRootFilesystem must be true")
	}
	if sc.Privileged != nil && *sc.Privileged {
		t.Error("container: privileged")
	}
	if sc.RunAsNonRoot != nil && !*sc.RunAsNonRoot {
		t.Error("container: runAsNonRoot overridden to false")
	}
	if sc.RunAsUser != nil && *sc.RunAsUser != 65534 || sc.RunAsGroup != nil && *sc.RunAsGroup != 65534 {
		t.Errorf("container: runAsUser/runAsGroup = %v/%v, want 65534", sc.RunAsUser, sc.RunAsGroup)
	}
	if sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) > 0 {
		t.Errorf("container: capabilities = %+v, want drop [ALL] and no add", sc.Capabilities)
	}
	if sc.SeccompProfile != nil && sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("container: seccompProfile = %v, want RuntimeDefault", sc.SeccompProfile)
	}

	for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		req, okReq := c.Resources.Requests[name]
		lim, okLim := c.Resources.Limits[name]
		if !okReq || !okLim {
			t.Errorf("resources: %s needs a request and a limit", name)
			continue
		}
		if req.Sign() <= 0 || req.Cmp(lim) > 0 {
			t.Errorf("resources: %s request %s, limit %s", name, req.String(), lim.String())
		}
	}
	if lim := c.Resources.Limits[corev1.ResourceMemory]; lim.Cmp(resource.MustParse("64Mi")) < 0 {
		t.Errorf("memory limit %s is too small for the informer caches", lim.String())
	}

	if len(c.Ports) != 1 {
		t.Fatalf("want one container port, got %+v", c.Ports)
	}
	p := c.Ports[0]
	if p.Name != MetricsPortName || p.ContainerPort != MetricsPort || (p.Protocol != "" && p.Protocol != corev1.ProtocolTCP) {
		t.Errorf("port = %+v, want %s %d/TCP", p, MetricsPortName, MetricsPort)
	}
	if !slices.Contains(c.Args, "--web.listen-address=:"+strconv.Itoa(MetricsPort)) {
		t.Errorf("args %v must set --web.listen-address=:%d", c.Args, MetricsPort)
	}
	for _, a := range c.Args {
		if strings.HasPrefix(a, "--kubeconfig") {
			t.Errorf("in-cluster Deployment must not pass %s", a)
		}
	}

	checkProbe(t, "liveness", c.LivenessProbe, "/healthz", p)
	checkProbe(t, "readiness", c.ReadinessProbe, "/readyz", p)
}

func checkProbe(t *testing.T, what string, pr *corev1.Probe, path string, port corev1.ContainerPort) {
	t.Helper()
	if pr == nil || pr.HTTPGet == nil {
		t.Errorf("%s probe: want httpGet %s", what, path)
		return
	}
	if pr.HTTPGet.Path != path {
		t.Errorf("%s probe: path = %q, want %q", what, pr.HTTPGet.Path, path)
	}
	if !portMatches(pr.HTTPGet.Port, port) {
		t.Errorf("%s probe: port = %s, want %s or %d", what, pr.HTTPGet.Port.String(), port.Name, port.ContainerPort)
	}
}

func portMatches(p intstr.IntOrString, port corev1.ContainerPort) bool {
	if p.Type == intstr.String {
		return p.StrVal == port.Name
	}
	return p.IntVal == port.ContainerPort
}

func TestService(t *testing.T) {
	svc, err := Service()
	if err != nil {
		t.Fatal(err)
	}
	d, err := Deployment()
	if err != nil {
		t.Fatal(err)
	}
	checkLabels(t, "Service", svc.Labels)
	if svc.Name != Name || svc.Namespace != Namespace {
		t.Errorf("Service = %s/%s", svc.Namespace, svc.Name)
	}
	if len(svc.Spec.Selector) == 0 || !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(d.Spec.Template.Labels)) {
		t.Errorf("Service selector %v does not match the pod template labels", svc.Spec.Selector)
	}
	if len(svc.Spec.Ports) != 1 {
		t.Fatalf("want one Service port, got %+v", svc.Spec.Ports)
	}
	sp := svc.Spec.Ports[0]
	if sp.Name != MetricsPortName || sp.Port != MetricsPort {
		t.Errorf("Service port = %+v, want %s %d", sp, MetricsPortName, MetricsPort)
	}
	if !portMatches(sp.TargetPort, d.Spec.Template.Spec.Containers[0].Ports[0]) {
		t.Errorf("Service targetPort %s is not the container port", sp.TargetPort.String())
	}
}

// serviceMonitor models the fields of monitoring.coreos.com/v1 ServiceMonitor the test
// checks (the operator's Go types are not a dependency of this module).
type serviceMonitor struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name      string            `json:"name"`
		Namespace string            `json:"namespace"`
		Labels    map[string]string `json:"labels"`
	} `json:"metadata"`
	Spec struct {
		Selector struct {
			MatchLabels map[string]string `json:"matchLabels"`
		} `json:"selector"`
		Endpoints []struct {
			Port        string `json:"port"`
			Path        string `json:"path"`
			HonorLabels bool   `json:"honorLabels"`
		} `json:"endpoints"`
	} `json:"spec"`
}

func TestServiceMonitor(t *testing.T) {
	data, err := Manifest(ServiceMonitorFile)
	if err != nil {
		t.Fatal(err)
	}
	var sm serviceMonitor
	if err := yaml.Unmarshal(data, &sm); err != nil {
		t.Fatal(err)
	}
	svc, err := Service()
	if err != nil {
		t.Fatal(err)
	}
	if sm.APIVersion != "monitoring.coreos.com/v1" || sm.Kind != "ServiceMonitor" {
		t.Errorf("got %s %s", sm.APIVersion, sm.Kind)
	}
	checkLabels(t, "ServiceMonitor", sm.Metadata.Labels)
	if sm.Metadata.Name != Name || sm.Metadata.Namespace != Namespace {
		t.Errorf("ServiceMonitor = %s/%s", sm.Metadata.Namespace, sm.Metadata.Name)
	}
	ml := sm.Spec.Selector.MatchLabels
	if len(ml) == 0 || !labels.SelectorFromSet(ml).Matches(labels.Set(svc.Labels)) {
		t.Errorf("selector %v does not match the Service labels %v", ml, svc.Labels)
	}
	if len(sm.Spec.Endpoints) != 1 {
		t.Fatalf("want one endpoint, got %d", len(sm.Spec.Endpoints))
	}
	ep := sm.Spec.Endpoints[0]
	if ep.Port != svc.Spec.Ports[0].Name || (ep.Path != "" && ep.Path != "/metrics") {
		t.Errorf("endpoint = %+v, want port %s path /metrics", ep, svc.Spec.Ports[0].Name)
	}
	// Workload series carry namespace and pod labels; the operator's target labels of the
	// same names must not override them.
	if !ep.HonorLabels {
		t.Error("endpoint: honorLabels must be true")
	}
}

type kustomization struct {
	APIVersion string           `json:"apiVersion"`
	Kind       string           `json:"kind"`
	Namespace  string           `json:"namespace"`
	Resources  []string         `json:"resources"`
	Components []string         `json:"components"`
	Images     []kustomizeImage `json:"images"`
}

type kustomizeImage struct {
	Name    string `json:"name"`
	NewName string `json:"newName"`
	NewTag  string `json:"newTag"`
	Digest  string `json:"digest"`
}

// manifestFiles lists the YAML files in dir on disk, without the kustomization itself.
func manifestFiles(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		ext := filepath.Ext(e.Name())
		if e.IsDir() || (ext != ".yaml" && ext != ".yml") {
			continue
		}
		if e.Name() == "kustomization.yaml" || e.Name() == "kustomization.yml" || e.Name() == "Kustomization" {
			continue
		}
		out = append(out, e.Name())
	}
	slices.Sort(out)
	return out
}

func readKustomization(t *testing.T, name string) kustomization {
	t.Helper()
	data, err := Manifest(name)
	if err != nil {
		t.Fatal(err)
	}
	var k kustomization
	if err := unmarshalStrict(data, &k); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return k
}

func TestKustomizationListsEveryFile(t *testing.T) {
	k := readKustomization(t, KustomizationFile)
	if k.APIVersion != "kustomize.config.k8s.io/v1beta1" || k.Kind != "Kustomization" {
		t.Errorf("kustomization.yaml: got %s %s", k.APIVersion, k.Kind)
	}
	if k.Namespace != Namespace {
		t.Errorf("kustomization namespace = %q, want %q", k.Namespace, Namespace)
	}
	for _, r := range k.Resources {
		if strings.Contains(r, "/") || strings.Contains(r, "..") {
			t.Errorf("base resource %q must be a file in deploy/", r)
		}
	}
	got := slices.Sorted(slices.Values(k.Resources))
	if want := manifestFiles(t, "."); !slices.Equal(got, want) {
		t.Errorf("kustomization.yaml resources = %v, want every manifest in deploy/: %v", got, want)
	}
	if i := slices.IndexFunc(k.Images, func(im kustomizeImage) bool {
		return im.Name == Image
	}); i < 0 || k.Images[i].NewName != "" {
		t.Errorf("kustomization.yaml: want an images entry for %s (where the tag is pinned)", Image)
	}

	// The Prometheus Operator component: every file it holds, and nothing from the base.
	c := readKustomization(t, path.Join("prometheus-operator", KustomizationFile))
	if c.APIVersion != "kustomize.config.k8s.io/v1alpha1" || c.Kind != "Component" {
		t.Errorf("prometheus-operator/kustomization.yaml: got %s %s, want a Component", c.APIVersion, c.Kind)
	}
	got = slices.Sorted(slices.Values(c.Resources))
	if want := manifestFiles(t, "prometheus-operator"); !slices.Equal(got, want) {
		t.Errorf("prometheus-operator resources = %v, want %v", got, want)
	}
}

// TestManifestsConsistent checks what kustomize would not: every base manifest is one
// document, is in the right namespace (or none for cluster-scoped kinds), and the base
// creates no Namespace.
func TestManifestsConsistent(t *testing.T) {
	clusterScoped := map[string]bool{"ClusterRole": true, "ClusterRoleBinding": true}
	for _, name := range append(manifestFiles(t, "."), ServiceMonitorFile) {
		data, err := Manifest(name)
		if err != nil {
			t.Errorf("%s is not embedded: %v", name, err)
			continue
		}
		if strings.Contains("\n"+string(data), "\n---") {
			t.Errorf("%s: want exactly one YAML document per file", name)
		}
		var obj struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Namespace string `json:"namespace"`
			} `json:"metadata"`
		}
		if err := yaml.Unmarshal(data, &obj); err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		switch {
		case obj.Kind == "Namespace":
			t.Errorf("%s: the namespace is not created by these manifests", name)
		case clusterScoped[obj.Kind] && obj.Metadata.Namespace != "":
			t.Errorf("%s: cluster-scoped %s has a namespace", name, obj.Kind)
		case !clusterScoped[obj.Kind] && obj.Metadata.Namespace != Namespace:
			t.Errorf("%s: namespace = %q, want %q", name, obj.Metadata.Namespace, Namespace)
		}
	}
}

// TestHelpersWorkFromAnyDirectory: the helpers read the embedded files, not the disk.
func TestHelpersWorkFromAnyDirectory(t *testing.T) {
	t.Chdir(t.TempDir())
	if _, err := ClusterRole(); err != nil {
		t.Fatal(err)
	}
	if _, err := Deployment(); err != nil {
		t.Fatal(err)
	}
}

func isTrue(b *bool) bool          { return b != nil && *b }
func isFalse(b *bool) bool         { return b != nil && !*b }
func isInt(p *int64, v int64) bool { return p != nil && *p == v }

// TestTwoReplicasSpreadAndBudgeted checks what keeps one replica serving when the other's
// node or zone fails: spread over zones then nodes, without ever leaving a replica
// Pending, and a budget that lets a drain take only one at a time.
func TestTwoReplicasSpreadAndBudgeted(t *testing.T) {
	d, err := Deployment()
	if err != nil {
		t.Fatal(err)
	}
	podLabels := labels.Set(d.Spec.Template.Labels)
	keys := map[string]bool{}
	for _, c := range d.Spec.Template.Spec.TopologySpreadConstraints {
		keys[c.TopologyKey] = true
		if c.WhenUnsatisfiable != corev1.ScheduleAnyway || c.MaxSkew != 1 {
			t.Errorf("spread on %s: whenUnsatisfiable %s, maxSkew %d, want ScheduleAnyway and 1", c.TopologyKey, c.WhenUnsatisfiable, c.MaxSkew)
		}
		if c.LabelSelector == nil || !labels.SelectorFromSet(c.LabelSelector.MatchLabels).Matches(podLabels) {
			t.Errorf("spread on %s: selector %v does not match the pod labels", c.TopologyKey, c.LabelSelector)
		}
	}
	if !keys[corev1.LabelTopologyZone] || !keys[corev1.LabelHostname] || len(keys) != 2 {
		t.Errorf("topology keys = %v, want %s and %s", keys, corev1.LabelTopologyZone, corev1.LabelHostname)
	}

	pdb, err := PodDisruptionBudget()
	if err != nil {
		t.Fatal(err)
	}
	checkLabels(t, "PodDisruptionBudget", pdb.Labels)
	if pdb.Spec.MinAvailable == nil || pdb.Spec.MinAvailable.IntValue() != 1 || pdb.Spec.MaxUnavailable != nil {
		t.Errorf("PodDisruptionBudget minAvailable = %v, maxUnavailable = %v, want minAvailable 1", pdb.Spec.MinAvailable, pdb.Spec.MaxUnavailable)
	}
	if pdb.Spec.Selector == nil || !labels.SelectorFromSet(pdb.Spec.Selector.MatchLabels).Matches(podLabels) {
		t.Errorf("PodDisruptionBudget selector %v does not match the pod labels", pdb.Spec.Selector)
	}
	if int(*d.Spec.Replicas) <= pdb.Spec.MinAvailable.IntValue() {
		t.Errorf("replicas %d with minAvailable %d would block every node drain", *d.Spec.Replicas, pdb.Spec.MinAvailable.IntValue())
	}
}
