//go:build !linux

package exporterbin

import "syscall"

func childAttr() *syscall.SysProcAttr { return nil }
