package write

import (
	"context"
	"path/filepath"
	"slices"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/bltpipe/bltpipe/schemas"
)

// TestPatchesParts writes splits with embeddings: a split's patches are
// spread over schemas.PatchesParts files, document k wholly in file k
// mod PatchesParts and in arrival order there, every patch once; a split of
// fewer documents than files leaves no empty extra file.
func TestPatchesParts(t *testing.T) {
	parts := schemas.PatchesParts(true)
	for _, n := range []int{2 * parts, parts - 2} {
		dir := t.TempDir()
		fn := &writeFn{Config: Config{Output: dir, Embeddings: true}}
		f := &splitFiles{split: "s0", source: "in.jsonl"}
		var r splitResult
		docs := benchDocs(n, 8)
		for _, d := range docs {
			if err := fn.add(context.Background(), f, d, &r); err != nil {
				t.Fatal(err)
			}
		}
		if err := fn.closeSplit(context.Background(), f, &r); err != nil {
			t.Fatal(err)
		}
		var files []string
		for _, si := range r.infos {
			if si.Table == schemas.PatchesDir {
				if want := schemas.PatchesPartName("s0", len(files)); si.Path != want {
					t.Errorf("%d docs: patches file %d is %s, want %s", n, len(files), si.Path, want)
				}
				files = append(files, filepath.Join(dir, filepath.FromSlash(si.Path)))
			}
		}
		if want := min(n, parts); len(files) != want {
			t.Fatalf("%d docs: %d patches files, want %d", n, len(files), want)
		}
		for k, path := range files {
			var want []string
			for i := k; i < n; i += parts {
				for range docs[i].Patches {
					want = append(want, docs[i].Doc.ID)
				}
			}
			if got := readDocIDs(t, path); !slices.Equal(got, want) {
				t.Errorf("%d docs: file %d holds %d patch rows (doc ids %v…), want %d of docs ≡ %d mod %d", n, k, len(got), head(got), len(want), k, parts)
			}
		}
	}
	if schemas.PatchesParts(false) != 1 {
		t.Errorf("without embeddings a split has %d patches files, want 1", schemas.PatchesParts(false))
	}
}

func readDocIDs(t *testing.T, path string) []string {
	t.Helper()
	pf, err := file.OpenParquetFile(path, false)
	if err != nil {
		t.Fatal(err)
	}
	defer pf.Close()
	rd, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := rd.ReadTable(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer tbl.Release()
	idx := tbl.Schema().FieldIndices(schemas.ColDocID)
	if len(idx) != 1 {
		t.Fatalf("%s: no %s column", path, schemas.ColDocID)
	}
	var out []string
	for _, c := range tbl.Column(idx[0]).Data().Chunks() {
		for i := range c.Len() {
			out = append(out, c.(*array.String).Value(i))
		}
	}
	return out
}

func head(s []string) []string { return s[:min(len(s), 3)] }
