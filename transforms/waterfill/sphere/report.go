package sphere

import (
	"encoding/json"
	"fmt"
	"math"

	"github.com/bltpipe/bltpipe/schemas"
	"github.com/bltpipe/bltpipe/transforms/waterfill/alloc"
)

// File is the content of sphere/_SPHERE.json: the parameters, the shells
// and how full they are.
type File struct {
	SchemaVersion    string  `json:"schema_version"`
	Method           string  `json:"method"`
	Weight           string  `json:"weight"`
	Shells           int     `json:"shells"`
	Gamma            float64 `json:"gamma"`
	MinRadius        float64 `json:"min_radius"`
	OuterRadius      float64 `json:"outer_radius"` // R_{S−1}
	Scale            float64 `json:"scale"`
	CapacityExponent float64 `json:"capacity_exponent"`
	Temperature      float64 `json:"temperature_nats,omitempty"`
	Seed             uint64  `json:"seed,omitempty"`
	Patches          int64   `json:"patches"` // valid patches placed
	OutlierThreshold float64 `json:"outlier_threshold"`
	// MaxCountError is max_k |count_k − capacity_k|.
	MaxCountError float64      `json:"max_count_error"`
	Osmotic       *OsmoticFile `json:"osmotic,omitempty"`
	Table         []Shell      `json:"shell_table"`
}

// Shell is one row of the shell table. For thrml, Radius is k/S.
type Shell struct {
	K        int      `json:"k"`
	Radius   float64  `json:"radius"`
	Capacity float64  `json:"capacity"`
	Count    int64    `json:"count"`
	Load     *float64 `json:"load"` // count/capacity; null for capacity 0
}

// OsmoticFile reports the osmotic iteration.
type OsmoticFile struct {
	Rounds    int     `json:"rounds"`
	Converged bool    `json:"converged"`
	Moves     []int64 `json:"moves_per_round"`
}

// NewFile describes a finished allocation: counts are summed over shards.
func NewFile(pl *alloc.Plan, results []ShardResult, rep *alloc.OsmoticReport) (File, error) {
	c := pl.Config
	g := pl.Geometry
	f := File{
		SchemaVersion: schemas.Version, Method: string(c.Method), Weight: c.Weighting().String(),
		Shells: c.Shells, Gamma: alloc.Gamma, MinRadius: g.MinRadius, OuterRadius: g.Radius(c.Shells - 1),
		Scale: g.Scale, CapacityExponent: g.Alpha, OutlierThreshold: pl.Outlier,
	}
	if c.Method == alloc.MethodEntropy {
		f.Temperature = c.Temperature
	}
	if c.Method == alloc.MethodOsmotic {
		f.Seed = c.Seed
		if rep != nil {
			f.Osmotic = &OsmoticFile{Rounds: rep.Rounds, Converged: rep.Converged, Moves: rep.Moves}
		}
	}
	counts := make([]int64, c.Shells)
	for _, r := range results {
		if len(r.Counts) != c.Shells {
			return f, fmt.Errorf("shard %s reports %d shells, want %d", r.Info.Path, len(r.Counts), c.Shells)
		}
		for k, n := range r.Counts {
			counts[k] += n
			f.Patches += n
		}
	}
	capacity := g.Capacities(f.Patches)
	for k := range counts {
		s := Shell{K: k, Radius: g.Radius(k), Capacity: capacity[k], Count: counts[k]}
		if c.Method == alloc.MethodThrml {
			s.Radius = alloc.ThrmlRadius(k, c.Shells)
		}
		if capacity[k] > 0 {
			l := float64(counts[k]) / capacity[k]
			s.Load = &l
		}
		f.MaxCountError = math.Max(f.MaxCountError, math.Abs(float64(counts[k])-capacity[k]))
		f.Table = append(f.Table, s)
	}
	return f, nil
}

// Marshal renders the file as _SPHERE.json bytes (indented, newline).
func (f File) Marshal() ([]byte, error) {
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}
