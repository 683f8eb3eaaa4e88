package memstore_test

import (
	"syscall"
	"testing"
)

// BenchmarkFreshPage measures what the first write to a fresh 4 KiB page of
// anonymous memory costs on this machine (the page fault, the kernel zeroing
// the page and, on a virtual machine, the host backing it). A heap that
// grows pays it for every 4 KiB; read BenchmarkStore's faults/op with it.
func BenchmarkFreshPage(b *testing.B) {
	const size = 64 << 20
	const page = 4096
	var mem []byte
	off := size
	for range b.N {
		if off == size {
			b.StopTimer()
			if mem != nil {
				_ = syscall.Munmap(mem)
			}
			var err error
			mem, err = syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
			if err != nil {
				b.Fatal(err)
			}
			// 4 KiB pages even where transparent huge pages are "always".
			if err := syscall.Madvise(mem, syscall.MADV_NOHUGEPAGE); err != nil {
				b.Fatal(err)
			}
			off = 0
			b.StartTimer()
		}
		mem[off] = 1
		off += page
	}
	b.StopTimer()
	_ = syscall.Munmap(mem)
}
