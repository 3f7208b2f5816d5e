// Package embed owns patch-level records: it pools per-token pre-norm hidden
// states into one vector per patch (Pool, called by the patch stage inside
// the DoFn that ran the model, so per-token states never leave it) and turns
// a scored document into per-patch summaries (Embed: byte ranges, entropy
// and prominence statistics, the pooled vector).
//
// It must not run the model or touch storage.
package embed

import "fmt"

// Pool returns the mean hidden state of each patch, back to back:
// out[p·dim : (p+1)·dim] is the average of hidden[t·dim : (t+1)·dim] over the
// tokens t of patch p. hidden is [numTokens·dim] with numTokens the sum of
// lengths. Sums are accumulated in float64.
func Pool(hidden []float32, dim int, lengths []int32) ([]float32, error) {
	n := 0
	for _, l := range lengths {
		if l < 1 {
			return nil, fmt.Errorf("pool: patch length %d < 1", l)
		}
		n += int(l)
	}
	if dim < 1 || len(hidden) != n*dim {
		return nil, fmt.Errorf("pool: %d hidden values for %d tokens of dim %d", len(hidden), n, dim)
	}
	out := make([]float32, len(lengths)*dim)
	acc := make([]float64, dim)
	t := 0
	for p, l := range lengths {
		clear(acc)
		for range l {
			row := hidden[t*dim : (t+1)*dim]
			for j, v := range row {
				acc[j] += float64(v)
			}
			t++
		}
		dst := out[p*dim : (p+1)*dim]
		for j := range dst {
			dst[j] = float32(acc[j] / float64(l))
		}
	}
	return out, nil
}
