package alloc

import (
	"encoding/binary"
	"hash/fnv"
	"math"
)

// Osmotic thresholds: a shell loaded above PromoteLoad × capacity pushes
// patches out, one loaded below DemoteLoad × capacity lets them fall in.
const (
	PromoteLoad = 1.2
	DemoteLoad  = 0.8
)

// PatchID is a stable 64-bit identity of a patch: FNV-1a over the doc_id
// bytes, a 0xff separator and the little-endian patch_index, then the
// SplitMix64 finaliser. It depends on nothing but the patch, so masks
// derived from it are the same on any runner and in any shard order.
func PatchID(docID string, patchIndex int32) uint64 {
	h := fnv.New64a()
	h.Write([]byte(docID))
	var b [5]byte
	b[0] = 0xff
	binary.LittleEndian.PutUint32(b[1:], uint32(patchIndex))
	h.Write(b[:])
	return mix64(h.Sum64())
}

// mix64 is SplitMix64's finaliser.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// LateralMove is the lateral-move mask: in round r (from 0) a candidate
// patch moves iff the top bit of mix64(mix64(seed ⊕ (r+1)·φ) ⊕ id) is 0,
// φ = 0x9e3779b97f4a7c15 — half the candidates, the same half on every
// run. (The seed's script drew this mask from an unseeded RNG.)
func LateralMove(seed uint64, round int, id uint64) bool {
	return mix64(mix64(seed^uint64(round+1)*0x9e3779b97f4a7c15)^id)>>63 == 0
}

// OsmoticReport is the outcome of Osmotic.
type OsmoticReport struct {
	Rounds    int       // rounds run
	Converged bool      // the last round moved nothing
	Moves     []int64   // patches moved in each round
	Counts    []int64   // final patches per shell
	Capacity  []float64 // c_k
	Load      []float64 // Counts/Capacity (+Inf for a non-empty shell of capacity 0)
}

// Osmotic runs the seed's iterative allocation over every valid patch
// (prominence p[i], PatchID ids[i]) and returns their shells. Start: the
// linear map. Then up to MaxRounds rounds; in each, with loads taken at
// the start of the round, a patch in shell k
//   - moves out to k+1 if shell k is loaded above 1.2× capacity or the
//     patch is an outlier (p > mean + std), and k < S−1;
//   - else moves in to k−1 if shell k is loaded below 0.8× capacity, the
//     patch is not an outlier, and k > 0;
//
// each such move happening only where LateralMove says so. It stops early
// after a round with no move. Capacities follow the capacity exponent.
// Memory: the inputs plus 4 bytes a patch; it needs every patch at once.
func (pl *Plan) Osmotic(p []float32, ids []uint64) ([]int32, OsmoticReport) {
	s := pl.Config.Shells
	shells := make([]int32, len(p))
	for i, v := range p {
		shells[i] = int32(pl.Linear(float64(v)))
	}
	rep := OsmoticReport{Capacity: pl.Geometry.Capacities(int64(len(p)))}
	counts := make([]int64, s)
	load := make([]float64, s)
	measure := func() {
		clear(counts)
		for _, k := range shells {
			counts[k]++
		}
		for k := range load {
			load[k] = loadOf(counts[k], rep.Capacity[k])
		}
	}
	for round := 0; round < pl.Config.MaxRounds; round++ {
		measure()
		var moves int64
		for i, k := range shells {
			out := float64(p[i]) > pl.Outlier
			switch {
			case (load[k] > PromoteLoad || out) && int(k) < s-1:
				if LateralMove(pl.Config.Seed, round, ids[i]) {
					shells[i] = k + 1
					moves++
				}
			case load[k] < DemoteLoad && !out && k > 0:
				if LateralMove(pl.Config.Seed, round, ids[i]) {
					shells[i] = k - 1
					moves++
				}
			}
		}
		rep.Rounds++
		rep.Moves = append(rep.Moves, moves)
		if moves == 0 {
			rep.Converged = true
			break
		}
	}
	measure()
	rep.Counts = append([]int64(nil), counts...)
	rep.Load = append([]float64(nil), load...)
	return shells, rep
}

func loadOf(count int64, capacity float64) float64 {
	if capacity > 0 {
		return float64(count) / capacity
	}
	if count > 0 {
		return math.Inf(1)
	}
	return 1
}
