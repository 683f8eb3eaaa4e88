package invite

import (
	"crypto/rand"
	"encoding/binary"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
)

// lastV7 is the (Unix milliseconds << 12 | sequence) of the last id newID
// made, so ids from one process increase even when the clock stands still
// (a test clock) or steps back.
var lastV7 atomic.Uint64

// newID returns a UUIDv7 (RFC 9562) for now: 48 bits of Unix milliseconds,
// a 12-bit sequence that keeps ids of the same millisecond in creation
// order, and 62 random bits from crypto/rand. It reads the Manager's clock,
// not the wall clock, and costs one allocation.
func newID(now time.Time) string {
	ms := uint64(now.UnixMilli()) & (1<<48 - 1)
	seq := uint64(now.Nanosecond()%int(time.Millisecond)) >> 8 // 0..3906, as google/uuid
	want := ms<<12 | seq
	for {
		last := lastV7.Load()
		next := max(want, last+1)
		if lastV7.CompareAndSwap(last, next) {
			want = next
			break
		}
	}
	var u uuid.UUID
	binary.BigEndian.PutUint64(u[:8], want<<4&^0xffff|0x7000|want&0xfff)
	_, _ = rand.Read(u[8:]) // crypto/rand.Read never fails (Go 1.24+)
	u[8] = 0x80 | u[8]&0x3f
	return u.String()
}
