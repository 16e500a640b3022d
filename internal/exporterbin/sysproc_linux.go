package exporterbin

import "syscall"

// childAttr makes the kernel kill the exporter when the process that started it dies,
// so a test binary that panics on a timeout leaves no exporter behind.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
