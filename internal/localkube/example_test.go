package localkube_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/statefulset-exporter/statefulset-exporter/internal/localkube"
)

// A demo runs a cluster until it is interrupted, making sure the cluster is
// stopped and its temporary files removed on SIGINT or SIGTERM.
func Example() {
	if err := runDemo(); err != nil {
		log.Fatal(err)
	}
}

func runDemo() error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	cluster, err := localkube.Start(ctx, localkube.Options{Logf: log.Printf})
	if err != nil {
		return err
	}
	defer cluster.Stop() // runs on the way out, after a signal too

	kubeconfig := filepath.Join(os.TempDir(), "statefulset-exporter-demo.kubeconfig")
	if err := cluster.WriteKubeconfig(kubeconfig, true); err != nil {
		return err
	}
	fmt.Printf("API server at %s; run the exporter with --kubeconfig=%s\n", cluster.URL(), kubeconfig)

	<-ctx.Done() // until Ctrl-C or SIGTERM
	return nil
}
