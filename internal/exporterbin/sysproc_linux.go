package exporterbin

import "syscall"

// childAttr makes the kernel kill the exporter when the process that started it dies,
// so a test binary that panics on a timeout leaves no exporter behind, and puts it in
// its own process group, so that a Ctrl-C in the terminal reaches only the parent, which
// stops it in order.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
}
