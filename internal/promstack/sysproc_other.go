//go:build !linux

package promstack

import (
	"os"
	"syscall"
)

// terminateSignal asks a process to shut down cleanly.
var terminateSignal os.Signal = os.Interrupt

func childSysProcAttr() *syscall.SysProcAttr { return nil }
