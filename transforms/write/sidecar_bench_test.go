package write

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/bltpipe/bltpipe/transforms/record"
)

// BenchmarkSidecar writes the hypergraph sidecar of 200 documents of 4 KiB
// in 4-byte patches (~205 k patch nodes): the write stage's costliest part.
func BenchmarkSidecar(b *testing.B) {
	docs := make([]record.Scored, 200)
	for i := range docs {
		d := record.Scored{Doc: record.Document{ID: fmt.Sprint("d", i), Source: "in.jsonl", Modality: "text", Data: make([]byte, 4096)}}
		for off := int64(0); off < 4096; off += 4 {
			d.Patches = append(d.Patches, record.Patch{ByteOffset: off, ByteLength: 4, Tokens: 4})
		}
		docs[i] = d
	}
	patches := 0
	for i := 0; i < b.N; i++ {
		g, err := newSidecar(filepath.Join(b.TempDir(), "x.hypergraph.db"), map[string]string{"k": "v"})
		if err != nil {
			b.Fatal(err)
		}
		for _, d := range docs {
			if err := g.add(d); err != nil {
				b.Fatal(err)
			}
			patches += len(d.Patches)
		}
		if _, _, err := g.close(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(patches)/b.Elapsed().Seconds(), "patches/s")
}
