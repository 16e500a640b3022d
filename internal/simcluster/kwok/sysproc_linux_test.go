package kwok_test

import "syscall"

// childSysProcAttr puts kwok in its own process group and has the kernel
// SIGKILL it if the test binary dies without cleaning up (as localkube does
// for its control plane; see internal/localkube/sysproc_linux.go).
func childSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
