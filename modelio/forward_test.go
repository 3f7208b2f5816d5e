package modelio

import (
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"sync"
	"testing"
)

// smallConfig is a model small enough for float64 reference runs.
func smallConfig() Config {
	return Config{
		Dim: 32, NLayers: 2, NHeads: 4, VocabSize: 260, MultipleOf: 16,
		NormEps: 1e-5, RopeTheta: 10000, SlidingWindow: 16, MaxSeqLen: 1024,
	}
}

func randomTokens(r *rand.Rand, n int) []int32 {
	t := make([]int32, n)
	for i := range t {
		t[i] = int32(4 + r.IntN(256))
	}
	if n > 0 {
		t[0] = 1 // BOS
	}
	if n > 1 {
		t[n-1] = 2 // EOS
	}
	return t
}

// compareToReference checks every document's entropies and hidden states
// against the float64 reference run on that document alone, and returns the
// worst |Δentropy| and relative hidden-state error.
func compareToReference(t *testing.T, w *Weights, docs [][]int32, got []DocScore) (maxDH, maxRel float64) {
	t.Helper()
	dim := w.Config.Dim
	for di, doc := range docs {
		ref := refForward(w, doc)
		for i := range doc {
			dh := math.Abs(float64(got[di].Entropies[i]) - ref.entropy[i])
			maxDH = math.Max(maxDH, dh)
			var num, den, norm float64
			for d := range dim {
				diff := float64(got[di].Pooled[i*dim+d]) - ref.hidden[i][d]
				num += diff * diff
				den += ref.hidden[i][d] * ref.hidden[i][d]
			}
			norm = math.Sqrt(den)
			maxRel = math.Max(maxRel, math.Sqrt(num)/norm)
			if dp := math.Abs(float64(got[di].Prominence[i]) - norm); dp > 1e-5*norm {
				t.Errorf("doc %d token %d: prominence %g, reference %g", di, i, got[di].Prominence[i], norm)
			}
		}
	}
	return maxDH, maxRel
}

func TestForwardMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	gqa := smallConfig()
	gqa.NKVHeads = 2
	cases := []struct {
		name string
		cfg  Config
		docs [][]int32
		opts ScorerOptions
	}{
		// 3× the window, processed in chunks of 32 with the key cache.
		{"long document, chunked", smallConfig(), [][]int32{randomTokens(r, 3*16+5)}, ScorerOptions{ChunkLen: 32, BatchTokens: 32}},
		// One chunk of 128 tokens split into four blocks of 32 queries.
		{"long document, blocks within a chunk", smallConfig(), [][]int32{randomTokens(r, 120)}, ScorerOptions{ChunkLen: 128, BatchTokens: 128}},
		// One stream: the second document is packed after the first.
		{"two documents packed in one row", smallConfig(), [][]int32{randomTokens(r, 21), randomTokens(r, 30)}, ScorerOptions{ChunkLen: 128, BatchTokens: 128}},
		{"grouped-query attention", gqa, [][]int32{randomTokens(r, 40), randomTokens(r, 9)}, ScorerOptions{ChunkLen: 32, BatchTokens: 64}},
		{"batch of ragged documents", smallConfig(), [][]int32{
			randomTokens(r, 3), randomTokens(r, 50), randomTokens(r, 17), randomTokens(r, 1), randomTokens(r, 90), randomTokens(r, 2),
		}, ScorerOptions{ChunkLen: 32, BatchTokens: 128}},
	}
	// One long document keeps its stream running after the others end: the
	// finished rows run as padding, then the batch shrinks (caches compacted).
	skewed := [][]int32{randomTokens(r, 700)}
	for range 12 {
		skewed = append(skewed, randomTokens(r, 20+r.IntN(40)))
	}
	cases = append(cases, struct {
		name string
		cfg  Config
		docs [][]int32
		opts ScorerOptions
	}{"streams ending at different times", smallConfig(), skewed, ScorerOptions{ChunkLen: 32, BatchTokens: 256}})
	// The accelerators' shape set: one chunk length, stream counts 1, 8, 64
	// (more padding, shrinking by eighths), same values.
	few := ScorerOptions{ChunkLen: 32, BatchTokens: 2048, FewShapes: true}
	cases = append(cases, []struct {
		name string
		cfg  Config
		docs [][]int32
		opts ScorerOptions
	}{
		{"few shapes, streams ending at different times", smallConfig(), skewed, few},
		{"few shapes, ragged batch", smallConfig(), [][]int32{randomTokens(r, 3), randomTokens(r, 50), randomTokens(r, 1), randomTokens(r, 90)}, few},
		// Query blocks smaller than the window: a block's keys span the
		// cache and several earlier blocks (8 < W−1 = 15: three blocks of
		// keys, front-padded), and a block that divides the window (4).
		{"query blocks of 8, window 16", smallConfig(), [][]int32{randomTokens(r, 120), randomTokens(r, 7), randomTokens(r, 61)}, ScorerOptions{ChunkLen: 32, BatchTokens: 64, QueryBlock: 8}},
		{"query blocks of 4, window 16", smallConfig(), skewed[:4], ScorerOptions{ChunkLen: 32, BatchTokens: 64, QueryBlock: 4}},
	}...)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := testWeights(tc.cfg, 7)
			s, err := NewScorer(w, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			got, err := s.Score(tc.docs, TokenCut)
			if err != nil {
				t.Fatal(err)
			}
			maxDH, maxRel := compareToReference(t, w, tc.docs, got)
			t.Logf("max |Δentropy| = %.3g nats, max relative hidden-state error = %.3g, graphs compiled = %d", maxDH, maxRel, s.CompiledGraphs())
			if maxDH >= 1e-4 {
				t.Errorf("max |Δentropy| = %g nats, want < 1e-4", maxDH)
			}
			if maxRel >= 1e-5 {
				t.Errorf("max relative error of pre-norm states = %g, want < 1e-5", maxRel)
			}
		})
	}
}

// TestChunkedEqualsUnchunked runs a long document once in a single chunk
// and once in chunks of 32 carried by the key/value cache.
func TestChunkedEqualsUnchunked(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	cfg := smallConfig()
	w := testWeights(cfg, 11)
	doc := randomTokens(r, 500)
	whole := mustScore(t, w, ScorerOptions{ChunkLen: 512, BatchTokens: 512}, [][]int32{doc})
	chunked := mustScore(t, w, ScorerOptions{ChunkLen: 32, BatchTokens: 32}, [][]int32{doc})
	assertClose(t, "chunked vs unchunked", whole[0], chunked[0], 1e-5)
}

// TestPackedEqualsAlone checks that a document's results do not depend on
// its neighbours in the stream.
func TestPackedEqualsAlone(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	w := testWeights(smallConfig(), 13)
	docs := [][]int32{randomTokens(r, 37), randomTokens(r, 12), randomTokens(r, 64), randomTokens(r, 5)}
	packed := mustScore(t, w, ScorerOptions{ChunkLen: 32, BatchTokens: 32}, docs)
	for i, d := range docs {
		alone := mustScore(t, w, ScorerOptions{ChunkLen: 128, BatchTokens: 128}, [][]int32{d})
		assertClose(t, fmt.Sprintf("doc %d packed vs alone", i), alone[0], packed[i], 1e-5)
	}
}

func TestScoreEdgeCases(t *testing.T) {
	w := testWeights(smallConfig(), 1)
	s, err := NewScorer(w, ScorerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Score([][]int32{{}, {1}, {}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || len(got[0].Entropies) != 0 || len(got[1].Entropies) != 1 || got[1].Pooled != nil {
		t.Fatalf("unexpected shapes: %+v", got)
	}
	if _, err := s.Score([][]int32{{1, 300}}, nil); err == nil {
		t.Fatal("token 300 accepted, want an out-of-vocabulary error")
	}
	order := weightOrder(w)
	if err := fitsFloat16(order); err != nil {
		t.Errorf("random weights do not fit float16: %v", err)
	}
	kept := order[3][7]
	order[3][7] = -70000 // a layer's wq
	if err := fitsFloat16(order); err == nil || !strings.Contains(err.Error(), "-70000") {
		t.Errorf("a weight of -70000: err %v, want one naming it", err)
	}
	order[3][7] = kept
	for dtype, want := range map[string]string{"f16": "needs an accelerator", "f8": "unknown dtype"} {
		if _, err := NewScorer(w, ScorerOptions{Backend: "simplego", DType: dtype}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("dtype %s on the CPU: err %v, want one saying %q", dtype, err, want)
		}
	}
}

// Concurrent Score calls share the replicas (one per device; simplego has
// one) and give the same results as sequential calls; asking for more
// devices than the backend has is an error.
func TestConcurrentScoreAndDevices(t *testing.T) {
	w := testWeights(smallConfig(), 2)
	if _, err := NewScorer(w, ScorerOptions{Devices: 2}); err == nil || !strings.Contains(err.Error(), "2 devices asked for") {
		t.Fatalf("2 devices on simplego: err %v", err)
	}
	s, err := NewScorer(w, ScorerOptions{Devices: 1, ChunkLen: 32, BatchTokens: 64})
	if err != nil {
		t.Fatal(err)
	}
	if s.Devices() != 1 {
		t.Fatalf("Devices() = %d", s.Devices())
	}
	r := rand.New(rand.NewPCG(5, 5))
	batches := make([][][]int32, 4)
	for i := range batches {
		for _, n := range []int{40 + 17*i, 5, 90} {
			batches[i] = append(batches[i], randomTokens(r, n))
		}
	}
	want := make([][]DocScore, len(batches))
	for i, b := range batches {
		if want[i], err = s.Score(b, TokenCut); err != nil {
			t.Fatal(err)
		}
	}
	got := make([][]DocScore, len(batches))
	errs := make([]error, len(batches))
	var wg sync.WaitGroup
	for i, b := range batches {
		wg.Go(func() { got[i], errs[i] = s.Score(b, TokenCut) })
	}
	wg.Wait()
	for i := range batches {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Errorf("batch %d: concurrent result differs from sequential", i)
		}
	}
}

// TestBF16TracksF32 runs the bf16 compute path on the CPU backend: it must
// stay close to f32 (bf16 keeps 8 bits of mantissa).
func TestBF16TracksF32(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 9))
	w := testWeights(smallConfig(), 21)
	docs := [][]int32{randomTokens(r, 70), randomTokens(r, 20)}
	f32 := mustScore(t, w, ScorerOptions{DType: "f32", ChunkLen: 32}, docs)
	bf16 := mustScore(t, w, ScorerOptions{DType: "bf16", ChunkLen: 32}, docs)
	worst := 0.0
	for i := range docs {
		for j := range f32[i].Entropies {
			worst = math.Max(worst, math.Abs(float64(f32[i].Entropies[j]-bf16[i].Entropies[j])))
		}
	}
	t.Logf("bf16 vs f32: max |Δentropy| = %.3g nats", worst)
	if worst == 0 || worst > 0.25 {
		t.Errorf("bf16 vs f32: max |Δentropy| = %g nats, want in (0, 0.25]", worst)
	}
}

func mustScore(t *testing.T, w *Weights, o ScorerOptions, docs [][]int32) []DocScore {
	t.Helper()
	s, err := NewScorer(w, o)
	if err != nil {
		t.Fatal(err)
	}
	out, err := s.Score(docs, TokenCut)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// assertClose compares entropies (absolute) and hidden states (relative to
// each token's norm).
func assertClose(t *testing.T, what string, a, b DocScore, tol float64) {
	t.Helper()
	if len(a.Entropies) != len(b.Entropies) {
		t.Fatalf("%s: lengths %d and %d", what, len(a.Entropies), len(b.Entropies))
	}
	dim := len(a.Pooled) / max(1, len(a.Entropies))
	worstH, worstRel := 0.0, 0.0
	for i := range a.Entropies {
		worstH = math.Max(worstH, math.Abs(float64(a.Entropies[i]-b.Entropies[i])))
		var num, den float64
		for d := range dim {
			x, y := float64(a.Pooled[i*dim+d]), float64(b.Pooled[i*dim+d])
			num += (x - y) * (x - y)
			den += x * x
		}
		worstRel = math.Max(worstRel, math.Sqrt(num/den))
	}
	t.Logf("%s: max |Δentropy| %.3g, max relative hidden error %.3g", what, worstH, worstRel)
	if worstH > tol || worstRel > tol {
		t.Errorf("%s: max |Δentropy| %g, max relative hidden error %g, want ≤ %g", what, worstH, worstRel, tol)
	}
}

// testWeights makes a deterministic random model.
func testWeights(cfg Config, seed uint64) *Weights {
	r := rand.New(rand.NewPCG(seed, 99))
	normal := func(n int, std float64) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(r.NormFloat64() * std)
		}
		return v
	}
	norm := func(n int) []float32 {
		v := normal(n, 0.1)
		for i := range v {
			v[i]++
		}
		return v
	}
	w := &Weights{Config: cfg, DType: "F32"}
	w.TokEmbeddings = normal(cfg.VocabSize*cfg.Dim, 1)
	w.Output = normal(cfg.VocabSize*cfg.Dim, 0.3)
	w.Norm = norm(cfg.Dim)
	for range cfg.NLayers {
		var l LayerWeights
		shapes := cfg.LayerShapes()
		for i, f := range l.Fields() {
			if shapes[i][1] == 0 {
				*f = norm(shapes[i][0])
			} else {
				*f = normal(shapes[i][0]*shapes[i][1], 0.5/math.Sqrt(float64(shapes[i][1])))
			}
		}
		w.Layers = append(w.Layers, l)
	}
	return w
}

// TestFewShapesFillRows checks that a Score call with few compiled stream
// counts puts documents on every row it computes: 64 short documents once
// ran as 13 streams padded to a 32-row call (39% of the slots real).
func TestFewShapesFillRows(t *testing.T) {
	w := testWeights(smallConfig(), 4)
	s, err := NewScorer(w, ScorerOptions{ChunkLen: 128, BatchTokens: 4096, FewShapes: true})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := s.ScoreTokens(), 32*128*chunksPerStream; got != want {
		t.Fatalf("ScoreTokens() = %d, want %d (32 streams × 128 × %d chunks)", got, want, chunksPerStream)
	}
	r := rand.New(rand.NewPCG(9, 9))
	docs := make([][]int32, 64)
	for i := range docs {
		docs[i] = randomTokens(r, 100)
	}
	if _, err := s.Score(docs, nil); err != nil {
		t.Fatal(err)
	}
	tok, slots := s.Utilization()
	if tok != 6400 || float64(tok)/float64(slots) < 0.75 {
		t.Errorf("%d tokens in %d slots (%.0f%% real), want 6400 in ≥ 75%%", tok, slots, 100*float64(tok)/float64(slots))
	}
}

// TestScorerBusy: Busy counts the time a replica spent in Score calls.
func TestScorerBusy(t *testing.T) {
	s, err := NewScorer(testWeights(smallConfig(), 3), ScorerOptions{ChunkLen: 32})
	if err != nil {
		t.Fatal(err)
	}
	if s.Busy() != 0 {
		t.Fatalf("Busy before any call = %v", s.Busy())
	}
	if _, err := s.Score([][]int32{randomTokens(rand.New(rand.NewPCG(1, 2)), 50)}, nil); err != nil {
		t.Fatal(err)
	}
	if s.Busy() <= 0 {
		t.Errorf("Busy after a call = %v", s.Busy())
	}
}

// TestWarm: Warm compiles every (streams, chunk) graph of one kind
// concurrently; calls after it compile nothing and score as an unwarmed
// Scorer does.
func TestWarm(t *testing.T) {
	w := testWeights(smallConfig(), 6)
	o := ScorerOptions{ChunkLen: 128, BatchTokens: 4096, FewShapes: true}
	warm, err := NewScorer(w, o)
	if err != nil {
		t.Fatal(err)
	}
	if err := warm.Warm(true); err != nil {
		t.Fatal(err)
	}
	if got, want := warm.CompiledGraphs(), len(warm.streams)*len(warm.chunks); got != want {
		t.Fatalf("Warm compiled %d graphs, want %d", got, want)
	}
	cold, err := NewScorer(w, o)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(4, 4))
	docs := make([][]int32, 40)
	for i := range docs {
		docs[i] = randomTokens(r, 20+r.IntN(300))
	}
	got, err := warm.Score(docs, TokenCut)
	if err != nil {
		t.Fatal(err)
	}
	if n := warm.CompiledGraphs(); n != len(warm.streams)*len(warm.chunks) {
		t.Errorf("%d graphs after scoring a warmed Scorer", n)
	}
	want, err := cold.Score(docs, TokenCut)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Error("a warmed Scorer scores differently")
	}
}
