// Package kwok configures kwok (sigs.k8s.io/kwok, built from tests/tools/kube)
// to play the kubelets of the simulated cluster's nodes: it keeps the nodes
// annotated NodeAnnotation=NodeAnnotationValue Ready and their Leases fresh,
// and moves the pods bound to them through the lifecycle that each pod's
// BehaviorLabel asks for, with kubelet's timings (see README.md).
//
// Config returns kwok's configuration, the KwokConfiguration options and the
// Stage objects embedded from stages/*.yaml; Args writes it to a directory and
// returns kwok's command line, to be run with Env added to the environment.
package kwok

import (
	"bytes"
	"embed"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Nodes: kwok manages exactly the nodes carrying this annotation. Label them
// the same way so that pods can select them with a nodeSelector.
const (
	NodeAnnotation      = "kwok.x-k8s.io/node"
	NodeAnnotationValue = "fake"
)

// Prefix starts the names of the labels and annotations that choose how a
// pod behaves on a kwok node.
const Prefix = "simcluster.statefulset-exporter.io/"

// BehaviorLabel chooses a pod's lifecycle; a pod without it (or with an
// unknown value) starts at once and stays Running and Ready. The label is
// read at every step, so a test may change it on a live pod: for example
// removing it makes a not-ready pod Ready, and a crash-looping or
// image-pull-failing pod start for good at its next restart or pull attempt.
const (
	BehaviorLabel = Prefix + "behavior"

	// BehaviorCrashLoop: every container runs for CrashAfterAnnotation,
	// exits with code 1 (reason Error) and is restarted with kubelet's
	// exponential back-off, waiting in CrashLoopBackOff in between. While
	// it runs the pod is Ready only if it has no readiness probe: a
	// container that crashes seconds after starting never passes one.
	BehaviorCrashLoop = "crash-loop"
	// BehaviorOOMKilled is BehaviorCrashLoop with exit code 137, reason
	// OOMKilled.
	BehaviorOOMKilled = "oom-killed"
	// BehaviorNotReady: containers run but are never ready, as with a
	// failing readiness probe (Ready and ContainersReady False).
	BehaviorNotReady = "not-ready"
	// BehaviorImagePullError: the pod stays Pending, its containers waiting
	// with reason ErrImagePull, then ImagePullBackOff until the next pull
	// attempt, on kubelet's back-off schedule.
	BehaviorImagePullError = "image-pull-error"
)

// Annotations tuning the behaviours. Durations are Go durations made of ms,
// s, m and h ("500ms", "1m30s") or plain seconds ("2.5"); an invalid value
// counts as absent.
const (
	// CrashAfterAnnotation is how long a crash-looping container runs
	// before it exits. Default 2s.
	CrashAfterAnnotation = Prefix + "crash-after"
	// BackOffAnnotation is the initial restart and image pull back-off,
	// kubelet's 10s by default. Tests scale it down, e.g. to "1s".
	BackOffAnnotation = Prefix + "backoff"
	// MaxBackOffAnnotation caps the back-off. Default 30 times
	// BackOffAnnotation, kubelet's 5m0s for the default 10s.
	MaxBackOffAnnotation = Prefix + "backoff-max"
	// TerminationDelayAnnotation is how long a deleted pod stays
	// Terminating before kwok deletes it, at most until its
	// deletionTimestamp. Default 0s.
	TerminationDelayAnnotation = Prefix + "termination-delay"
)

const (
	// PodCIDR is where kwok takes pod IPs from, for nodes without
	// spec.podCIDR. The addresses only appear in pod status: nothing
	// listens on them and nothing must connect to them. It does not overlap
	// localkube's service range, 10.0.0.0/24.
	PodCIDR = "10.244.0.0/16"

	// NodeLeaseDurationSeconds is the duration kwok writes into the node
	// Leases. kwok renews a Lease every quarter of it (5s, ±4%), like
	// kubelet does with its default 40s.
	NodeLeaseDurationSeconds = 20

	// ConfigFile is the name of the configuration file that Args writes.
	ConfigFile = "kwok.yaml"
)

//go:embed stages/*.yaml
var stageFiles embed.FS

// Config returns kwok's configuration: a KwokConfiguration followed by every
// Stage, as one multi-document YAML file.
//
// It starts no server (no serverAddress or nodePort), so kwok listens on no
// port: there are no metrics, health, logs or exec endpoints.
//
// kwok v0.8.0 applies no defaults to a configuration file (v0.7.0 did), so every
// option its controllers read is set here, to kwok's documented defaults.
func Config() ([]byte, error) {
	var b bytes.Buffer
	fmt.Fprintf(&b, `apiVersion: config.kwok.x-k8s.io/v1alpha1
kind: KwokConfiguration
options:
  manageAllNodes: false
  manageNodesWithAnnotationSelector: %s=%s
  cidr: %s
  nodeLeaseDurationSeconds: %d
  nodeLeaseParallelism: 4
  nodePlayStageParallelism: 4
  podPlayStageParallelism: 4
  podsOnNodeSyncParallelism: 1
  enablePodsOnNodeSyncListPager: true
  enablePodsOnNodeSyncStreamWatch: false
`, NodeAnnotation, NodeAnnotationValue, PodCIDR, NodeLeaseDurationSeconds)

	names, err := fs.Glob(stageFiles, "stages/*.yaml")
	if err != nil {
		return nil, err
	}
	for _, name := range names {
		data, err := stageFiles.ReadFile(name)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(&b, "---\n# %s\n", name)
		b.Write(bytes.TrimRight(data, "\n"))
		b.WriteByte('\n')
	}
	return b.Bytes(), nil
}

// Args writes Config to dir/ConfigFile, creating dir if needed, and returns
// the arguments (without the program name) that run kwok against the API
// server of kubeconfig with that configuration. Run kwok with Env(dir) added
// to its environment.
func Args(dir, kubeconfig string) ([]string, error) {
	config, err := Config()
	if err != nil {
		return nil, fmt.Errorf("kwok configuration: %w", err)
	}
	dir, err = filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if kubeconfig, err = filepath.Abs(kubeconfig); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, ConfigFile)
	if err := os.WriteFile(path, config, 0o644); err != nil {
		return nil, fmt.Errorf("writing kwok configuration: %w", err)
	}
	return []string{"--kubeconfig=" + kubeconfig, "--config=" + path}, nil
}

// Env returns the environment variables to add to kwok's environment. kwok
// also loads $KWOK_WORKDIR/kwok.yaml (default ~/.kwok/kwok.yaml) when it
// exists; pointing KWOK_WORKDIR into dir keeps a developer's own kwok
// configuration out of the simulated cluster.
func Env(dir string) []string {
	return []string{"KWOK_WORKDIR=" + filepath.Join(dir, "workdir")}
}
