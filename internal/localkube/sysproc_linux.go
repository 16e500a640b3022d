package localkube

import "syscall"

// childSysProcAttr puts each control-plane process in its own process group,
// so that a Ctrl-C in the terminal reaches only our process (which then stops
// the cluster in order: kube-apiserver before etcd), and asks the kernel to
// SIGKILL the child if our process dies without cleaning up, for example when
// `go test -timeout` panics. Pdeathsig fires when the creating OS thread
// exits; the runtime only retires threads of goroutines that called
// runtime.LockOSThread, which this package never does.
func childSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
