package write

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/bltpipe/bltpipe/schemas"
	"github.com/bltpipe/bltpipe/transforms/record"
)

// benchDocs are n documents of 4 KiB cut in 4-byte patches, scored as the
// patch and embed stages leave them: per-token entropies and prominence,
// and (dim > 0) a dim-wide embedding per patch.
func benchDocs(n, dim int) []record.Scored {
	docs := make([]record.Scored, n)
	for i := range docs {
		const size = 4096
		d := record.Scored{Doc: record.Document{ID: fmt.Sprint("d", i), Split: "s0", Source: "in.jsonl", Modality: "text", Data: make([]byte, size)}}
		d.Entropies = make([]float32, size+2)
		d.Prominence = make([]float32, size+2)
		for j := range d.Entropies {
			d.Entropies[j], d.Prominence[j] = float32(j%7)*0.3, 40+float32(j%5)
		}
		for off := int64(0); off < size; off += 4 {
			p := record.Patch{TokenOffset: int32(off + 1), Tokens: 4, ByteOffset: off, ByteLength: 4, MeanEntropy: 1, MaxEntropy: 2, MeanProminence: 40, MaxProminence: 44}
			if dim > 0 {
				p.Embedding = make([]float32, dim)
				for k := range p.Embedding {
					p.Embedding[k] = float32(k+int(off)) * 1e-3
				}
			}
			d.Patches = append(d.Patches, p)
			d.PatchLengths = append(d.PatchLengths, 4)
		}
		docs[i] = d
	}
	return docs
}

// BenchmarkWriteSplit writes one split of 100 documents (102 k patches)
// through the write stage's per-split path: documents/ and patches/
// Parquet and the hypergraph sidecar. A split is written by one goroutine,
// so patches/s here bounds the pipeline while splits arrive one by one.
func BenchmarkWriteSplit(b *testing.B) {
	for _, dim := range []int{0, 768} {
		b.Run(fmt.Sprintf("embedding%d", dim), func(b *testing.B) {
			docs := benchDocs(100, dim)
			patches := 0
			for b.Loop() {
				fn := &writeFn{Config: Config{Output: b.TempDir(), Embeddings: dim > 0}}
				f := &splitFiles{split: "s0", source: "in.jsonl"}
				var r splitResult
				for _, d := range docs {
					if err := fn.add(context.Background(), f, d, &r); err != nil {
						b.Fatal(err)
					}
					patches += len(d.Patches)
				}
				if err := fn.closeSplit(context.Background(), f, &r); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(patches)/b.Elapsed().Seconds(), "patches/s")
		})
	}
}

// TestParquetEncodings checks the writer properties on a written patches/
// file: embeddings plain and uncompressed, other columns zstd, and
// dictionaries only on string columns.
func TestParquetEncodings(t *testing.T) {
	dir := t.TempDir()
	fn := &writeFn{Config: Config{Output: dir, Embeddings: true}}
	f := &splitFiles{split: "s0", source: "in.jsonl"}
	var r splitResult
	for _, d := range benchDocs(3, 8) {
		if err := fn.add(context.Background(), f, d, &r); err != nil {
			t.Fatal(err)
		}
	}
	if err := fn.closeSplit(context.Background(), f, &r); err != nil {
		t.Fatal(err)
	}
	var path string
	for _, si := range r.infos {
		if si.Table == schemas.PatchesDir {
			path = filepath.Join(dir, filepath.FromSlash(si.Path))
		}
	}
	rd, err := file.OpenParquetFile(path, false)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	rg := rd.MetaData().RowGroup(0)
	for i := range rg.NumColumns() {
		cc, err := rg.ColumnChunk(i)
		if err != nil {
			t.Fatal(err)
		}
		name := cc.PathInSchema().String()
		wantCodec, wantDict := compress.Codecs.Zstd, name == schemas.ColDocID
		if name == embeddingColumn {
			wantCodec = compress.Codecs.Uncompressed
		}
		if cc.Compression() != wantCodec || cc.HasDictionaryPage() != wantDict {
			t.Errorf("column %s: codec %v dictionary %v, want %v %v", name, cc.Compression(), cc.HasDictionaryPage(), wantCodec, wantDict)
		}
	}
}
