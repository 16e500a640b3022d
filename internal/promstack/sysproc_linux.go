package promstack

import "syscall"

// terminateSignal asks a process to shut down cleanly.
var terminateSignal = syscall.SIGTERM

// childSysProcAttr puts each child in its own process group, so that a Ctrl-C in the
// terminal reaches only the test binary, and asks the kernel to SIGKILL the child if the
// test binary dies without cleaning up (for example when `go test -timeout` panics).
// Pdeathsig fires when the creating OS thread exits; the runtime only retires threads of
// goroutines that called runtime.LockOSThread, which this package never does.
func childSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
