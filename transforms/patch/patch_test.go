package patch

import (
	"math"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/passert"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"github.com/bltpipe/bltpipe/modelio/patcher"
	"github.com/bltpipe/bltpipe/modelio/tokenizer"
	"github.com/bltpipe/bltpipe/transforms/record"
	"github.com/bltpipe/bltpipe/transforms/testcorpus"
)

func TestMain(m *testing.M) { ptest.Main(m) }

func init() {
	register.DoFn2x1[record.Scored, func(string), error](&checkFn{})
	register.Emitter1[string]()
}

func docs() []record.Document {
	var out []record.Document
	for i, split := range []string{"part-00000-a", "part-00000-a", "part-00001-b", "part-00001-b", "part-00001-b"} {
		out = append(out, record.Document{Split: split, Seq: int64(i), ID: string(rune('a' + i)), Data: []byte(testcorpus.Text(uint64(i), 10+17*i))})
	}
	out = append(out, record.Document{Split: "part-00002-c", ID: "empty"})
	return out
}

func config(t *testing.T) Config {
	dir := t.TempDir()
	if err := testcorpus.WriteSmallModel(dir, 7); err != nil {
		t.Fatal(err)
	}
	o := patcher.DefaultOptions()
	o.Threshold = 5.5 // the random model's entropies sit near ln(260) ≈ 5.56
	return Config{ModelDir: dir, BatchTokens: 64, Patcher: o, Embeddings: true}
}

// checkFn recomputes each document alone with the scorer and emits an error
// string for every disagreement (none expected).
type checkFn struct{ Config Config }

func (fn *checkFn) ProcessElement(sc record.Scored, emit func(string)) error {
	_, scorer, err := Model(fn.Config)
	if err != nil {
		return err
	}
	ref, err := scorer.Score([][]int32{tokenizer.EncodeDoc(sc.Doc.Data)}, true)
	if err != nil {
		return err
	}
	r := ref[0]
	if len(sc.Entropies) != len(sc.Doc.Data)+2 {
		emit(sc.Doc.ID + ": entropy length")
		return nil
	}
	for i := range r.Entropies {
		if math.Abs(float64(r.Entropies[i]-sc.Entropies[i])) > 1e-4 || math.Abs(float64(r.Prominence[i]-sc.Prominence[i])) > 1e-3 {
			emit(sc.Doc.ID + ": per-token values differ from a lone Score")
			return nil
		}
	}
	want, _ := patcher.Patch(tokenizer.EncodeDoc(sc.Doc.Data), sc.Entropies, fn.Config.Patcher)
	if len(want) != len(sc.PatchLengths) {
		emit(sc.Doc.ID + ": patch lengths")
		return nil
	}
	// Pooled vectors are the mean of the lone run's hidden states.
	dim := int(sc.Dim)
	t := 0
	for p, l := range sc.PatchLengths {
		for j := 0; j < dim; j++ {
			sum := 0.0
			for k := t; k < t+int(l); k++ {
				sum += float64(r.Hidden[k*dim+j])
			}
			if math.Abs(sum/float64(l)-float64(sc.Pooled[p*dim+j])) > 1e-3 {
				emit(sc.Doc.ID + ": pooled vector differs")
				return nil
			}
		}
		t += int(l)
	}
	return nil
}

func TestPatchOnPrismMatchesScorer(t *testing.T) {
	c := config(t)
	p, s := beam.NewPipelineWithRoot()
	scored := Patch(s, beam.CreateList(s, docs()), c)
	passert.Count(s, scored, "scored", len(docs()))
	passert.Empty(s, beam.ParDo(s, &checkFn{Config: c}, scored))
	ptest.RunAndValidate(t, p)
}

// Batching splits at split boundaries and at BatchTokens: the same document
// scored in different batches gets the same values.
func TestScoreBatchesAgree(t *testing.T) {
	c := config(t)
	_, scorer, err := Model(c)
	if err != nil {
		t.Fatal(err)
	}
	ds := docs()
	all, err := Score(scorer, ds, c)
	if err != nil {
		t.Fatal(err)
	}
	for i, d := range ds {
		one, err := Score(scorer, []record.Document{d}, c)
		if err != nil {
			t.Fatal(err)
		}
		for j := range one[0].Entropies {
			if d := math.Abs(float64(one[0].Entropies[j] - all[i].Entropies[j])); d > 1e-4 {
				t.Fatalf("doc %d token %d: entropy %v alone, %v batched", i, j, one[0].Entropies[j], all[i].Entropies[j])
			}
		}
	}
	if got := len(all[5].Entropies); got != 2 {
		t.Errorf("empty document has %d entropies, want 2 (BOS, EOS)", got)
	}
}

func TestModelErrorNamesDirectory(t *testing.T) {
	_, _, err := Model(Config{ModelDir: t.TempDir() + "/missing", Patcher: patcher.DefaultOptions()})
	if err == nil {
		t.Fatal("no error for a missing model")
	}
}
