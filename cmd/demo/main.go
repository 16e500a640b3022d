// Command demo starts a local Kubernetes API server (etcd + kube-apiserver on loopback),
// fills it with StatefulSets in the failure states statefulset-exporter explains, runs
// the exporter binary against it and prints where its metrics are, until Ctrl-C.
//
//	go run ./cmd/demo             # until Ctrl-C
//	go run ./cmd/demo --once      # print the derived metrics once and exit (CI smoke test)
package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"k8s.io/client-go/kubernetes"

	"github.com/statefulset-exporter/statefulset-exporter/internal/exporterbin"
	"github.com/statefulset-exporter/statefulset-exporter/internal/localkube"
	"github.com/statefulset-exporter/statefulset-exporter/internal/scenario"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout))
}

func run(args []string, stdout io.Writer) int {
	app := kingpin.New("demo", "Run statefulset-exporter against a local Kubernetes API server holding broken StatefulSets.")
	listen := app.Flag("web.listen-address", "Where the exporter listens.").Default("127.0.0.1:9817").String()
	once := app.Flag("once", "Print the derived metrics once the exporter has caught up, then exit.").Bool()
	if _, err := app.Parse(args); err != nil {
		fmt.Fprintf(os.Stderr, "demo: %v\n", err)
		return 2
	}
	logger := log.New(stdout, "demo: ", log.Ltime)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := demo(ctx, logger, *listen, *once, stdout); err != nil {
		logger.Printf("error: %v", err)
		return 1
	}
	return 0
}

func demo(ctx context.Context, logger *log.Logger, listen string, once bool, stdout io.Writer) error {
	start := time.Now()
	if _, err := localkube.FindEtcd(); err != nil {
		return err
	}
	apiServer, err := localkube.EnsureAPIServer(ctx, logger.Printf)
	if err != nil {
		return err
	}
	cluster, err := localkube.Start(ctx, localkube.Options{APIServerPath: apiServer, Logf: logger.Printf})
	if err != nil {
		return err
	}
	defer cluster.Stop()
	logger.Printf("kube-apiserver ready at %s (%s since start)", cluster.URL(), time.Since(start).Round(time.Second))

	client, err := kubernetes.NewForConfig(cluster.AdminConfig())
	if err != nil {
		return err
	}
	if err := scenario.ApplyAll(ctx, client); err != nil {
		return err
	}
	for _, holder := range []string{"ip-10-0-1-10.ec2.internal_2f0c8a53-6f7e-4c1b-9d6a-1b2c3d4e5f60", "ip-10-0-2-20.ec2.internal_9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"} {
		if err := scenario.SetLeaseHolder(ctx, client, "kube-scheduler", holder); err != nil {
			return err
		}
	}

	dir, err := os.MkdirTemp("", "statefulset-exporter-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := cluster.WriteKubeconfig(kubeconfig, false); err != nil {
		return err
	}
	logger.Printf("building the exporter")
	binary, err := exporterbin.Build(ctx, dir)
	if err != nil {
		return err
	}
	exporter, err := exporterbin.Start(ctx, binary,
		"--kubeconfig="+kubeconfig,
		"--web.listen-address="+listen,
		"--rollout.stall-after=30s",
		"--terminating.stuck-after=10s",
		"--api.probe-interval=5s",
	)
	if err != nil {
		return err
	}
	defer exporter.Stop()

	fmt.Fprintf(stdout, "\nStatefulSets on the local API server (namespace = name):\n")
	for _, s := range scenario.All() {
		fmt.Fprintf(stdout, "  %-16s %s\n", s.Name, s.Description)
	}
	fmt.Fprintf(stdout, "\nExporter:   %s/metrics   (landing page %s/)\n", exporter.URL, exporter.URL)
	fmt.Fprintf(stdout, "Kubeconfig: %s (admin)\n", kubeconfig)
	fmt.Fprintf(stdout, "Ready in %s. Rollout stalls show after 30s, stuck terminating pods after 10s.\n", time.Since(start).Round(time.Second))

	if once {
		// Wait for the time-based derivations (stuck terminating after 10s + 1s grace),
		// then print the workload metrics.
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(12 * time.Second):
		}
		body, err := exporter.Get(ctx, "/metrics")
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout)
		for _, line := range strings.Split(body, "\n") {
			if interesting(line) {
				fmt.Fprintln(stdout, line)
			}
		}
		return nil
	}
	fmt.Fprintf(stdout, "Press Ctrl-C to stop and clean up.\n")
	select {
	case <-ctx.Done():
	case <-waitExit(exporter):
		return fmt.Errorf("the exporter exited: %v\n%s", exporter.ExitErr(), exporter.Log())
	}
	logger.Printf("stopping")
	return nil
}

// interesting selects the samples that show a problem, for --once.
func interesting(line string) bool {
	for _, prefix := range []string{
		"statefulset_ready_ratio", "statefulset_rollout_blocking_pod_info", "statefulset_pods_waiting",
		"statefulset_pods_unschedulable", "statefulset_pvc_pending_created_timestamp_seconds",
		"statefulset_pod_volume_zone", "statefulset_volume_attachment_error{", "statefulset_pod_stuck_terminating",
		"control_plane_lease_holder_info", "control_plane_lease_transitions_total", "statefulset_exporter_api_reachable",
	} {
		if strings.HasPrefix(line, prefix) {
			return true
		}
	}
	return strings.HasPrefix(line, "statefulset_rollout_stalled") && strings.HasSuffix(line, " 1")
}

func waitExit(p *exporterbin.Process) <-chan struct{} {
	ch := make(chan struct{})
	go func() {
		for !p.Exited() {
			time.Sleep(500 * time.Millisecond)
		}
		close(ch)
	}()
	return ch
}
