//go:build !linux

package localkube

import "syscall"

// childSysProcAttr keeps the children in our process group: without Linux's
// Pdeathsig that is what makes a terminal's Ctrl-C reach them if our process
// dies before it can stop them.
func childSysProcAttr() *syscall.SysProcAttr {
	return nil
}
