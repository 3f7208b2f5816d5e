package modelio

import (
	"fmt"
	"slices"

	"github.com/bltpipe/bltpipe/internal/par"
	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:revive // GoMLX graph code reads best with its ops unqualified.
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// Patch pooling on the device. A Score call with a Cut keeps each chunk's
// hidden states [B, C, dim] where the forward left them. Once the call's
// entropies are on the host, the Cut gives every document its patch
// lengths, each token gets the row of its patch (patches numbered across
// the whole call), and one scatter-add per chunk sums the hidden states
// into those rows; a last step divides each row by its length. Only the
// patch means come back: at BLT's ~4.5 bytes a patch, a quarter of the
// per-token states, and no per-token copy or pooling loop on the CPU.
//
// A GPU's scatter adds with atomics, in no fixed order. The sums are
// float64: float32 values of a patch add up exactly in float64 unless
// their magnitudes are ~2^29 apart, so the order does not change the
// float32 mean and reruns stay byte-identical.

// poolExecs are the graphs of pooling; their shapes vary with the stream
// count, the chunk length and the patch-row bucket, so their caches are
// unbounded (each graph is small and compiles in well under a second).
type poolExecs struct {
	first, next, mean *Exec
}

func newPoolExecs(be backends.Backend) (poolExecs, error) {
	var p poolExecs
	var errs [3]error
	p.first, errs[0] = NewExec(be, poolFirst)
	p.next, errs[1] = NewExec(be, poolNext)
	p.mean, errs[2] = NewExec(be, poolMean)
	for i, name := range []string{"blt_pool_first", "blt_pool_next", "blt_pool_mean"} {
		if errs[i] != nil {
			return p, fmt.Errorf("build pooling graph %s: %w", name, errs[i])
		}
	}
	p.first.SetMaxCache(-1).WithName("blt_pool_first")
	p.next.SetMaxCache(-1).WithName("blt_pool_next")
	p.mean.SetMaxCache(-1).WithName("blt_pool_mean")
	return p, nil
}

// sumDType is the dtype patch sums are added in (see the top of the file).
const sumDType = dtypes.Float64

// poolFirst sums the hidden states [B, C, dim] of one chunk into rows
// ids [B·C, 1] of a fresh [P, dim] table (P from lengths [P]).
func poolFirst(lengths, ids, hidden *Node) *Node {
	table := Zeros(hidden.Graph(), shapes.Make(sumDType, lengths.Shape().Dimensions[0], hidden.Shape().Dimensions[2]))
	// Not graph.Scatter: it declares its indices unique, and a GPU then
	// adds a patch's tokens without atomics, racing (pooled values were
	// wrong on an H100, right on the sequential CPU backend).
	return ScatterSum(table, ids, tokenRows(hidden), true, false)
}

// poolNext adds one more chunk's hidden states into acc [P, dim].
func poolNext(acc, ids, hidden *Node) *Node {
	return ScatterSum(acc, ids, tokenRows(hidden), true, false)
}

// tokenRows is hidden [B, C, dim] as [B·C, dim] in sumDType.
func tokenRows(hidden *Node) *Node {
	dims := hidden.Shape().Dimensions
	return ConvertDType(Reshape(hidden, dims[0]*dims[1], dims[2]), sumDType)
}

// poolMean turns sums into float32 means: row p divided by lengths[p].
func poolMean(acc, lengths *Node) *Node {
	return ConvertDType(Div(acc, InsertAxes(ConvertDType(lengths, acc.DType()), -1)), dtypes.Float32)
}

// cutAll runs cut over every document, concurrently, and checks its
// lengths (DocScore.Lengths, or CutErr).
func cutAll(docs [][]int32, out []DocScore, cut Cut) {
	par.For(len(docs), func(d int) {
		l, err := cut(d, out[d].Entropies)
		if err == nil {
			err = checkLengths(l, len(docs[d]))
		}
		if err != nil {
			out[d].CutErr = err
			return
		}
		out[d].Lengths = l
	})
}

// checkLengths reports whether patch lengths cut a document of n tokens.
func checkLengths(lengths []int32, n int) error {
	sum := 0
	for i, l := range lengths {
		if l < 1 {
			return fmt.Errorf("patch %d has length %d", i, l)
		}
		sum += int(l)
	}
	if sum != n {
		return fmt.Errorf("patch lengths sum to %d, the document has %d tokens", sum, n)
	}
	return nil
}

// cutEmpty is pooling for a call without tokens: documents get their cuts
// and empty vectors.
func cutEmpty(docs [][]int32, out []DocScore, cut Cut) {
	if cut == nil {
		return
	}
	cutAll(docs, out, cut)
	for d := range out {
		if out[d].CutErr == nil {
			out[d].Pooled = []float32{}
		}
	}
}

// pool cuts the documents and pools their hidden states on device dev
// (see the top of this file). hidden are the call's chunks, in order.
func (s *Scorer) pool(dev backends.DeviceNum, docs [][]int32, streams []*stream, hidden []chunkHidden, out []DocScore, cut Cut) error {
	dim := s.cfg.Dim
	cutAll(docs, out, cut)
	l := layRows(docs, streams, out)
	lenT := tensors.FromFlatDataAndDimensions(l.lengths, len(l.lengths))
	defer lenT.FinalizeAll()

	var acc *tensors.Tensor
	for n, h := range hidden {
		ids := l.chunkRows(h)
		if !slices.IsSorted(ids) { // the scatters are told they are
			return fmt.Errorf("pool patches: internal error: patch rows of chunk %d are out of order", n+1)
		}
		idsT := tensors.FromFlatDataAndDimensions(ids, len(ids), 1)
		var res []*tensors.Tensor
		var err error
		if n == 0 {
			res, _, err = s.pools.first.ExecWithGraphOnDevice(dev, []*tensors.Tensor{lenT, idsT, h.t})
		} else {
			res, _, err = s.pools.next.ExecWithGraphOnDevice(dev, []*tensors.Tensor{acc, idsT, h.t})
			acc.FinalizeAll()
		}
		idsT.FinalizeAll()
		if err != nil {
			return fmt.Errorf("pool patches (chunk %d of %d, %d patch rows): %w", n+1, len(hidden), len(l.lengths), err)
		}
		acc = res[0]
	}
	res, _, err := s.pools.mean.ExecWithGraphOnDevice(dev, []*tensors.Tensor{acc, lenT})
	acc.FinalizeAll()
	if err != nil {
		return fmt.Errorf("pool patches (means of %d rows): %w", len(l.lengths), err)
	}
	means := res[0]
	defer means.FinalizeAll()
	// One fresh buffer per call, and the documents' vectors are slices of
	// it: copying them out cost more CPU than the rest of pooling.
	vals := make([]float32, len(l.lengths)*dim)
	buf, err := means.Buffer(s.backend, dev)
	if err != nil {
		return fmt.Errorf("patch vectors: %w", err)
	}
	if err := s.backend.BufferToFlatData(buf, vals); err != nil {
		return fmt.Errorf("patch vectors to host: %w", err)
	}
	for d := range docs {
		if out[d].CutErr == nil {
			a, b := l.first[d]*dim, (l.first[d]+len(out[d].Lengths))*dim
			out[d].Pooled = vals[a:b:b]
		}
	}
	return nil
}

// rowLayout numbers the rows of a call's patch table: a leading spare row,
// then stream by stream each document's patches in order (one spare row
// for a document whose cut failed) and a spare row for the stream's
// padding. The row of every token then rises along a chunk's flattened
// [B·C] order (streams keep their order in a batch), so the scatter-adds
// run with sorted indices.
type rowLayout struct {
	first   []int     // per document, its first row
	tokRow  [][]int32 // per document and token, the row of its patch
	spare   map[*stream]int32
	lengths []float64 // per row, its patch length (1 for spare and unused rows)
}

func layRows(docs [][]int32, streams []*stream, out []DocScore) rowLayout {
	l := rowLayout{first: make([]int, len(docs)), tokRow: make([][]int32, len(docs)), spare: map[*stream]int32{}}
	next := 1
	for _, st := range streams {
		for _, d := range st.docs {
			l.first[d] = next
			next += max(1, len(out[d].Lengths))
		}
		l.spare[st] = int32(next)
		next++
	}
	l.lengths = make([]float64, patchRows(next))
	for i := range l.lengths {
		l.lengths[i] = 1 // spare and unused rows divide by 1, not 0
	}
	par.For(len(docs), func(d int) {
		if len(docs[d]) == 0 {
			return
		}
		tr := make([]int32, len(docs[d]))
		row := l.first[d]
		t := 0
		for _, n := range out[d].Lengths {
			l.lengths[row] = float64(n)
			for range n {
				tr[t] = int32(row)
				t++
			}
			row++
		}
		for ; t < len(tr); t++ { // a failed cut: all to the document's spare row
			tr[t] = int32(row)
		}
		l.tokRow[d] = tr
	})
	return l
}

// chunkRows gives the patch row of every token slot of a chunk,
// [B·C] in row-major order.
func (l rowLayout) chunkRows(h chunkHidden) []int32 {
	ids := make([]int32, len(h.rows)*h.c)
	var prev int32 // spare row of the last stream seen: rows without one follow it
	for i, st := range h.rows {
		row := ids[i*h.c : (i+1)*h.c]
		if st != nil {
			prev = l.spare[st]
		}
		for j := range row {
			if st == nil || h.pos+j >= st.len() {
				row[j] = prev
				continue
			}
			row[j] = l.tokRow[st.tokDoc[h.pos+j]][st.tokIdx[h.pos+j]]
		}
	}
	return ids
}

// patchRows buckets a patch-row count so that few table shapes compile:
// powers of two and 1.5× them, at least 64.
func patchRows(n int) int {
	b := 64
	for b < n {
		if b+b/2 >= n {
			return b + b/2
		}
		b <<= 1
	}
	return b
}
