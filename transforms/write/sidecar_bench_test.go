package write

import (
	"context"
	"path/filepath"
	"testing"
)

// BenchmarkSidecar writes the hypergraph sidecar of 200 documents of 4 KiB
// in 4-byte patches (~205 k patch leaves), as benchDocs builds them.
func BenchmarkSidecar(b *testing.B) {
	docs := benchDocs(200, 0)
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
