// Command statefulset-exporter serves derived health metrics of Kubernetes
// StatefulSets for Prometheus.
package main

import (
	"os"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}
