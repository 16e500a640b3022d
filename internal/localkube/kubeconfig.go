package localkube

import (
	"fmt"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// WriteKubeconfig writes a kubeconfig file for the cluster to path, embedding
// the CA certificate and a bearer token: RestrictedUser's if restricted is
// true, AdminUser's otherwise. Its current context is "localkube", so it can
// be passed as is to the exporter's --kubeconfig flag or to kubectl.
func (c *Cluster) WriteKubeconfig(path string, restricted bool) error {
	const name = "localkube"
	user, token := AdminUser, c.creds.adminToken
	if restricted {
		user, token = RestrictedUser, c.creds.restrictedToken
	}

	config := clientcmdapi.NewConfig()
	config.Clusters[name] = &clientcmdapi.Cluster{
		Server:                   c.URL(),
		CertificateAuthorityData: c.creds.certPEM,
	}
	config.AuthInfos[user] = &clientcmdapi.AuthInfo{Token: token}
	config.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: user}
	config.CurrentContext = name

	if err := clientcmd.WriteToFile(*config, path); err != nil {
		return fmt.Errorf("writing kubeconfig: %w", err)
	}
	return nil
}
