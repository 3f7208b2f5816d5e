package pipelines

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// docRow and patchRow are the output rows as the tests read them back.
type docRow struct {
	ID, Source, Modality  string
	NumBytes, NumTokens   int64
	Entropies, Prominence []float32
	PatchLengths          []int32
	Keep                  map[string]*string
}

type patchRow struct {
	DocID                         string
	Index, TokenOffset, Tokens    int32
	ByteOffset, ByteLength        int64
	MeanEntropy, MaxEntropy       float32
	MeanProminence, MaxProminence float32
	Embedding                     []float32
}

func readTable(t *testing.T, path string) arrow.Table {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	pr, err := file.NewParquetReader(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	fr, err := pqarrow.NewFileReader(pr, pqarrow.ArrowReadProperties{BatchSize: 1024}, memory.DefaultAllocator)
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := fr.ReadTable(context.Background())
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return tbl
}

func globSorted(t *testing.T, pattern string) []string {
	t.Helper()
	files, err := filepath.Glob(pattern)
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(files)
	return files
}

func col(tbl arrow.Table, name string) *arrow.Chunked {
	idx := tbl.Schema().FieldIndices(name)
	if len(idx) == 0 {
		return nil
	}
	return tbl.Column(idx[0]).Data()
}

// each calls fn for every row index of every chunk, passing the chunk's arrays by column name.
func each(tbl arrow.Table, fn func(get func(string) arrow.Array, i int)) {
	n := len(tbl.Column(0).Data().Chunks())
	for c := 0; c < n; c++ {
		get := func(name string) arrow.Array { return col(tbl, name).Chunk(c) }
		for i := 0; i < get(tbl.Schema().Field(0).Name).Len(); i++ {
			fn(get, i)
		}
	}
}

func floats(a arrow.Array, i int) []float32 {
	if a.IsNull(i) {
		return nil
	}
	l := a.(*array.List)
	s, e := l.ValueOffsets(i)
	v := l.ListValues().(*array.Float32)
	return append([]float32(nil), v.Float32Values()[s:e]...)
}

// summary reads a patch summary; null (a --model none run) reads as NaN.
func summary(a arrow.Array, i int) float32 {
	if a.IsNull(i) {
		return float32(math.NaN())
	}
	return a.(*array.Float32).Value(i)
}

func int32s(a arrow.Array, i int) []int32 {
	l := a.(*array.List)
	s, e := l.ValueOffsets(i)
	return append([]int32(nil), l.ListValues().(*array.Int32).Int32Values()[s:e]...)
}

func readDocs(t *testing.T, out string, keep []string) []docRow {
	var rows []docRow
	for _, p := range globSorted(t, filepath.Join(out, "documents", "*.parquet")) {
		tbl := readTable(t, p)
		each(tbl, func(get func(string) arrow.Array, i int) {
			r := docRow{
				ID:           get("doc_id").(*array.String).Value(i),
				Source:       get("source").(*array.String).Value(i),
				Modality:     get("modality").(*array.String).Value(i),
				NumBytes:     get("num_bytes").(*array.Int64).Value(i),
				NumTokens:    get("num_tokens").(*array.Int64).Value(i),
				Entropies:    floats(get("entropies"), i),
				Prominence:   floats(get("prominence"), i),
				PatchLengths: int32s(get("patch_lengths"), i),
				Keep:         map[string]*string{},
			}
			for _, k := range keep {
				a := get(k).(*array.String)
				if a.IsValid(i) {
					v := a.Value(i)
					r.Keep[k] = &v
				} else {
					r.Keep[k] = nil
				}
			}
			rows = append(rows, r)
		})
		tbl.Release()
	}
	return rows
}

func readPatches(t *testing.T, out string) []patchRow {
	var rows []patchRow
	for _, p := range globSorted(t, filepath.Join(out, "patches", "*.parquet")) {
		tbl := readTable(t, p)
		hasEmb := col(tbl, "embedding") != nil
		each(tbl, func(get func(string) arrow.Array, i int) {
			r := patchRow{
				DocID:          get("doc_id").(*array.String).Value(i),
				Index:          get("patch_index").(*array.Int32).Value(i),
				TokenOffset:    get("token_offset").(*array.Int32).Value(i),
				Tokens:         get("num_tokens").(*array.Int32).Value(i),
				ByteOffset:     get("byte_offset").(*array.Int64).Value(i),
				ByteLength:     get("byte_length").(*array.Int64).Value(i),
				MeanEntropy:    summary(get("mean_entropy"), i),
				MaxEntropy:     summary(get("max_entropy"), i),
				MeanProminence: summary(get("mean_prominence"), i),
				MaxProminence:  summary(get("max_prominence"), i),
			}
			if hasEmb {
				r.Embedding = floats(get("embedding"), i)
			}
			rows = append(rows, r)
		})
		tbl.Release()
	}
	return rows
}
