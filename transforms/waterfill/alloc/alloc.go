// Package alloc owns the arithmetic of water-filling: per-patch weights and
// validity, corpus statistics (moments and a fine log-spaced histogram of
// the allocation weight), shell radii and capacities, and the allocation
// methods (rank, osmotic, thrml, entropy). It is pure Go: no Beam, no
// files. transforms/waterfill computes its statistics inside the pipeline;
// transforms/waterfill/sphere applies its plans to patches/ shards.
//
// Units and conventions (docs/WATERFILL.md has the derivations):
//   - A patch's prominence p is its mean prominence (mean over its tokens of
//     the L2 norm of the pre-norm hidden state; the patch embedding is the
//     mean of the same states). Entropies H are in nats.
//   - Allocation weights are handled as natural logarithms ℓ = ln w
//     throughout; w itself is only formed for output, never for ordering.
//   - Shells are numbered 0 (innermost, just outside the hollow core) to
//     S-1 (outermost). Heavier patches go outwards.
package alloc

import (
	"fmt"
	"math"
)

// Method is an allocation method (--waterfill).
type Method string

// The allocation methods.
const (
	MethodNone    Method = "none"    // no allocation, no sphere/ output
	MethodRank    Method = "rank"    // water-filling by rank of w = p
	MethodOsmotic Method = "osmotic" // the seed's iterative algorithm, one worker
	MethodThrml   Method = "thrml"   // nearest level e_k = √k + k^1.5, radius k/S
	MethodEntropy Method = "entropy" // water-filling by rank of ln w = 2 ln p − H/T
)

// Methods lists the methods in the order the CLI documents them.
var Methods = []Method{MethodNone, MethodRank, MethodOsmotic, MethodThrml, MethodEntropy}

// ParseMethod checks a --waterfill value.
func ParseMethod(s string) (Method, error) {
	for _, m := range Methods {
		if string(m) == s {
			return m, nil
		}
	}
	return "", fmt.Errorf("--waterfill %q: want one of none, rank, osmotic, thrml, entropy", s)
}

// MinProminence is the validity floor: patches with p ≤ MinProminence (or a
// non-finite p or entropy) are dropped from statistics and allocation and
// counted as invalid.
const MinProminence = 1e-6

// coherenceEps keeps coherence finite for zero-entropy patches.
const coherenceEps = 1e-6

// Patch is what allocation reads of one patch (patches/ columns
// mean_prominence, max_prominence, mean_entropy).
type Patch struct {
	Prominence    float32 // mean prominence over the patch's tokens
	MaxProminence float32 // max prominence over the patch's tokens
	MeanEntropy   float32 // mean entropy over the patch's tokens, nats
}

// Valid reports whether the patch takes part in allocation.
func (p Patch) Valid() bool {
	v, h := float64(p.Prominence), float64(p.MeanEntropy)
	return !math.IsNaN(v) && !math.IsInf(v, 0) && v > MinProminence && !math.IsNaN(h) && !math.IsInf(h, 0)
}

// entropy is the mean entropy clamped at 0 (rounding can leave −1e-7).
func (p Patch) entropy() float64 { return math.Max(float64(p.MeanEntropy), 0) }

// Coherence is p² / (H + 1e-6), finite for every valid patch.
func (p Patch) Coherence() float64 {
	v := float64(p.Prominence)
	return v * v / (p.entropy() + coherenceEps)
}

// LogWeightLimit bounds |ln w|: beyond it log-weights are clamped so that
// every histogram key fits an int64 (only T below ~1e-12 nats gets there).
const LogWeightLimit = 1 << 41

// Weighting says how a patch's allocation weight is formed.
type Weighting struct {
	// Entropy selects ln w = 2 ln p − H/T; otherwise ln w = ln p.
	Entropy bool
	// Temperature T in nats (> 0; +Inf is allowed and ignores entropy).
	Temperature float64
}

// WeightingFor returns the weighting a method allocates by.
func WeightingFor(m Method, temperature float64) Weighting {
	if m == MethodEntropy {
		return Weighting{Entropy: true, Temperature: temperature}
	}
	return Weighting{}
}

// String names the weight for _STATS.json.
func (w Weighting) String() string {
	if w.Entropy {
		return fmt.Sprintf("2 ln p - H/T, T = %g nats", w.Temperature)
	}
	return "ln p"
}

// LogWeight is ln w of a valid patch, finite and within ±LogWeightLimit for
// every input (p = 0 gives −LogWeightLimit, T → 0 pushes towards −limit).
func (w Weighting) LogWeight(p Patch) float64 {
	l := math.Log(float64(p.Prominence))
	if w.Entropy {
		h := p.entropy()
		if h > 0 { // 0/T is 0 even for T = 0 or +Inf; skip the division
			l = 2*l - h/w.Temperature
		} else {
			l = 2 * l
		}
	}
	switch {
	case math.IsNaN(l) || l < -LogWeightLimit:
		return -LogWeightLimit
	case l > LogWeightLimit:
		return LogWeightLimit
	case math.Abs(l) < 1e-200: // no subnormal bin arithmetic at coarse levels
		return 0
	}
	return l
}

// Moments summarises a stream of values: N, Mean, M2 (sum of squared
// deviations), Min, Max. The same update as transforms/waterfill's, kept
// here so that this package needs no Beam.
type Moments struct {
	N        int64
	Mean, M2 float64
	Min, Max float64
}

// Add folds in one value.
func (m *Moments) Add(x float64) {
	m.N++
	if m.N == 1 {
		m.Min, m.Max = x, x
	} else {
		m.Min, m.Max = math.Min(m.Min, x), math.Max(m.Max, x)
	}
	d := x - m.Mean
	m.Mean += d / float64(m.N)
	m.M2 += d * (x - m.Mean)
}

// Merge folds in another summary (Chan et al.). Not commutative in the last
// bits: merge in a fixed order for reproducible output.
func (m *Moments) Merge(o Moments) {
	if o.N == 0 {
		return
	}
	if m.N == 0 {
		*m = o
		return
	}
	n := m.N + o.N
	d := o.Mean - m.Mean
	m.Mean += d * float64(o.N) / float64(n)
	m.M2 += o.M2 + d*d*float64(m.N)*float64(o.N)/float64(n)
	m.Min, m.Max = math.Min(m.Min, o.Min), math.Max(m.Max, o.Max)
	m.N = n
}

// Std is the population standard deviation (0 for fewer than 2 values).
func (m Moments) Std() float64 {
	if m.N < 2 {
		return 0
	}
	return math.Sqrt(m.M2 / float64(m.N))
}
