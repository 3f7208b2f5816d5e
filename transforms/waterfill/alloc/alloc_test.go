package alloc

import (
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
)

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol }

func TestGeometryHandComputed(t *testing.T) {
	// S = 4, r_min = 32, p_max = 10: scale = 2·10/4^1.2 = 3.78929.
	g, err := NewGeometry(4, 32, 0, 1.5, 10)
	if err != nil {
		t.Fatal(err)
	}
	want := []float64{32, 35.78929, 40.70551, 46.16131}
	for k, r := range g.Radii() {
		if !near(r, want[k], 1e-4) {
			t.Errorf("R_%d = %.5f, want %.5f", k, r, want[k])
		}
	}
	// --max-radius 50 puts R_3 at 50: scale = 18/3^1.2.
	g, err = NewGeometry(4, 32, 50, 1.5, 10)
	if err != nil {
		t.Fatal(err)
	}
	if r := g.Radius(3); r != 50 || !near(g.Scale, 18/3.737192818846552, 1e-12) {
		t.Errorf("R_3 = %v scale %v, want 50 and %v", r, g.Scale, 18/3.737192818846552)
	}
	// Radii {1, 4}: α = 1 gives capacities 10·{1,4}/5, α = 0.5 gives 9·{1,2}/3.
	for _, tc := range []struct {
		alpha  float64
		n      int64
		cap    []float64
		bounds []int64
	}{
		{1, 10, []float64{2, 8}, []int64{0, 2, 10}},
		{0.5, 9, []float64{3, 6}, []int64{0, 3, 9}},
		{0, 7, []float64{3.5, 3.5}, []int64{0, 4, 7}}, // round half up
		{2, 17, []float64{1, 16}, []int64{0, 1, 17}},
	} {
		g, err := NewGeometry(2, 1, 4, tc.alpha, 0)
		if err != nil {
			t.Fatal(err)
		}
		c := g.Capacities(tc.n)
		for k := range c {
			if !near(c[k], tc.cap[k], 1e-12) {
				t.Errorf("α=%v n=%d: capacities %v, want %v", tc.alpha, tc.n, c, tc.cap)
			}
		}
		if b := g.Bounds(tc.n); !reflect.DeepEqual(b, tc.bounds) {
			t.Errorf("α=%v n=%d: bounds %v, want %v", tc.alpha, tc.n, b, tc.bounds)
		}
	}
}

func TestGeometryRejects(t *testing.T) {
	for _, tc := range []struct {
		s                 int
		rmin, rmax, alpha float64
	}{
		{0, 32, 0, 1.5}, {MaxShells + 1, 32, 0, 1.5}, {4, -1, 0, 1.5}, {4, math.NaN(), 0, 1.5},
		{4, 32, 20, 1.5}, {4, 32, math.Inf(1), 1.5}, {4, 32, 0, -1}, {4, 32, 0, math.Inf(1)},
	} {
		if _, err := NewGeometry(tc.s, tc.rmin, tc.rmax, tc.alpha, 1); err == nil {
			t.Errorf("NewGeometry(%d, %v, %v, %v) accepted", tc.s, tc.rmin, tc.rmax, tc.alpha)
		}
	}
}

func TestShellOfRank(t *testing.T) {
	b := []int64{0, 2, 2, 5, 9} // shell 1 is empty
	for _, tc := range []struct {
		r    float64
		want int
	}{{0, 0}, {1.99, 0}, {2, 2}, {4.5, 2}, {5, 3}, {8.9, 3}, {9, 3}, {100, 3}} {
		if got := ShellOfRank(tc.r, b); got != tc.want {
			t.Errorf("ShellOfRank(%v) = %d, want %d", tc.r, got, tc.want)
		}
	}
}

// summarise runs patches through an Acc.
func summarise(w Weighting, ps []Patch, maxBins int) Summary {
	a := NewAccBins(w, maxBins)
	for _, p := range ps {
		a.Add(p)
	}
	return a.Summary()
}

func TestRankHandComputed(t *testing.T) {
	// Radii {1, 4} and α = 1: capacities 5·{1,4}/5 = {1, 4}, so the
	// lightest of five patches sits alone in shell 0.
	ps := []Patch{{Prominence: 5}, {Prominence: 1}, {Prominence: 3}, {Prominence: 2}, {Prominence: 4}}
	c := Config{Method: MethodRank, Shells: 2, MinRadius: 1, MaxRadius: 4, CapacityExponent: 1, Temperature: 1}
	pl, err := NewPlan(c, summarise(c.Weighting(), ps, DefaultMaxBins))
	if err != nil {
		t.Fatal(err)
	}
	want := []int{1, 0, 1, 1, 1}
	items := make([]Item, len(ps))
	for i, p := range ps {
		a := pl.Assign(p, 0)
		if a.Shell != want[i] || a.Radius != []float64{1, 4}[want[i]] || a.Weight != float64(p.Prominence) {
			t.Errorf("patch %d (p=%v): %+v, want shell %d", i, p.Prominence, a, want[i])
		}
		items[i] = Item{LogWeight: a.LogWeight, DocID: "d", PatchIndex: int32(i)}
	}
	if got := ExactShells(items, pl.Bounds); !reflect.DeepEqual(got, want) {
		t.Errorf("exact shells %v, want %v", got, want)
	}
	// Outlier: mean 3, std √2 → threshold 4.414: only p = 5.
	for i, p := range ps {
		if out := pl.Assign(p, 0).Outlier; out != (p.Prominence == 5) {
			t.Errorf("patch %d outlier = %v", i, out)
		}
	}
}

func TestExactShellsTiesByDocThenIndex(t *testing.T) {
	items := []Item{{1, "b", 0}, {1, "a", 1}, {1, "a", 0}, {0, "z", 9}}
	// Bounds {0,1,2,3,4}: one patch a shell, in order z/9, a/0, a/1, b/0.
	got := ExactShells(items, []int64{0, 1, 2, 3, 4})
	if want := []int{3, 2, 1, 0}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestThrmlHandComputed(t *testing.T) {
	e := ThrmlLevels(5) // 0, 2, 4.2426, 6.9282, 10
	for k, want := range []float64{0, 2, math.Sqrt(2) + 2*math.Sqrt(2), math.Sqrt(3) + 3*math.Sqrt(3), 10} {
		if !near(e[k], want, 1e-12) {
			t.Fatalf("e_%d = %v, want %v", k, e[k], want)
		}
	}
	for _, tc := range []struct {
		p    float64
		want int
	}{{0, 0}, {1, 0}, {1.1, 1}, {3.1, 1}, {3.2, 2}, {5.6, 3}, {8.5, 4}, {1500, 4}, {3e38, 4}, {math.MaxFloat64, 4}} {
		if got := ThrmlShell(tc.p, e); got != tc.want {
			t.Errorf("ThrmlShell(%v) = %d, want %d", tc.p, got, tc.want)
		}
	}
	// The seed's exp(−e_k/p)-style weights underflowed past p ≈ 1500 and
	// sent the most prominent patches inwards; here larger p never goes in.
	c := Config{Method: MethodThrml, Shells: 64, MinRadius: 32, CapacityExponent: 1.5, Temperature: 1}
	ps := []Patch{{Prominence: 10}, {Prominence: 1400}, {Prominence: 1600}, {Prominence: 1e6}, {Prominence: 3e38}}
	pl, err := NewPlan(c, summarise(c.Weighting(), ps, DefaultMaxBins))
	if err != nil {
		t.Fatal(err)
	}
	prev := -1
	for _, p := range ps {
		a := pl.Assign(p, 0)
		if a.Shell < prev || a.Radius != float64(a.Shell)/64 || a.Radius >= 1 {
			t.Errorf("p=%v: shell %d radius %v (previous shell %d)", p.Prominence, a.Shell, a.Radius, prev)
		}
		prev = a.Shell
	}
	if prev != 63 {
		t.Errorf("largest p in shell %d, want 63", prev)
	}
}

func TestEntropyHandComputed(t *testing.T) {
	e := math.E
	// ln w = 2 ln p − H/T with T = 1: A 2, B 1, C 0, D −1.
	ps := []Patch{
		{Prominence: float32(e), MeanEntropy: 0},     // A
		{Prominence: float32(e * e), MeanEntropy: 3}, // B
		{Prominence: 1, MeanEntropy: 0},              // C
		{Prominence: float32(e * e), MeanEntropy: 5}, // D
	}
	// α = 0: equal capacities {2, 2}.
	c := Config{Method: MethodEntropy, Shells: 2, MinRadius: 32, CapacityExponent: 0, Temperature: 1}
	pl, err := NewPlan(c, summarise(c.Weighting(), ps, DefaultMaxBins))
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []struct {
		l     float64
		shell int
	}{{2, 1}, {1, 1}, {0, 0}, {-1, 0}} {
		a := pl.Assign(ps[i], 0)
		if !near(a.LogWeight, want.l, 1e-6) || a.Shell != want.shell || !near(a.Weight, math.Exp(want.l), 1e-5) {
			t.Errorf("patch %c: %+v, want ln w %v shell %d", 'A'+i, a, want.l, want.shell)
		}
	}
}

func TestEntropyNeverNaN(t *testing.T) {
	huge := float32(math.MaxFloat32)
	ps := []Patch{
		{Prominence: 0, MeanEntropy: 1}, // invalid: dropped, counted
		{Prominence: 1e-7, MeanEntropy: 0},
		{Prominence: float32(math.NaN()), MeanEntropy: 0},
		{Prominence: float32(math.Inf(1)), MeanEntropy: 0},
		{Prominence: 1, MeanEntropy: float32(math.NaN())},
		{Prominence: 2e-6, MeanEntropy: 0}, // tiny but valid
		{Prominence: 5, MeanEntropy: 0},    // H = 0
		{Prominence: huge, MeanEntropy: 0},
		{Prominence: huge, MeanEntropy: 9},
		{Prominence: 40, MeanEntropy: 5.5},
		{Prominence: 40, MeanEntropy: -1e-7}, // rounding below 0
		{Prominence: 3, MeanEntropy: 1e30},
	}
	for _, temp := range []float64{1, 1e-3, 1e-12, 1e-300, 5e-324, 1e300} {
		c := DefaultConfig()
		c.Method, c.Temperature = MethodEntropy, temp
		s := summarise(c.Weighting(), ps, DefaultMaxBins)
		if s.Invalid != 5 || s.N() != 7 {
			t.Fatalf("T=%g: %d invalid, %d valid; want 5 and 7", temp, s.Invalid, s.N())
		}
		pl, err := NewPlan(c, s)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range ps {
			if !p.Valid() {
				continue
			}
			a := pl.Assign(p, 0)
			for name, v := range map[string]float64{"ln w": a.LogWeight, "w": a.Weight, "coherence": a.Coherence, "radius": a.Radius} {
				if math.IsNaN(v) || math.IsInf(v, 0) {
					t.Errorf("T=%g p=%g H=%g: %s = %v", temp, p.Prominence, p.MeanEntropy, name, v)
				}
			}
			if a.Radius < c.MinRadius || a.Shell < 0 || a.Shell >= c.Shells {
				t.Errorf("T=%g p=%g: shell %d radius %v", temp, p.Prominence, a.Shell, a.Radius)
			}
		}
		// Low entropy, high prominence goes outwards.
		if lo, hi := pl.Assign(ps[9], 0), pl.Assign(ps[7], 0); lo.Shell >= hi.Shell {
			t.Errorf("T=%g: p=40,H=5.5 in shell %d, p=max,H=0 in shell %d", temp, lo.Shell, hi.Shell)
		}
	}
}

func TestOsmoticHandComputed(t *testing.T) {
	// Balanced start: p {1,2,9,10}, S = 2, α = 0 (capacities {2,2}).
	// Linear map: ⌊2(p−1)/9⌋ → {0,0,1,1}; loads {1,1}; the only outlier
	// (threshold 5.5 + 4.03) is already outermost: no move, one round.
	c := Config{Method: MethodOsmotic, Shells: 2, MinRadius: 32, Temperature: 1, MaxRounds: 100}
	ps := []Patch{{Prominence: 1}, {Prominence: 2}, {Prominence: 9}, {Prominence: 10}}
	pl, err := NewPlan(c, summarise(c.Weighting(), ps, DefaultMaxBins))
	if err != nil {
		t.Fatal(err)
	}
	p := []float32{1, 2, 9, 10}
	ids := []uint64{PatchID("d", 0), PatchID("d", 1), PatchID("d", 2), PatchID("d", 3)}
	shells, rep := pl.Osmotic(p, ids)
	if !reflect.DeepEqual(shells, []int32{0, 0, 1, 1}) || rep.Rounds != 1 || !rep.Converged || !reflect.DeepEqual(rep.Counts, []int64{2, 2}) {
		t.Errorf("balanced: shells %v report %+v", shells, rep)
	}

	// One round from {0,0,0,1} (p {1,2,3,10}): shell 0 is loaded 1.5 > 1.2
	// so its patches move out where the mask says; shell 1 (load 0.5)
	// holds only the outlier, which stays (already outermost).
	c.MaxRounds = 1
	ps = []Patch{{Prominence: 1}, {Prominence: 2}, {Prominence: 3}, {Prominence: 10}}
	pl, err = NewPlan(c, summarise(c.Weighting(), ps, DefaultMaxBins))
	if err != nil {
		t.Fatal(err)
	}
	p = []float32{1, 2, 3, 10}
	shells, rep = pl.Osmotic(p, ids)
	want := []int32{0, 0, 0, 1}
	moved := int64(0)
	for i := 0; i < 3; i++ {
		if LateralMove(0, 0, ids[i]) {
			want[i] = 1
			moved++
		}
	}
	if !reflect.DeepEqual(shells, want) || rep.Rounds != 1 || rep.Moves[0] != moved {
		t.Errorf("one round: shells %v moves %v, want %v and %d", shells, rep.Moves, want, moved)
	}
}

func TestOsmoticDeterministicAndHonoursExponent(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	var ps []Patch
	var p []float32
	var ids []uint64
	for i := 0; i < 20000; i++ {
		v := float32(math.Exp(r.NormFloat64()*0.6 + 4))
		ps = append(ps, Patch{Prominence: v, MaxProminence: v * 1.5, MeanEntropy: float32(r.Float64() * 5)})
		p = append(p, v)
		ids = append(ids, PatchID(fmt.Sprint("doc", i/7), int32(i%7)))
	}
	run := func(alpha float64, seed uint64) ([]int32, OsmoticReport) {
		c := DefaultConfig()
		c.Method, c.Shells, c.CapacityExponent, c.Seed = MethodOsmotic, 32, alpha, seed
		pl, err := NewPlan(c, summarise(c.Weighting(), ps, DefaultMaxBins))
		if err != nil {
			t.Fatal(err)
		}
		sh, rep := pl.Osmotic(p, ids)
		for i, k := range sh {
			if pl.Geometry.Radius(int(k)) < c.MinRadius {
				t.Fatalf("patch %d radius below r_min", i)
			}
		}
		if !reflect.DeepEqual(rep.Capacity, pl.Geometry.Capacities(int64(len(p)))) {
			t.Fatalf("report capacities are not the plan's")
		}
		return sh, rep
	}
	a, ra := run(1.5, 1)
	b, rb := run(1.5, 1)
	if !reflect.DeepEqual(a, b) || !reflect.DeepEqual(ra, rb) {
		t.Error("osmotic differs between identical runs")
	}
	c, _ := run(1.5, 2)
	if reflect.DeepEqual(a, c) {
		t.Error("the seed does not reach the lateral-move mask")
	}
	_, r2 := run(2, 1)
	if near(ra.Capacity[1]/ra.Capacity[31], r2.Capacity[1]/r2.Capacity[31], 1e-9) {
		t.Error("capacity exponent ignored")
	}
	var n int64
	for _, x := range ra.Counts {
		n += x
	}
	if n != int64(len(p)) || len(ra.Moves) != ra.Rounds || ra.Rounds > 100 {
		t.Errorf("report: counts sum %d, %d moves for %d rounds", n, len(ra.Moves), ra.Rounds)
	}
	t.Logf("osmotic: %d rounds, converged %v, last moves %d", ra.Rounds, ra.Converged, ra.Moves[len(ra.Moves)-1])
}

func TestLateralMoveIsHalf(t *testing.T) {
	n := 0
	for i := 0; i < 100000; i++ {
		if LateralMove(3, i%100, PatchID("x", int32(i))) {
			n++
		}
	}
	if n < 49000 || n > 51000 {
		t.Errorf("mask moves %d of 100000", n)
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	if (Config{}).OrDefault() != DefaultConfig() {
		t.Error("zero Config is not the default")
	}
	for name, mut := range map[string]func(*Config){
		"method":      func(c *Config) { c.Method = "thermal" },
		"shells":      func(c *Config) { c.Shells = 0 },
		"temperature": func(c *Config) { c.Temperature = 0 },
		"nan T":       func(c *Config) { c.Temperature = math.NaN() },
		"inf T":       func(c *Config) { c.Temperature = math.Inf(1) },
		"max radius":  func(c *Config) { c.MaxRadius = 10 },
		"exponent":    func(c *Config) { c.CapacityExponent = -1 },
		"rounds":      func(c *Config) { c.Method, c.MaxRounds = MethodOsmotic, 0 },
	} {
		c := DefaultConfig()
		mut(&c)
		if c.Validate() == nil {
			t.Errorf("%s: accepted %+v", name, c)
		}
	}
	// Statistics of another weight are refused.
	c := DefaultConfig()
	c.Method = MethodEntropy
	if _, err := NewPlan(c, summarise(WeightingFor(MethodRank, 1), []Patch{{Prominence: 2}}, 16)); err == nil {
		t.Error("entropy plan accepted ln p statistics")
	}
}
