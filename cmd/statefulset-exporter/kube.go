package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// kubeFlags configure the connection to the Kubernetes API.
type kubeFlags struct {
	kubeconfig string
	context    string
	qps        float32
	burst      int
}

func (k *kubeFlags) register(app *kingpin.Application) {
	app.Flag("kubeconfig", "Path to a kubeconfig file. Without it: in-cluster config, then $KUBECONFIG, then ~/.kube/config.").
		StringVar(&k.kubeconfig)
	app.Flag("kube.context", "Kubeconfig context to use (default: the current context).").StringVar(&k.context)
	app.Flag("kube.qps", "Maximum queries per second to the API server.").Default("20").Float32Var(&k.qps)
	app.Flag("kube.burst", "Maximum burst of queries to the API server.").Default("40").IntVar(&k.burst)
}

// restConfig resolves the API connection and says where it came from.
func (k *kubeFlags) restConfig() (*rest.Config, string, error) {
	cfg, source, err := k.load()
	if err != nil {
		return nil, "", err
	}
	cfg.QPS = k.qps
	cfg.Burst = k.burst
	cfg.UserAgent = "statefulset-exporter"
	return cfg, source, nil
}

func (k *kubeFlags) load() (*rest.Config, string, error) {
	overrides := &clientcmd.ConfigOverrides{CurrentContext: k.context}
	if k.kubeconfig != "" {
		if _, err := os.Stat(k.kubeconfig); err != nil {
			return nil, "", fmt.Errorf("--kubeconfig: %w", err)
		}
		rules := &clientcmd.ClientConfigLoadingRules{ExplicitPath: k.kubeconfig}
		cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides).ClientConfig()
		if err != nil {
			return nil, "", fmt.Errorf("--kubeconfig %s: %w", k.kubeconfig, err)
		}
		return cfg, k.kubeconfig, nil
	}
	if k.context == "" {
		cfg, err := rest.InClusterConfig()
		if err == nil {
			return cfg, "in-cluster", nil
		}
		if !errors.Is(err, rest.ErrNotInCluster) {
			return nil, "", fmt.Errorf("in-cluster config: %w", err)
		}
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides).ClientConfig()
	if err != nil {
		if clientcmd.IsEmptyConfig(err) {
			return nil, "", errors.New("no Kubernetes configuration: not running in a cluster, $KUBECONFIG unset and no ~/.kube/config; pass --kubeconfig")
		}
		return nil, "", fmt.Errorf("kubeconfig: %w", err)
	}
	return cfg, "kubeconfig " + rules.GetDefaultFilename(), nil
}

// newAPIProbe returns the reachability probe: a GET of /version with its own timeout,
// on a client separate from the watches (a client-wide timeout would cut them). It does
// not retry: client-go would otherwise retry a 429 or a 5xx with Retry-After up to 10
// times within the probe's timeout, and report API throttling as a timeout.
func newAPIProbe(cfg *rest.Config, interval time.Duration) (func(context.Context) error, error) {
	probeCfg := rest.CopyConfig(cfg)
	probeCfg.Timeout = min(max(interval, time.Second), 10*time.Second)
	client, err := kubernetes.NewForConfig(probeCfg)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context) error {
		return client.Discovery().RESTClient().Get().AbsPath("/version").MaxRetries(0).Do(ctx).Error()
	}, nil
}
