package train

import (
	"bytes"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bltpipe/bltpipe/modelio"
)

// tinyConfig is a model that trains in seconds on the CPU.
func tinyConfig() modelio.Config {
	return modelio.Config{Dim: 32, NLayers: 2, NHeads: 4, NKVHeads: 2, VocabSize: 260, MultipleOf: 16,
		NormEps: 1e-5, RopeTheta: 10000, SlidingWindow: 16, MaxSeqLen: 32}
}

// repetitiveCorpus is a few dozen short documents built from a handful of
// phrases: easy to learn, so a working trainer lowers the loss quickly.
func repetitiveCorpus(n int) [][]byte {
	phrases := []string{"the cat sat on the mat. ", "a dog ran in the fog. ", "func main() { return } "}
	var docs [][]byte
	for i := range n {
		var b strings.Builder
		for j := range 2 + i%3 {
			b.WriteString(phrases[(i+j)%len(phrases)])
		}
		docs = append(docs, []byte(b.String()))
	}
	return docs
}

func tinyOptions(t *testing.T) Options {
	h := DefaultHyper()
	h.LR, h.Warmup = 1e-2, 5
	return Options{Config: tinyConfig(), Hyper: h, SeqLen: 32, Batch: 8, Steps: 40, Seed: 7,
		Backend: "simplego", LogEvery: 10, Checkpoint: filepath.Join(t.TempDir(), "ckpt.safetensors")}
}

func TestLossFalls(t *testing.T) {
	o := tinyOptions(t)
	var log bytes.Buffer
	o.Log = &log
	held := EvalSet{Name: "held", Docs: repetitiveCorpus(5)}
	res, err := Run(o, repetitiveCorpus(40), []EvalSet{held})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(log.String())
	first := mean(res.Losses[:3])
	last := mean(res.Losses[len(res.Losses)-5:])
	t.Logf("loss %.3f → %.3f nats", first, last)
	if first < 5 || first > 6 { // a fresh model is near uniform over 260 tokens: ln 260 = 5.56
		t.Errorf("initial loss %.3f, want about ln 260 = 5.56", first)
	}
	if last > 0.5*first {
		t.Errorf("loss fell from %.3f to %.3f in %d steps, want at least halved", first, last, o.Steps)
	}
	if len(res.Eval) != 1 || res.Eval[0].BitsPerByte <= 0 || res.Eval[0].BitsPerByte >= res.Eval[0].UnigramBits {
		t.Errorf("evaluation %+v: want bits/byte in (0, unigram)", res.Eval)
	}
	if err := res.Weights.Validate(); err != nil {
		t.Error(err)
	}
	again, err := Evaluate(res.Weights, []EvalSet{held}, o)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(again[0].BitsPerByte-res.Eval[0].BitsPerByte) > 1e-6 || again[0].Bytes != res.Eval[0].Bytes {
		t.Errorf("Evaluate gives %+v, the run's final evaluation %+v", again[0], res.Eval[0])
	}
	w, step, err := CheckpointWeights(o.Checkpoint)
	if err != nil {
		t.Fatal(err)
	}
	if step != o.Steps || fmt.Sprint(modelio.ParamValues(w)) != fmt.Sprint(modelio.ParamValues(res.Weights)) {
		t.Errorf("checkpoint holds step %d and other weights than the run returned", step)
	}
	if !strings.Contains(log.String(), "eval step 40 held:") {
		t.Error("log lacks the final evaluation line")
	}
}

// TestResumeMatchesUninterrupted stops a run at step 11, resumes it from the
// checkpoint and compares every later loss with an uninterrupted run.
func TestResumeMatchesUninterrupted(t *testing.T) {
	docs := repetitiveCorpus(40)
	o := tinyOptions(t)
	o.Steps = 20
	full, err := Run(o, docs, nil)
	if err != nil {
		t.Fatal(err)
	}

	o2 := tinyOptions(t)
	o2.Steps, o2.StopAfter, o2.CheckpointEvery = 20, 11, 5
	first, err := Run(o2, docs, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !first.Stopped || len(first.Losses) != 11 {
		t.Fatalf("interrupted run: stopped %v after %d steps, want 11", first.Stopped, len(first.Losses))
	}
	o2.StopAfter, o2.Resume = 0, true
	second, err := Run(o2, docs, nil)
	if err != nil {
		t.Fatal(err)
	}
	if second.FirstStep != 11 || len(second.Losses) != 9 {
		t.Fatalf("resumed run started at step %d with %d steps, want 11 and 9", second.FirstStep, len(second.Losses))
	}
	curve := append(first.Losses, second.Losses...)
	worst := 0.0
	for i, l := range full.Losses {
		worst = math.Max(worst, math.Abs(l-curve[i]))
	}
	t.Logf("max |Δloss| resumed vs uninterrupted: %g", worst)
	if worst > 1e-6 {
		t.Errorf("resumed loss curve differs by up to %g, want ≤ 1e-6", worst)
	}
	pa, pb := modelio.ParamValues(full.Weights), modelio.ParamValues(second.Weights)
	for i := range pa {
		for j := range pa[i] {
			if d := math.Abs(float64(pa[i][j] - pb[i][j])); d > 1e-6 {
				t.Fatalf("param %d[%d]: %g vs %g after resume", i, j, pa[i][j], pb[i][j])
			}
		}
	}

	// A checkpoint from another configuration is refused.
	o3 := o2
	o3.Hyper.LR = 5e-3
	if _, err := Run(o3, docs, nil); err == nil || !strings.Contains(err.Error(), "same options") {
		t.Errorf("resume with another lr: err = %v, want a refusal", err)
	}
}

func TestPackRowsAndBatch(t *testing.T) {
	docs := [][]byte{[]byte("abc"), []byte("hello"), []byte("")}
	r := PackRows(docs, 6)
	// Streams: [1 a b c 2] [1 h e l l o 2] [1 2] = 5 + 7 + 2 = 14 tokens → 3 rows.
	if r.N != 3 || r.Bytes != 8 {
		t.Fatalf("rows %d bytes %d, want 3 and 8", r.N, r.Bytes)
	}
	// Row 0 = [BOS a b c EOS | BOS], row 1 = [h e l l o EOS], row 2 = [BOS EOS pad…].
	b := r.batch([]int{0, 1, 2, -1}, false)
	wantSegs := "[0 0 0 0 0 1 1 1 1 1 1 1 2 2 -1 -1 -1 -1 -1 -1 -1 -1 -1 -1]"
	// Counted: predictions within a document and the row; none past EOS,
	// across documents, at the row's end or on padding.
	wantWeights := "[1 1 1 1 0 0 1 1 1 1 1 0 1 0 0 0 0 0 0 0 0 0 0 0]"
	if got := fmt.Sprint(b.Segs); got != wantSegs {
		t.Errorf("segs %s, want %s", got, wantSegs)
	}
	if got := fmt.Sprint(b.Weights); got != wantWeights {
		t.Errorf("weights %s, want %s", got, wantWeights)
	}
	if b.Targets[0] != 'a'+4 || b.Targets[3] != 2 || b.Targets[6] != 'e'+4 || b.Targets[12] != 2 {
		t.Errorf("targets %v", b.Targets)
	}
	bytesOnly := r.batch([]int{0}, true)
	if fmt.Sprint(bytesOnly.Weights) != fmt.Sprint([]float32{1, 1, 1, 0, 0, 0}) {
		t.Errorf("bytes-only weights %v, want EOS targets dropped", bytesOnly.Weights)
	}
}

func TestScheduleAndOrder(t *testing.T) {
	h := Hyper{LR: 1, MinLRFrac: 0.1, Warmup: 10}
	if got := h.LRAt(0, 100); got != 0.1 {
		t.Errorf("lr at step 0 = %g, want 0.1", got)
	}
	if got := h.LRAt(9, 100); got != 1 {
		t.Errorf("lr at the end of warmup = %g, want 1", got)
	}
	if got := h.LRAt(99, 100); math.Abs(got-0.1) > 1e-12 {
		t.Errorf("lr at the last step = %g, want 0.1", got)
	}
	if a, b := h.LRAt(40, 100), h.LRAt(60, 100); !(a > b && b > 0.1) {
		t.Errorf("cosine not decreasing: %g, %g", a, b)
	}
	o := &order{n: 4, rows: 10, seed: 3}
	seen := map[int]int{}
	for s := range 5 { // two epochs exactly
		for _, r := range o.rowsFor(s) {
			seen[r]++
		}
	}
	for r := range 10 {
		if seen[r] != 2 {
			t.Fatalf("row %d seen %d times in two epochs, want 2", r, seen[r])
		}
	}
	o2 := &order{n: 4, rows: 10, seed: 3}
	if fmt.Sprint(o2.rowsFor(3)) != fmt.Sprint(o.rowsFor(3)) {
		t.Error("the rows of a step depend on the steps asked for before it")
	}
}

func mean(x []float64) float64 {
	s := 0.0
	for _, v := range x {
		s += v
	}
	return s / float64(len(x))
}
