package patch

import (
	"fmt"
	"math"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/passert"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"github.com/bltpipe/bltpipe/modelio"
	"github.com/bltpipe/bltpipe/modelio/patcher"
	"github.com/bltpipe/bltpipe/modelio/tokenizer"
	"github.com/bltpipe/bltpipe/schemas"
	"github.com/bltpipe/bltpipe/transforms/record"
	"github.com/bltpipe/bltpipe/transforms/reject"
	"github.com/bltpipe/bltpipe/transforms/testcorpus"
)

func TestMain(m *testing.M) { ptest.Main(m) }

func init() {
	register.DoFn2x1[record.Scored, func(string), error](&checkFn{})
	register.DoFn2x0[record.Scored, func(string)](&contiguousFn{})
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
	ref, err := scorer.Score([][]int32{tokenizer.EncodeDoc(sc.Doc.Data)}, modelio.TokenCut)
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
				sum += float64(r.Pooled[k*dim+j])
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

// contiguousFn emits an error string when a split's elements are not
// contiguous in the order it receives them (it runs fused after the patch
// stage, in the same bundle).
type contiguousFn struct {
	seen map[string]bool
	last string
}

func (fn *contiguousFn) ProcessElement(sc record.Scored, emit func(string)) {
	if fn.seen == nil {
		fn.seen = map[string]bool{}
	}
	if sc.Doc.Split != fn.last && fn.seen[sc.Doc.Split] {
		emit("split " + sc.Doc.Split + " is not contiguous")
	}
	fn.seen[sc.Doc.Split], fn.last = true, sc.Doc.Split
}

// Batches are scored in the background, several per DoFn: every document
// still comes out once, each split's elements stay contiguous, and an
// earlier stage's reject passes on without counting as a patch reject.
func TestBackgroundBatchesKeepSplitsContiguous(t *testing.T) {
	c := config(t)
	c.BatchTokens = 40 // a batch of one or two documents: many in flight
	var in []record.Document
	for i := range 30 {
		d := record.Document{Split: fmt.Sprintf("part-%05d-x", i/7), Seq: int64(i), ID: fmt.Sprint("d", i), Data: []byte(testcorpus.Text(uint64(i), 5+3*i))}
		if i%5 == 3 {
			d = reject.Of(d, schemas.StageRead, reject.ClassDecode, "bad line")
		}
		in = append(in, d)
	}
	p, s := beam.NewPipelineWithRoot()
	scored := Patch(s, beam.CreateList(s, in), c)
	passert.Count(s, scored, "scored", len(in))
	passert.Empty(s, beam.ParDo(s, &contiguousFn{}, scored))
	pr, err := ptest.RunWithMetrics(p)
	if err != nil {
		t.Fatal(err)
	}
	counters := map[string]int64{}
	for _, m := range pr.Metrics().AllMetrics().Counters() {
		counters[m.Name()] += m.Result()
	}
	if counters["documents"] != 24 || counters["rejected_"+schemas.StagePatch] != 0 {
		t.Errorf("counters %v: want 24 documents and no patch reject (the 6 rejects came from read)", counters)
	}
}
