package sphere

import (
	"context"
	"encoding/json"
	"github.com/bltpipe/bltpipe/transforms/testcorpus"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"github.com/bltpipe/bltpipe/schemas"
	"github.com/bltpipe/bltpipe/transforms/record"
	"github.com/bltpipe/bltpipe/transforms/waterfill"
	"github.com/bltpipe/bltpipe/transforms/waterfill/alloc"
)

func TestMain(m *testing.M) { ptest.Main(m) }

// sphereRow is a sphere/ row as read back.
type sphereRow struct {
	shell   int
	radius  float64
	logW    float64
	outlier bool
}

type patchKey struct {
	doc string
	idx int32
}

func readSphere(t *testing.T, dir string) map[patchKey]sphereRow {
	t.Helper()
	out := map[patchKey]sphereRow{}
	files, _ := filepath.Glob(filepath.Join(dir, schemas.SphereDir, "part-*.parquet"))
	for _, p := range files {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		pr, err := file.NewParquetReader(f)
		if err != nil {
			t.Fatal(err)
		}
		fr, err := pqarrow.NewFileReader(pr, pqarrow.ArrowReadProperties{BatchSize: 1 << 16}, memory.DefaultAllocator)
		if err != nil {
			t.Fatal(err)
		}
		tbl, err := fr.ReadTable(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if got, want := tbl.Schema(), schemas.Sphere(); len(got.Fields()) != len(want.Fields()) || !func() bool {
			for i, f := range want.Fields() {
				if got.Field(i).Name != f.Name || !arrow.TypeEqual(got.Field(i).Type, f.Type) {
					return false
				}
			}
			return true
		}() {
			t.Fatalf("%s: schema %s", p, tbl.Schema())
		}
		for c := range tbl.Column(0).Data().Chunks() {
			col := func(i int) any { return tbl.Column(i).Data().Chunk(c) }
			docs, idx := col(0).(*array.String), col(1).(*array.Int32)
			lw, sh, rad, out2 := col(3).(*array.Float64), col(5).(*array.Int32), col(6).(*array.Float64), col(7).(*array.Boolean)
			for i := 0; i < docs.Len(); i++ {
				out[patchKey{docs.Value(i), idx.Value(i)}] = sphereRow{int(sh.Value(i)), rad.Value(i), lw.Value(i), out2.Value(i)}
			}
		}
		tbl.Release()
		f.Close()
	}
	return out
}

// readPatches returns every patch of dir/patches in file order.
func readPatches(t *testing.T, dir string) ([]patchKey, []alloc.Patch) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, schemas.PatchesDir, "part-*.parquet"))
	var keys []patchKey
	var ps []alloc.Patch
	for _, p := range files {
		err := scanPatches(context.Background(), p, func(b *batch) error {
			for i := 0; i < b.len(); i++ {
				keys = append(keys, patchKey{b.docID.Value(i), b.patchIndex.Value(i)})
				ps = append(ps, b.patch(i))
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return keys, ps
}

// hashTree returns the sha256 of every file under dir by relative path.
func hashTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out, err := testcorpus.HashTree(dir)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func synthDir(t *testing.T, n, perShard int64) string {
	t.Helper()
	dir := t.TempDir()
	if err := WriteSynthetic(context.Background(), dir, n, perShard, 1); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestRunRankAgreesWithExact: bltpipe waterfill's streaming rank over
// shards against the exact in-memory sort of the same patches.
func TestRunRankAgreesWithExact(t *testing.T) {
	dir := synthDir(t, 60000, 16000)
	c := alloc.DefaultConfig()
	c.Shells = 64
	rep, err := Run(context.Background(), Options{Dir: dir, Alloc: c, Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	keys, ps := readPatches(t, dir)
	got := readSphere(t, dir)
	pl, err := alloc.NewPlan(c, rep.Stats)
	if err != nil {
		t.Fatal(err)
	}
	var items []alloc.Item
	var valid []patchKey
	invalid := 0
	for i, p := range ps {
		if !p.Valid() {
			invalid++
			if _, ok := got[keys[i]]; ok {
				t.Fatalf("invalid patch %v has a sphere row", keys[i])
			}
			continue
		}
		items = append(items, alloc.Item{LogWeight: c.Weighting().LogWeight(p), DocID: keys[i].doc, PatchIndex: keys[i].idx})
		valid = append(valid, keys[i])
	}
	if len(got) != len(valid) || rep.Stats.Invalid != int64(invalid) || invalid == 0 || rep.Sphere.Patches != int64(len(valid)) {
		t.Fatalf("%d sphere rows, %d valid patches, %d invalid (stats say %d), _SPHERE.json %d", len(got), len(valid), invalid, rep.Stats.Invalid, rep.Sphere.Patches)
	}
	exact := alloc.ExactShells(items, pl.Bounds)
	same := 0
	for i, k := range valid {
		r := got[k]
		if d := r.shell - exact[i]; d == 0 {
			same++
		} else if d > 1 || d < -1 {
			t.Fatalf("%v: shell %d, exact %d", k, r.shell, exact[i])
		}
		if r.radius < c.MinRadius || r.radius != pl.Geometry.Radius(r.shell) {
			t.Fatalf("%v: radius %v in shell %d", k, r.radius, r.shell)
		}
	}
	if frac := float64(same) / float64(len(valid)); frac < 0.999 {
		t.Errorf("agreement %.5f", frac)
	}
	if rep.Sphere.MaxCountError > 2 {
		t.Errorf("shell counts off capacity by up to %v", rep.Sphere.MaxCountError)
	}
	var st waterfill.File
	b, err := os.ReadFile(filepath.Join(dir, schemas.StatsFile))
	if err != nil || json.Unmarshal(b, &st) != nil || st.Allocation.Patches != int64(len(valid)) || st.Allocation.Histogram.Data == "" {
		t.Errorf("_STATS.json: %v %+v", err, st.Allocation.Histogram.Bins)
	}
}

// TestRunDeterministic: reruns, with another worker count, and after a
// stale shard appeared, give byte-identical sphere/ and _STATS.json.
func TestRunDeterministic(t *testing.T) {
	for _, m := range []alloc.Method{alloc.MethodRank, alloc.MethodOsmotic, alloc.MethodThrml, alloc.MethodEntropy} {
		dir := synthDir(t, 9000, 2500)
		c := alloc.DefaultConfig()
		c.Method, c.Shells = m, 32
		if _, err := Run(context.Background(), Options{Dir: dir, Alloc: c, Workers: 1}); err != nil {
			t.Fatal(err)
		}
		first := hashTree(t, dir)
		stale := filepath.Join(dir, schemas.SphereDir, "part-99999-deadbeef.parquet")
		os.WriteFile(stale, []byte("old"), 0o644)
		if _, err := Run(context.Background(), Options{Dir: dir, Alloc: c, Workers: 3}); err != nil {
			t.Fatal(err)
		}
		second := hashTree(t, dir)
		if len(first) != len(second) {
			t.Errorf("%s: %d files, then %d", m, len(first), len(second))
		}
		for p, h := range first {
			if second[p] != h {
				t.Errorf("%s: %s differs between runs", m, p)
			}
		}
		if _, err := os.Stat(stale); !os.IsNotExist(err) {
			t.Errorf("%s: stale sphere shard kept", m)
		}
		got := readSphere(t, dir)
		var sf File
		b, _ := os.ReadFile(filepath.Join(dir, schemas.SphereFile))
		if err := json.Unmarshal(b, &sf); err != nil {
			t.Fatal(err)
		}
		for k, r := range got {
			switch {
			case m == alloc.MethodThrml && (r.radius < 0 || r.radius >= 1):
				t.Fatalf("thrml %v: radius %v", k, r.radius)
			case m != alloc.MethodThrml && r.radius < c.MinRadius:
				t.Fatalf("%s %v: radius %v below r_min", m, k, r.radius)
			case math.IsNaN(r.logW) || math.IsNaN(r.radius):
				t.Fatalf("%s %v: NaN", m, k)
			}
		}
		if (m == alloc.MethodOsmotic) != (sf.Osmotic != nil) || len(sf.Table) != 32 || sf.Patches != int64(len(got)) {
			t.Errorf("%s: _SPHERE.json osmotic %v, %d shells, %d patches for %d rows", m, sf.Osmotic, len(sf.Table), sf.Patches, len(got))
		}
		t.Logf("%s: max |count − capacity| = %.1f of %d patches", m, sf.MaxCountError, sf.Patches)
	}
}

func TestRunRejects(t *testing.T) {
	dir := t.TempDir()
	if _, err := Run(context.Background(), Options{Dir: dir, Alloc: alloc.DefaultConfig(), Workers: 1}); err == nil || !strings.Contains(err.Error(), "no patches/") {
		t.Errorf("empty directory: %v", err)
	}
	c := alloc.DefaultConfig()
	c.Method = alloc.MethodNone
	if _, err := Run(context.Background(), Options{Dir: dir, Alloc: c, Workers: 1}); err == nil {
		t.Error("--waterfill none accepted")
	}
}

// TestStageMatchesRun: the Beam stage on prism writes the same bytes as
// the streaming runner, for a per-shard method and for osmotic.
func TestStageMatchesRun(t *testing.T) {
	for _, m := range []alloc.Method{alloc.MethodEntropy, alloc.MethodOsmotic} {
		c := alloc.DefaultConfig()
		c.Method, c.Shells, c.Temperature = m, 16, 0.5
		a := synthDir(t, 7000, 2000)
		if _, err := Run(context.Background(), Options{Dir: a, Alloc: c, Workers: 2}); err != nil {
			t.Fatal(err)
		}
		b := synthDir(t, 7000, 2000)
		files, _ := filepath.Glob(filepath.Join(b, schemas.PatchesDir, "part-*.parquet"))
		st, err := ScanStats(context.Background(), files, c.Weighting(), 1)
		if err != nil {
			t.Fatal(err)
		}
		var infos []record.ShardInfo
		for _, f := range files {
			infos = append(infos, record.ShardInfo{Table: schemas.PatchesDir, Path: "patches/" + filepath.Base(f)})
		}
		infos = append(infos, record.ShardInfo{Table: schemas.DocumentsDir, Path: "documents/x.parquet"})
		p, s := beam.NewPipelineWithRoot()
		stats := beam.Create(s, waterfill.Stats{Alloc: st})
		Stage(s, beam.CreateList(s, infos), stats, Config{Output: b, Alloc: c})
		ptest.RunAndValidate(t, p)
		ha, hb := hashTree(t, a), hashTree(t, b)
		n := 0
		for p, h := range ha {
			if strings.HasPrefix(p, schemas.SphereDir+"/") {
				n++
				if hb[p] != h {
					t.Errorf("%s: %s differs between prism and bltpipe waterfill", m, p)
				}
			}
		}
		if n != len(files)+1 {
			t.Errorf("%s: %d sphere files for %d shards", m, n, len(files))
		}
	}
}

// TestStageNoneEmptiesSphere: --waterfill none leaves no sphere output.
func TestStageNoneEmptiesSphere(t *testing.T) {
	dir := synthDir(t, 3000, 1000)
	if _, err := Run(context.Background(), Options{Dir: dir, Alloc: alloc.DefaultConfig(), Workers: 1}); err != nil {
		t.Fatal(err)
	}
	p, s := beam.NewPipelineWithRoot()
	Stage(s, beam.CreateList(s, []record.ShardInfo{}), beam.CreateList(s, []waterfill.Stats{}), Config{Output: dir, Alloc: alloc.Config{Method: alloc.MethodNone}})
	ptest.RunAndValidate(t, p)
	if left, _ := filepath.Glob(filepath.Join(dir, schemas.SphereDir, "*")); len(left) != 0 {
		t.Errorf("left in sphere/: %v", left)
	}
}
