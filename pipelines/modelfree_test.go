package pipelines

import (
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/bltpipe/bltpipe/modelio/patcher"
	"github.com/bltpipe/bltpipe/modelio/tokenizer"
	"github.com/bltpipe/bltpipe/schemas"
	"github.com/bltpipe/bltpipe/transforms/patch"
	"github.com/bltpipe/bltpipe/transforms/waterfill/alloc"
)

// modelFreeOptions is testOptions without a model: space patching, no
// embeddings, no BLT Arrow file, no water-filling.
func modelFreeOptions(t *testing.T, c corpus, out string) Options {
	o := testOptions(t, c, out)
	o.ModelDir = patch.NoModel
	o.Patcher = patcher.Options{Mode: patcher.ModeSpace}
	o.Embeddings = false
	o.BLTArrow = ""
	o.Waterfill = alloc.Config{Method: alloc.MethodNone}
	return o
}

// --model none cuts every document with its patcher alone and writes the
// same tables with the model's columns null; DuckDB and the sqlite3 CLI
// read them so.
func TestModelFreeRun(t *testing.T) {
	c := writeCorpus(t)
	out := t.TempDir()
	o := modelFreeOptions(t, c, out)
	runPipeline(t, o)

	docs := readDocs(t, out, nil)
	if len(docs) != len(c.texts) {
		t.Fatalf("%d documents, want %d", len(docs), len(c.texts))
	}
	var tokens, lengths int64
	for _, d := range docs {
		text, ok := c.texts[d.ID]
		if !ok {
			t.Fatalf("unexpected document %q", d.ID)
		}
		want, err := patcher.Patch(tokenizer.EncodeDoc(text), nil, o.Patcher)
		if err != nil {
			t.Fatal(err)
		}
		if d.Entropies != nil || d.Prominence != nil {
			t.Errorf("%s: entropies %d, prominence %d values; want null", d.ID, len(d.Entropies), len(d.Prominence))
		}
		if d.NumTokens != int64(len(text)+2) || !slices.Equal(d.PatchLengths, want) {
			t.Errorf("%s: %d tokens, patches %v; want %d, %v (space patching of its bytes)", d.ID, d.NumTokens, d.PatchLengths, len(text)+2, want)
		}
		tokens += d.NumTokens
		lengths += int64(len(d.PatchLengths))
	}
	patches := readPatches(t, out)
	if int64(len(patches)) != lengths {
		t.Fatalf("%d patch rows for %d patch lengths", len(patches), lengths)
	}
	for _, p := range patches {
		for _, v := range []float32{p.MeanEntropy, p.MaxEntropy, p.MeanProminence, p.MaxProminence} {
			if !math.IsNaN(float64(v)) {
				t.Fatalf("patch %s/%d has summaries %+v; want nulls", p.DocID, p.Index, p)
			}
		}
		if p.Embedding != nil {
			t.Fatalf("patch %s/%d has an embedding", p.DocID, p.Index)
		}
	}

	m := readManifest(t, out)
	if m.SchemaVersion != schemas.Version || m.Run.Model.Dir != patch.NoModel || m.Run.Model.Config != nil || m.Run.Model.WeightsSHA256 != "" {
		t.Errorf("manifest %s, model %+v; want dir %q and nothing else", m.SchemaVersion, m.Run.Model, patch.NoModel)
	}
	for _, s := range m.Shards {
		if s.Table == "sphere" {
			t.Errorf("sphere shard %s without a model", s.Path)
		}
	}
	if _, err := os.Stat(filepath.Join(out, schemas.SphereDir)); !os.IsNotExist(err) {
		t.Errorf("sphere/ written without a model: %v", err)
	}

	// DuckDB: the same counts, every model column null.
	node := needTool(t, "node", "apt-get install nodejs")
	f := duckCheck(t, node, duckdbDir(t), out)
	if f.Documents.Rows != int64(len(docs)) || f.Documents.Tokens != tokens || f.Documents.BadPatchSums != 0 || f.PatchMismatches.N != 0 {
		t.Errorf("DuckDB documents %+v, %d patch mismatches", f.Documents, f.PatchMismatches.N)
	}
	if f.Patches.Rows != lengths || f.Patches.Tokens != tokens || f.Join.Rows != lengths || f.Join.OutOfRange != 0 || f.Join.BadBytes != 0 {
		t.Errorf("DuckDB patches %+v, join %+v", f.Patches, f.Join)
	}
	if f.Nulls.Entropies != int64(len(docs)) || f.Nulls.Prominence != int64(len(docs)) || f.Nulls.PatchSummaries != lengths {
		t.Errorf("DuckDB nulls %+v; want %d documents and %d patches", f.Nulls, len(docs), lengths)
	}

	// sqlite3: one leaf per patch, with NULL summaries.
	sqlite := needTool(t, "sqlite3", "apt-get install sqlite3")
	dbs, _ := filepath.Glob(filepath.Join(out, schemas.HypergraphDir, "*"+schemas.HypergraphExt))
	if len(dbs) == 0 {
		t.Fatal("no sidecars")
	}
	var leaves, summarised int64
	for _, db := range dbs {
		b, err := exec.Command(sqlite, "-readonly", "-batch", "-noheader", "-separator", " ", db,
			"SELECT count(*), count(mean_entropy) + count(mean_prominence) FROM patch_leaves").CombinedOutput()
		if err != nil {
			t.Fatalf("sqlite3 %s: %v\n%s", db, err, b)
		}
		var n [2]int64
		for i, w := range strings.Fields(string(b)) {
			n[i], _ = strconv.ParseInt(w, 10, 64)
		}
		leaves += n[0]
		summarised += n[1]
	}
	if leaves != lengths || summarised != 0 {
		t.Errorf("sidecars: %d patch leaves (%d with summaries); want %d, none", leaves, summarised, lengths)
	}
}

// A model-free run refuses what needs the model, before it starts.
func TestModelFreeRefusesModelOutputs(t *testing.T) {
	c := corpus{dir: t.TempDir()}
	for name, edit := range map[string]func(*Options){
		"entropy patching": func(o *Options) { o.Patcher = patcher.DefaultOptions() },
		"embeddings":       func(o *Options) { o.Embeddings = true },
		"blt arrow":        func(o *Options) { o.BLTArrow = "x" },
		"water-filling":    func(o *Options) { o.Waterfill = alloc.Config{} },
	} {
		o := modelFreeOptions(t, c, t.TempDir())
		edit(&o)
		err := o.Validate()
		if err == nil || !strings.Contains(err.Error(), "--model none") {
			t.Errorf("%s: Validate() = %v; want an error naming --model none", name, err)
		}
	}
}
