//go:build unix

package benchwin

import (
	"syscall"
	"time"
)

// ProcessCPU returns the CPU time (user and system) this process has used,
// or 0 where it cannot be read.
func ProcessCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
