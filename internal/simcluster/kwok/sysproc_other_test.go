//go:build !linux

package kwok_test

import "syscall"

// childSysProcAttr keeps kwok in our process group, so that a terminal's
// Ctrl-C reaches it if the test binary dies before it can stop it.
func childSysProcAttr() *syscall.SysProcAttr {
	return nil
}
