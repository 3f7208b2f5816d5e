package fsio

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
)

// TestAtomicFileBuffersInOrder writes more than two buffers' worth in odd
// pieces: the committed file, its size and its sha256 match the bytes, the
// file is absent until Commit, and writing after Commit fails.
func TestAtomicFileBuffersInOrder(t *testing.T) {
	final := filepath.Join(t.TempDir(), "out.bin")
	a, err := Create(context.Background(), final)
	if err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	for i := 0; want.Len() < 2*writeChunk+12345; i++ {
		p := bytes.Repeat([]byte{byte(i)}, 1+(i*7919)%65537)
		if n, err := a.Write(p); n != len(p) || err != nil {
			t.Fatalf("write %d: %d, %v", i, n, err)
		}
		want.Write(p)
	}
	if _, err := os.Stat(final); !os.IsNotExist(err) {
		t.Fatalf("final name exists before Commit: %v", err)
	}
	if err := a.Commit(); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(final)
	if err != nil || !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("committed %d bytes (%v), wrote %d", len(got), err, want.Len())
	}
	sum := sha256.Sum256(want.Bytes())
	if a.Size() != int64(want.Len()) || a.SHA256() != hex.EncodeToString(sum[:]) {
		t.Errorf("Size %d SHA256 %s, want %d %x", a.Size(), a.SHA256(), want.Len(), sum)
	}
	if _, err := a.Write([]byte("late")); err == nil {
		t.Error("write after Commit succeeded")
	}
}
