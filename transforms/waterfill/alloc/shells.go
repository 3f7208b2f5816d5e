package alloc

import (
	"fmt"
	"math"
	"sort"
)

// Gamma is the radial spacing exponent γ of R_k = r_min + k^γ·scale.
const Gamma = 1.2

// Geometry is the set of shells: radii R_k = MinRadius + k^γ·Scale for
// k = 0…Shells−1, and capacities proportional to R_k^Alpha.
type Geometry struct {
	Shells    int
	MinRadius float64 // r_min, the hollow core: no radius below it
	Scale     float64
	Alpha     float64 // capacity exponent α
	// MaxRadius, when > 0, is R_{S−1} exactly (--max-radius).
	MaxRadius float64
}

// NewGeometry builds the shells. With maxRadius > 0 the outermost shell
// sits at maxRadius (scale = (maxRadius − r_min)/(S−1)^γ); otherwise
// scale = 2·pMax/S^γ, pMax being the largest valid prominence.
func NewGeometry(shells int, minRadius, maxRadius, alpha, pMax float64) (Geometry, error) {
	g := Geometry{Shells: shells, MinRadius: minRadius, Alpha: alpha}
	switch {
	case shells < 1 || shells > MaxShells:
		return g, fmt.Errorf("--shells %d: want 1…%d", shells, MaxShells)
	case !finiteNonNeg(minRadius):
		return g, fmt.Errorf("--min-radius %g: want a finite value ≥ 0", minRadius)
	case !finiteNonNeg(alpha):
		return g, fmt.Errorf("--capacity-exponent %g: want a finite value ≥ 0", alpha)
	case maxRadius > 0 && (math.IsInf(maxRadius, 0) || maxRadius <= minRadius):
		return g, fmt.Errorf("--max-radius %g: want a finite value above --min-radius %g", maxRadius, minRadius)
	}
	if maxRadius > 0 {
		if shells > 1 {
			g.MaxRadius = maxRadius
			g.Scale = (maxRadius - minRadius) / math.Pow(float64(shells-1), Gamma)
		}
	} else {
		if !finiteNonNeg(pMax) {
			return g, fmt.Errorf("largest prominence %g: want a finite value ≥ 0", pMax)
		}
		g.Scale = 2 * pMax / math.Pow(float64(shells), Gamma)
	}
	return g, nil
}

// MaxShells bounds --shells.
const MaxShells = 1 << 16

func finiteNonNeg(x float64) bool { return x >= 0 && !math.IsInf(x, 0) }

// Radius is R_k.
func (g Geometry) Radius(k int) float64 {
	if g.MaxRadius > 0 && k == g.Shells-1 {
		return g.MaxRadius // not r_min + (S−1)^γ·scale, which may miss by an ulp
	}
	return g.MinRadius + math.Pow(float64(k), Gamma)*g.Scale
}

// Radii lists R_0…R_{S−1}.
func (g Geometry) Radii() []float64 {
	r := make([]float64, g.Shells)
	for k := range r {
		r[k] = g.Radius(k)
	}
	return r
}

// Capacities returns c_k = n·R_k^α / Σ_j R_j^α. They are computed as
// (R_k/R_max)^α so that no power overflows; with r_min = 0, c_0 = 0.
func (g Geometry) Capacities(n int64) []float64 {
	r := g.Radii()
	rmax := r[len(r)-1]
	w := make([]float64, len(r))
	sum := 0.0
	for k, rk := range r {
		if rmax > 0 {
			w[k] = math.Pow(rk/rmax, g.Alpha)
		} else {
			w[k] = 1 // every radius 0: equal capacities
		}
		sum += w[k]
	}
	for k := range w {
		w[k] = float64(n) * w[k] / sum
	}
	return w
}

// Bounds returns the integer shell boundaries B_0 = 0 ≤ B_1 ≤ … ≤ B_S = n,
// B_k = round(Σ_{j<k} c_j): shell k takes ranks [B_k, B_{k+1}), so its
// count B_{k+1} − B_k is within ±1 of c_k and the counts sum to n.
func (g Geometry) Bounds(n int64) []int64 {
	c := g.Capacities(n)
	b := make([]int64, len(c)+1)
	cum := 0.0
	for k := 1; k < len(c); k++ {
		cum += c[k-1]
		b[k] = min(int64(math.Floor(cum+0.5)), n)
		b[k] = max(b[k], b[k-1])
	}
	b[len(c)] = n
	return b
}

// ShellOfRank returns the shell k with B_k ≤ r < B_{k+1} (the outermost
// for r ≥ n). Empty shells (B_k = B_{k+1}) never receive a rank.
func ShellOfRank(r float64, bounds []int64) int {
	s := len(bounds) - 1
	// Number of k in 1…S with B_k ≤ r.
	k := sort.Search(s, func(i int) bool { return float64(bounds[i+1]) > r })
	return min(k, s-1)
}
