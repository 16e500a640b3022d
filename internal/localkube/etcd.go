package localkube

import (
	"fmt"
	"os/exec"
)

// debianEtcd is where Debian's etcd-server package installs etcd.
const debianEtcd = "/usr/bin/etcd"

// FindEtcd returns the path of the etcd binary: /usr/bin/etcd if present,
// otherwise the first etcd on PATH. The returned error wraps ErrUnavailable
// and says how to install etcd.
func FindEtcd() (string, error) {
	if path, err := exec.LookPath(debianEtcd); err == nil {
		return path, nil
	}
	path, err := exec.LookPath("etcd")
	if err != nil {
		return "", fmt.Errorf("%w: etcd not found at %s or on PATH (install it with `apt-get install -y etcd-server`): %w",
			ErrUnavailable, debianEtcd, err)
	}
	return path, nil
}

// etcdArgs is the command line of a single-member etcd listening on loopback
// only. The flags are understood by etcd 3.4 (Debian's) and later releases.
func etcdArgs(dataDir string, clientPort, peerPort int) []string {
	clientURL := fmt.Sprintf("http://127.0.0.1:%d", clientPort)
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", peerPort)
	return []string{
		"--name=localkube",
		"--data-dir=" + dataDir,
		"--listen-client-urls=" + clientURL,
		"--advertise-client-urls=" + clientURL,
		"--listen-peer-urls=" + peerURL,
		"--initial-advertise-peer-urls=" + peerURL,
		"--initial-cluster=localkube=" + peerURL,
		"--initial-cluster-state=new",
		"--logger=zap",
		"--log-outputs=stderr",
	}
}
