package alloc

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"sort"
)

// Config holds the allocation parameters (the --waterfill flags).
type Config struct {
	Method           Method
	Shells           int     // S
	MinRadius        float64 // r_min, radius of the hollow core
	MaxRadius        float64 // outer radius R_{S−1}; 0: scale from the largest prominence
	CapacityExponent float64 // α
	Temperature      float64 // T in nats (entropy)
	Seed             uint64  // lateral-move mask seed (osmotic)
	MaxRounds        int     // osmotic rounds
}

// DefaultConfig is rank water-filling over 256 shells outside a core of
// radius 32 with capacities ∝ R^1.5.
func DefaultConfig() Config {
	return Config{Method: MethodRank, Shells: 256, MinRadius: 32, CapacityExponent: 1.5, Temperature: 1, MaxRounds: 100}
}

// OrDefault returns DefaultConfig for the zero Config, else c unchanged.
func (c Config) OrDefault() Config {
	if c == (Config{}) {
		return DefaultConfig()
	}
	return c
}

// Validate checks the parameters without statistics.
func (c Config) Validate() error {
	if _, err := ParseMethod(string(c.Method)); err != nil {
		return err
	}
	if c.Method == MethodNone {
		return nil
	}
	if _, err := NewGeometry(c.Shells, c.MinRadius, c.MaxRadius, c.CapacityExponent, 0); err != nil {
		return err
	}
	if !(c.Temperature > 0) || math.IsInf(c.Temperature, 0) { // also rejects NaN
		return fmt.Errorf("--temperature %g: want a finite value > 0 nats", c.Temperature)
	}
	if c.Method == MethodOsmotic && c.MaxRounds < 1 {
		return fmt.Errorf("osmotic rounds %d: want ≥ 1", c.MaxRounds)
	}
	return nil
}

// Weighting is the weight the method allocates by.
func (c Config) Weighting() Weighting { return WeightingFor(c.Method, c.Temperature) }

// Plan is a Config bound to corpus statistics: everything needed to place
// one patch without seeing the others (except osmotic, see Osmotic).
type Plan struct {
	Config   Config
	Geometry Geometry
	Bounds   []int64 // shell boundaries over the N valid patches (rank, entropy)
	N        int64
	Outlier  float64 // prominence above which a patch is an outlier
	PMin     float64 // smallest and largest valid prominence
	PMax     float64
	index    *RankIndex
	levels   []float64 // thrml: e_k
}

// NewPlan binds c to the statistics s. The statistics must have been
// computed for the weight c allocates by.
func NewPlan(c Config, s Summary) (*Plan, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if c.Method == MethodNone {
		return nil, fmt.Errorf("--waterfill none allocates nothing")
	}
	if c.Weighting() != s.Weighting {
		return nil, fmt.Errorf("statistics were computed for weight %s, --waterfill %s needs %s: recompute them (bltpipe waterfill)", s.Weighting, c.Method, c.Weighting())
	}
	if s.Hist.Total() != s.N() {
		return nil, fmt.Errorf("statistics hold %d valid patches but their histogram %d (a split counted twice?): recompute them with bltpipe waterfill", s.N(), s.Hist.Total())
	}
	pmax := 0.0
	if s.N() > 0 {
		pmax = s.Prominence.Max
	}
	g, err := NewGeometry(c.Shells, c.MinRadius, c.MaxRadius, c.CapacityExponent, pmax)
	if err != nil {
		return nil, err
	}
	pl := &Plan{Config: c, Geometry: g, N: s.N(), Outlier: s.OutlierThreshold(), PMin: s.Prominence.Min, PMax: pmax}
	pl.Bounds = g.Bounds(pl.N)
	switch c.Method {
	case MethodRank, MethodEntropy:
		pl.index = s.Hist.Index()
	case MethodThrml:
		pl.levels = ThrmlLevels(c.Shells)
	}
	return pl, nil
}

// Assignment is where one patch goes.
type Assignment struct {
	LogWeight float64 // ln w
	Weight    float64 // w: p, or p²·e^(−H/T) for entropy (may underflow to 0)
	Coherence float64
	Shell     int
	Radius    float64
	Outlier   bool // p > mean + 1·std
}

// Assign places one valid patch whose identity is id (PatchID; it only
// orders patches of equal weight). For osmotic the shell is the starting
// (linear) shell; Osmotic moves it.
func (pl *Plan) Assign(p Patch, id uint64) Assignment {
	w := pl.Config.Weighting()
	a := Assignment{LogWeight: w.LogWeight(p), Coherence: p.Coherence(), Outlier: float64(p.Prominence) > pl.Outlier}
	a.Weight = float64(p.Prominence)
	if w.Entropy {
		a.Weight = math.Exp(a.LogWeight)
	}
	switch pl.Config.Method {
	case MethodRank, MethodEntropy:
		a.Shell = ShellOfRank(pl.index.Rank(a.LogWeight, TieFraction(id)), pl.Bounds)
	case MethodThrml:
		a.Shell = ThrmlShell(float64(p.Prominence), pl.levels)
		a.Radius = ThrmlRadius(a.Shell, pl.Config.Shells)
		return a
	case MethodOsmotic:
		a.Shell = pl.Linear(float64(p.Prominence))
	}
	a.Radius = pl.Geometry.Radius(a.Shell)
	return a
}

// Linear is the seed's starting map: ⌊S·(p − p_min)/(p_max − p_min)⌋,
// clamped to [0, S−1] (shell 0 when all prominences are equal).
func (pl *Plan) Linear(p float64) int {
	s := pl.Config.Shells
	span := pl.PMax - pl.PMin
	if !(span > 0) {
		return 0
	}
	k := math.Floor(float64(s) * (p - pl.PMin) / span)
	return int(min(max(k, 0), float64(s-1)))
}

// Item is one patch for the exact in-memory rank.
type Item struct {
	LogWeight  float64
	DocID      string
	PatchIndex int32
}

// ExactShells is rank water-filling by an exact sort: patches ordered by
// (LogWeight, DocID, PatchIndex), the one at rank r goes to the shell
// with B_k ≤ r < B_{k+1}. It holds every patch: a reference for tests and
// small sets, not the pipeline's path.
func ExactShells(items []Item, bounds []int64) []int {
	order := make([]int, len(items))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int {
		x, y := items[a], items[b]
		return cmp.Or(cmp.Compare(x.LogWeight, y.LogWeight), cmp.Compare(x.DocID, y.DocID), cmp.Compare(x.PatchIndex, y.PatchIndex))
	})
	shells := make([]int, len(items))
	k := 0
	for r, i := range order {
		for k < len(bounds)-2 && int64(r) >= bounds[k+1] {
			k++
		}
		shells[i] = k
	}
	return shells
}

// ThrmlLevels returns e_k = √k + k^1.5 for k = 0…S−1 (increasing).
func ThrmlLevels(shells int) []float64 {
	e := make([]float64, shells)
	for k := range e {
		x := float64(k)
		e[k] = math.Sqrt(x) + x*math.Sqrt(x)
	}
	return e
}

// ThrmlShell is argmin_k |p − e_k| (the lower k on a tie). No exponential
// is formed, so nothing underflows however large p is.
func ThrmlShell(p float64, levels []float64) int {
	i := sort.SearchFloat64s(levels, p) // first e_i ≥ p
	if i == len(levels) {
		return len(levels) - 1
	}
	if i > 0 && p-levels[i-1] <= levels[i]-p {
		return i - 1
	}
	return i
}

// ThrmlRadius is the seed's thrml radius k/S, in [0, 1).
func ThrmlRadius(k, shells int) float64 { return float64(k) / float64(shells) }
