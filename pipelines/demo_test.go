package pipelines

import (
	"path/filepath"
	"testing"

	"github.com/bltpipe/bltpipe/modelio/patcher"
	"github.com/bltpipe/bltpipe/transforms/testcorpus"
)

// The committed demo corpus (make demo) reads completely: 4 text files,
// 24 JSONL lines and 30 Parquet rows in 3 row groups.
func TestDemoCorpus(t *testing.T) {
	model := t.TempDir()
	if err := testcorpus.WriteSmallModel(model, 3); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	o := Options{
		Inputs: []string{filepath.Join("..", "testdata", "demo")}, Output: out, ModelDir: model,
		Patcher: patcher.DefaultOptions(), Embeddings: true, BLTArrow: "demo", Keep: []string{"url", "score"},
	}
	runPipeline(t, o)
	docs := readDocs(t, out, o.Keep)
	if len(docs) != 4+24+30 {
		t.Fatalf("%d documents, want 58", len(docs))
	}
	withURL := 0
	for _, d := range docs {
		if d.Keep["url"] != nil && d.Keep["score"] != nil {
			withURL++
		}
	}
	if withURL != 30 {
		t.Errorf("%d documents kept url and score, want the 30 Parquet rows", withURL)
	}
}
