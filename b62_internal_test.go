package invite

import (
	"crypto/rand"
	"encoding/binary"
	"hash/crc32"
	"math/big"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestEncodeBase62MatchesMathBig checks the word-wise encoder against
// math/big on random and edge inputs: each 64-bit word must read back as
// the same number.
func TestEncodeBase62MatchesMathBig(t *testing.T) {
	inputs := [][32]byte{{}, {0: 1}}
	var ones [32]byte
	for i := range ones {
		ones[i] = 0xFF
	}
	inputs = append(inputs, ones)
	for range 1000 {
		var raw [32]byte
		_, _ = rand.Read(raw[:])
		inputs = append(inputs, raw)
	}
	for _, raw := range inputs {
		var dst [tokenBodyLen]byte
		encodeBase62_256(dst[:], &raw)
		for w := 0; w < 4; w++ {
			n := new(big.Int)
			for _, c := range dst[w*11 : w*11+11] {
				require.NotEqual(t, byte(0xFF), base62Index[c])
				n.Mul(n, big.NewInt(62)).Add(n, big.NewInt(int64(base62Index[c])))
			}
			require.Equal(t, binary.BigEndian.Uint64(raw[w*8:]), n.Uint64(), "word %d", w)
		}
	}
}

func TestChecksumIsCRC32IEEE(t *testing.T) {
	for n := range 100 {
		p := make([]byte, n)
		_, _ = rand.Read(p)
		require.Equal(t, crc32.ChecksumIEEE(p), checksum(p))
	}
}
