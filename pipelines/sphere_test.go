package pipelines

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/bltpipe/bltpipe/schemas"
	"github.com/bltpipe/bltpipe/transforms/waterfill/alloc"
	"github.com/bltpipe/bltpipe/transforms/waterfill/sphere"
	"github.com/bltpipe/bltpipe/transforms/write"
)

// TestSphereByDefault: a run writes sphere/ (rank, default shells) with a
// row per valid patch, listed in the manifest, and bltpipe waterfill over
// the output rewrites exactly the same bytes.
func TestSphereByDefault(t *testing.T) {
	c := writeCorpus(t)
	out := t.TempDir()
	o := testOptions(t, c, out)
	runPipeline(t, o)

	patches := readPatches(t, out)
	valid := 0
	for _, p := range patches {
		if (alloc.Patch{Prominence: p.MeanProminence, MaxProminence: p.MaxProminence, MeanEntropy: p.MeanEntropy}).Valid() {
			valid++
		}
	}
	rows := 0
	def := alloc.DefaultConfig()
	for _, f := range globSorted(t, filepath.Join(out, schemas.SphereDir, "part-*.parquet")) {
		tbl := readTable(t, f)
		each(tbl, func(get func(string) arrow.Array, i int) {
			rows++
			r := get(schemas.ColRadius).(*array.Float64).Value(i)
			k := get(schemas.ColShell).(*array.Int32).Value(i)
			if r < def.MinRadius || k < 0 || int(k) >= def.Shells {
				t.Fatalf("%s row %d: shell %d radius %v", f, i, k, r)
			}
		})
	}
	if rows != valid || valid == 0 {
		t.Errorf("sphere/ has %d rows for %d valid patches", rows, valid)
	}
	var m write.Manifest
	b, err := os.ReadFile(filepath.Join(out, schemas.ManifestFile))
	if err != nil || json.Unmarshal(b, &m) != nil {
		t.Fatal(err)
	}
	listed := 0
	for _, s := range m.Shards {
		if s.Table == schemas.SphereDir {
			listed++
		}
	}
	if n := len(globSorted(t, filepath.Join(out, schemas.PatchesDir, "part-*.parquet"))); listed != n {
		t.Errorf("manifest lists %d sphere shards for %d patches shards", listed, n)
	}

	before := hashTree(t, out)
	if _, err := sphere.Run(context.Background(), sphere.Options{Dir: out, Alloc: def, Workers: 2}); err != nil {
		t.Fatal(err)
	}
	after := hashTree(t, out)
	for p, h := range before {
		if (strings.HasPrefix(p, schemas.SphereDir+"/") || p == schemas.StatsFile || p == schemas.ManifestFile) && after[p] != h {
			t.Errorf("%s differs between the pipeline and bltpipe waterfill", p)
		}
	}
}
