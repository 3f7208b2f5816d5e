package alloc

import (
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
)

// synthetic returns n patches: log-normal prominence (median e^4 ≈ 55,
// σ = 0.5, plus a 1% heavy tail), entropies uniform in [0, 5.5) nats,
// doc_id/patch_index with 8 patches a document.
func synthetic(n int, seed uint64) ([]Patch, []Item) {
	r := rand.New(rand.NewPCG(seed, 99))
	ps := make([]Patch, n)
	items := make([]Item, n)
	for i := range ps {
		l := r.NormFloat64()*0.5 + 4
		if r.IntN(100) == 0 {
			l += 2 + r.ExpFloat64()
		}
		p := float32(math.Exp(l))
		ps[i] = Patch{Prominence: p, MaxProminence: p * float32(1+r.Float64()), MeanEntropy: float32(r.Float64() * 5.5)}
		items[i] = Item{DocID: fmt.Sprintf("doc-%08d", i/8), PatchIndex: int32(i % 8)}
	}
	return ps, items
}

func TestHistIndependentOfOrderAndPartition(t *testing.T) {
	ps, _ := synthetic(20000, 1)
	for _, maxBins := range []int{64, 1000, DefaultMaxBins} {
		w := Weighting{}
		whole := summarise(w, ps, maxBins).Hist
		// Reversed order, and five parts merged in two different orders.
		rev := slices.Clone(ps)
		slices.Reverse(rev)
		parts := make([]Hist, 5)
		for j := range parts {
			parts[j] = summarise(w, ps[j*4000:(j+1)*4000], maxBins).Hist
		}
		var fwd, bwd Hist
		for j := range parts {
			fwd = MergeHist(fwd, parts[j])
			bwd = MergeHist(parts[len(parts)-1-j], bwd)
		}
		for name, h := range map[string]Hist{"reversed": summarise(w, rev, maxBins).Hist, "merged": fwd, "merged backwards": bwd} {
			if !reflect.DeepEqual(h, whole) {
				t.Errorf("maxBins %d: %s histogram differs (level %d, %d bins vs level %d, %d bins)", maxBins, name, h.Level, len(h.Keys), whole.Level, len(whole.Keys))
			}
		}
		if whole.Total() != 20000 || len(whole.Keys) > maxBins {
			t.Errorf("maxBins %d: total %d in %d bins", maxBins, whole.Total(), len(whole.Keys))
		}
		// The level is the finest that fits.
		if whole.Level > 0 {
			finer := summarise(w, ps, 1<<30).Hist.coarsen(whole.Level - 1)
			if len(finer.Keys) <= maxBins {
				t.Errorf("maxBins %d: level %d but level %d fits (%d bins)", maxBins, whole.Level, whole.Level-1, len(finer.Keys))
			}
		}
		// Keys at the final level are ⌊ℓ/δ⌋ of every value.
		for _, p := range ps[:100] {
			k, _ := binKey(w.LogWeight(p), whole.Level)
			if _, ok := slices.BinarySearch(whole.Keys, k); !ok {
				t.Fatalf("maxBins %d: value %v has no bin %d", maxBins, p.Prominence, k)
			}
		}
		dec, err := DecodeHist(whole.Level, whole.MaxBins, whole.Encode())
		if err != nil || !reflect.DeepEqual(dec.Keys, whole.Keys) || !reflect.DeepEqual(dec.Counts, whole.Counts) {
			t.Errorf("encode/decode round trip: %v", err)
		}
	}
}

// TestTiesSpreadAcrossShells: many patches of one weight (the BOS patch of
// every document has the same prominence) fill shells by capacity instead
// of stacking in one, ordered among themselves by TieFraction.
func TestTiesSpreadAcrossShells(t *testing.T) {
	ps, items := synthetic(20000, 5)
	for i := 0; i < len(ps); i += 8 { // the first patch of each document
		ps[i] = Patch{Prominence: 40, MaxProminence: 40, MeanEntropy: 2}
	}
	c := DefaultConfig()
	c.Shells = 64
	pl, err := NewPlan(c, summarise(c.Weighting(), ps, DefaultMaxBins))
	if err != nil {
		t.Fatal(err)
	}
	counts := make([]int64, c.Shells)
	tiedShells := map[int]bool{}
	for i, p := range ps {
		a := pl.Assign(p, PatchID(items[i].DocID, items[i].PatchIndex))
		counts[a.Shell]++
		if i%8 == 0 {
			tiedShells[a.Shell] = true
		}
	}
	// Hash order spreads ties like random draws: a shell's count may be
	// off by a few √count (stacked, the shell holding the tie would be off
	// by about 2500 − capacity).
	for k, cap := range pl.Geometry.Capacities(pl.N) {
		if math.Abs(float64(counts[k])-cap) > 4*math.Sqrt(cap)+1 {
			t.Errorf("shell %d holds %d, capacity %.1f", k, counts[k], cap)
		}
	}
	if len(tiedShells) < 5 {
		t.Errorf("2500 tied patches in %d shells", len(tiedShells))
	}
}

func TestDecodeHistRejects(t *testing.T) {
	for _, s := range []string{"1:2,1:3", "2:1,1:1", "1:0", "x:1", "1"} {
		if _, err := DecodeHist(0, 16, s); err == nil {
			t.Errorf("DecodeHist(%q) accepted", s)
		}
	}
}

func TestRankBoundedByBinCount(t *testing.T) {
	ps, items := synthetic(30000, 2)
	w := Weighting{}
	for _, maxBins := range []int{256, 4096} {
		h := summarise(w, ps, maxBins).Hist
		ri := h.Index()
		ls := make([]float64, len(ps))
		for i, p := range ps {
			ls[i] = w.LogWeight(p)
			items[i].LogWeight = ls[i]
		}
		exact := exactRanks(items)
		maxc := float64(h.MaxCount())
		order := slices.Clone(ls)
		slices.Sort(order)
		prev := -1.0
		for _, l := range order {
			r := ri.Rank(l, 0)
			if r < prev || r < 0 || r > float64(len(ps)-1) {
				t.Fatalf("maxBins %d: rank %v after %v (not monotone or out of range)", maxBins, r, prev)
			}
			prev = r
		}
		for i, l := range ls {
			if d := math.Abs(ri.Rank(l, 0) - float64(exact[i])); d >= maxc {
				t.Fatalf("maxBins %d: rank error %v ≥ largest bin %v", maxBins, d, maxc)
			}
		}
	}
}

// exactRanks returns each item's 0-based rank in (LogWeight, DocID, PatchIndex) order.
func exactRanks(items []Item) []int {
	sh := ExactShells(items, identityBounds(len(items)))
	return sh
}

func identityBounds(n int) []int64 {
	b := make([]int64, n+1)
	for i := range b {
		b[i] = int64(i)
	}
	return b
}

// TestRankProperties: every radius ≥ r_min, shells non-decreasing in
// weight, exact per-shell counts within ±1 of capacity, for several
// shapes of data and parameters.
func TestRankProperties(t *testing.T) {
	ps, items := synthetic(50000, 3)
	for _, c := range []Config{
		DefaultConfig(),
		{Method: MethodRank, Shells: 7, MinRadius: 0, CapacityExponent: 0, Temperature: 1},
		{Method: MethodRank, Shells: 1000, MinRadius: 5, MaxRadius: 900, CapacityExponent: 2, Temperature: 1},
		{Method: MethodEntropy, Shells: 256, MinRadius: 32, CapacityExponent: 1.5, Temperature: 0.25},
	} {
		pl, err := NewPlan(c, summarise(c.Weighting(), ps, DefaultMaxBins))
		if err != nil {
			t.Fatal(err)
		}
		type lw struct {
			l     float64
			shell int
		}
		var got []lw
		for i, p := range ps {
			a := pl.Assign(p, 0)
			if a.Radius < c.MinRadius || a.Radius != pl.Geometry.Radius(a.Shell) {
				t.Fatalf("%+v: radius %v for shell %d", c, a.Radius, a.Shell)
			}
			got = append(got, lw{a.LogWeight, a.Shell})
			items[i].LogWeight = a.LogWeight
		}
		slices.SortFunc(got, func(a, b lw) int { return compareFloat(a.l, b.l) })
		for i := 1; i < len(got); i++ {
			if got[i].shell < got[i-1].shell {
				t.Fatalf("%+v: ln w %v in shell %d after ln w %v in shell %d", c, got[i].l, got[i].shell, got[i-1].l, got[i-1].shell)
			}
		}
		counts := make([]int64, c.Shells)
		for _, k := range ExactShells(items, pl.Bounds) {
			counts[k]++
		}
		for k, cap := range pl.Geometry.Capacities(pl.N) {
			if math.Abs(float64(counts[k])-cap) > 1 {
				t.Fatalf("%+v: shell %d holds %d, capacity %.2f", c, k, counts[k], cap)
			}
		}
		if c.MinRadius > 0 && pl.Geometry.Radius(0) != c.MinRadius {
			t.Errorf("innermost radius %v", pl.Geometry.Radius(0))
		}
	}
}

func compareFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// TestHistogramRankAgreesWithExactOn1M is the acceptance check: the
// histogram-based rank, computed from eight merged partial summaries as
// the pipeline does, against an exact sort of 1,000,000 patches.
func TestHistogramRankAgreesWithExactOn1M(t *testing.T) {
	if testing.Short() {
		t.Skip("1M patches")
	}
	const n = 1_000_000
	ps, items := synthetic(n, 4)
	for _, c := range []Config{DefaultConfig(), {Method: MethodEntropy, Shells: 256, MinRadius: 32, CapacityExponent: 1.5, Temperature: 1}} {
		var s Summary
		for j := 0; j < 8; j++ {
			a := NewAcc(c.Weighting())
			for _, p := range ps[j*n/8 : (j+1)*n/8] {
				a.Add(p)
			}
			s.Weighting = c.Weighting()
			s.Merge(a.Summary())
		}
		pl, err := NewPlan(c, s)
		if err != nil {
			t.Fatal(err)
		}
		hist := make([]int, n)
		for i, p := range ps {
			a := pl.Assign(p, 0)
			hist[i] = a.Shell
			items[i].LogWeight = a.LogWeight
		}
		exact := ExactShells(items, pl.Bounds)
		same, worst := 0, 0
		for i := range exact {
			d := hist[i] - exact[i]
			if d == 0 {
				same++
			}
			worst = max(worst, d, -d)
		}
		frac := float64(same) / n
		t.Logf("%s: %d bins at level %d (width %.3g nats), largest bin %d (%.4f%% of N); shells agree for %d of %d (%.4f%%), worst difference %d",
			c.Method, len(s.Hist.Keys), s.Hist.Level, s.Hist.Width(), s.Hist.MaxCount(), 100*float64(s.Hist.MaxCount())/n, same, n, 100*frac, worst)
		if frac < 0.999 || worst > 1 {
			t.Errorf("%s: agreement %.5f, worst shell difference %d", c.Method, frac, worst)
		}
	}
}
