package modelio

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:revive // GoMLX graph code reads best with its ops unqualified.
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// TestForwardLogitsMatchesScorer packs documents into training rows, runs
// ForwardLogits and checks that the entropy of its predictions is the
// Scorer's entropy for each document scored on its own: training and
// inference compute the same model.
func TestForwardLogitsMatchesScorer(t *testing.T) {
	r := rand.New(rand.NewPCG(31, 32))
	cfg := smallConfig() // window 16, so rows of 64 use several attention blocks
	w := testWeights(cfg, 5)
	const rows, T = 2, 64
	docs := [][]int32{randomTokens(r, 21), randomTokens(r, 30), randomTokens(r, 13), randomTokens(r, 64), randomTokens(r, 0)}
	// Row 0: docs 0, 1, 2 then padding; row 1: doc 3.
	tok := make([]int32, rows*T)
	seg := filled(rows*T, -1)
	type span struct{ doc, row, at int }
	var spans []span
	at := 0
	for d := range 3 {
		spans = append(spans, span{d, 0, at})
		for i, x := range docs[d] {
			tok[at+i], seg[at+i] = x, int32(d)
		}
		at += len(docs[d])
	}
	spans = append(spans, span{3, 1, 0})
	for i, x := range docs[3] {
		tok[T+i], seg[T+i] = x, 7
	}

	be, err := OpenBackend("simplego")
	if err != nil {
		t.Fatal(err)
	}
	exec, err := NewExec(be, func(in []*Node) *Node {
		logits := ForwardLogits(cfg, dtypes.Float32, in[0], in[1], in[2:])
		return entropyNats(logits)
	})
	if err != nil {
		t.Fatal(err)
	}
	args := []any{tensors.FromFlatDataAndDimensions(tok, rows, T), tensors.FromFlatDataAndDimensions(seg, rows, T)}
	for i, p := range ParamValues(w) {
		args = append(args, tensors.FromFlatDataAndDimensions(p, ParamShapes(cfg)[i]...))
	}
	out, err := exec.Exec(args...)
	if err != nil {
		t.Fatal(err)
	}
	got, err := tensors.CopyFlatData[float32](out[0])
	if err != nil {
		t.Fatal(err)
	}
	want := mustScore(t, w, ScorerOptions{ChunkLen: 128}, docs[:4])
	worst := 0.0
	for _, sp := range spans {
		for i, h := range want[sp.doc].Entropies {
			worst = math.Max(worst, math.Abs(float64(got[sp.row*T+sp.at+i]-h)))
		}
	}
	t.Logf("max |Δentropy| training graph vs Scorer: %.3g nats", worst)
	if worst > 1e-4 {
		t.Errorf("max |Δentropy| = %g nats, want ≤ 1e-4", worst)
	}
}

func TestParamsRoundTrip(t *testing.T) {
	cfg := smallConfig()
	w := testWeights(cfg, 3)
	names, shapes, vals := ParamNames(cfg), ParamShapes(cfg), ParamValues(w)
	if len(names) != len(shapes) || len(names) != len(vals) || len(names) != 3+9*cfg.NLayers {
		t.Fatalf("lengths: names %d shapes %d values %d", len(names), len(shapes), len(vals))
	}
	byName := map[string]TensorRef{}
	for _, r := range w.Tensors() {
		byName[r.Name] = r
	}
	norms := 0
	for i, n := range names {
		r, ok := byName[n]
		if !ok || len(*r.Data) != len(vals[i]) || &(*r.Data)[0] != &vals[i][0] || prod(shapes[i]) != len(vals[i]) {
			t.Errorf("param %d (%s) does not line up with Weights.Tensors", i, n)
		}
		if IsNormParam(i) {
			norms++
			if len(shapes[i]) != 1 {
				t.Errorf("param %d (%s) marked as a norm but has shape %v", i, n, shapes[i])
			}
		}
	}
	if norms != 1+2*cfg.NLayers {
		t.Errorf("%d norm params, want %d", norms, 1+2*cfg.NLayers)
	}
	w2, err := WeightsFromParams(cfg, vals)
	if err != nil {
		t.Fatal(err)
	}
	if &w2.Layers[1].W2[0] != &w.Layers[1].W2[0] || &w2.Output[0] != &w.Output[0] {
		t.Error("WeightsFromParams put tensors in the wrong fields")
	}
	if _, err := WeightsFromParams(cfg, vals[1:]); err == nil {
		t.Error("WeightsFromParams accepted a short list")
	}
}
