package invite_test

import (
	"crypto/rand"
	"crypto/sha256"
	"hash/crc32"
	"testing"

	"github.com/invitekit/invite"
)

// The floors: the least work any token scheme of this strength must do.
// Minting must read 32 random bytes and hash once; parsing must hash once and
// checksum once. `go test -bench Token -count 10 .` prints floors and the
// library side by side.

var sink invite.TokenHash

func BenchmarkTokenMintFloor(b *testing.B) {
	var raw [32]byte
	for b.Loop() {
		_, _ = rand.Read(raw[:])
		sink = sha256.Sum256(raw[:])
	}
}

func BenchmarkTokenMint(b *testing.B) {
	for b.Loop() {
		_, sink = mintToken(b, invite.DefaultTokenPrefix)
	}
}

func BenchmarkTokenParseFloor(b *testing.B) {
	tok, _ := mintToken(b, invite.DefaultTokenPrefix)
	s := []byte(tok.Reveal())
	var c uint32
	for b.Loop() {
		c += crc32.ChecksumIEEE(s[:len(s)-6])
		sink = sha256.Sum256(s)
	}
	_ = c
}

func BenchmarkTokenParse(b *testing.B) {
	tok, _ := mintToken(b, invite.DefaultTokenPrefix)
	s := tok.Reveal()
	for b.Loop() {
		h, err := invite.ParseToken(invite.DefaultTokenPrefix, s)
		if err != nil {
			b.Fatal(err)
		}
		sink = h
	}
}
