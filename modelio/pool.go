package modelio

import (
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

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
	first, next, scale *Exec
}

func newPoolExecs(be backends.Backend) (poolExecs, error) {
	var p poolExecs
	var errs [3]error
	p.first, errs[0] = NewExec(be, poolFirst)
	p.next, errs[1] = NewExec(be, poolNext)
	p.scale, errs[2] = NewExec(be, poolMean)
	for i, name := range []string{"blt_pool_first", "blt_pool_next", "blt_pool_scale"} {
		if errs[i] != nil {
			return p, fmt.Errorf("build pooling graph %s: %w", name, errs[i])
		}
	}
	p.first.SetMaxCache(-1).WithName("blt_pool_first")
	p.next.SetMaxCache(-1).WithName("blt_pool_next")
	p.scale.SetMaxCache(-1).WithName("blt_pool_scale")
	return p, nil
}

// poolFirst sums the hidden states [B, C, dim] of one chunk into rows
// ids [B·C, 1] of a fresh float64 [P, dim] table (P from lengths [P]).
func poolFirst(lengths, ids, hidden *Node) *Node {
	table := shapes.Make(dtypes.Float64, lengths.Shape().Dimensions[0], hidden.Shape().Dimensions[2])
	return Scatter(ids, tokenRows(hidden), table, false, false)
}

// poolNext adds one more chunk's hidden states into acc [P, dim].
func poolNext(acc, ids, hidden *Node) *Node {
	return ScatterSum(acc, ids, tokenRows(hidden), false, false)
}

// tokenRows is hidden [B, C, dim] as float64 [B·C, dim].
func tokenRows(hidden *Node) *Node {
	dims := hidden.Shape().Dimensions
	return ConvertDType(Reshape(hidden, dims[0]*dims[1], dims[2]), dtypes.Float64)
}

// poolMean turns sums into float32 means: row p divided by lengths[p].
func poolMean(acc, lengths *Node) *Node {
	return ConvertDType(Div(acc, InsertAxes(lengths, -1)), dtypes.Float32)
}

// cutAll runs cut over every document, concurrently, and checks its
// lengths; it returns, per document, the call-wide patch number of its
// first patch (-1 for a document whose cut failed) and the patch count.
func cutAll(docs [][]int32, out []DocScore, cut Cut) (base []int, patches int) {
	parallel(len(docs), func(d int) {
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
	base = make([]int, len(docs))
	for d := range docs {
		base[d] = -1
		if out[d].CutErr == nil {
			base[d] = patches
			patches += len(out[d].Lengths)
		}
	}
	return base, patches
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
func (s *Scorer) cutEmpty(docs [][]int32, out []DocScore, cut Cut) error {
	if cut == nil {
		return nil
	}
	cutAll(docs, out, cut)
	for d := range out {
		if out[d].CutErr == nil {
			out[d].Pooled = []float32{}
		}
	}
	return nil
}

// pool cuts the documents and pools their hidden states on device dev
// (see the top of this file). hidden are the chunks of the call, in order.
func (s *Scorer) pool(dev backends.DeviceNum, docs [][]int32, streams []*stream, hidden []chunkHidden, out []DocScore, cut Cut) error {
	dim := s.cfg.Dim
	base, patches := cutAll(docs, out, cut)
	rows := patchRows(patches + 1) // the last row takes padding and failed cuts
	dump := int32(patches)
	lengths := make([]float64, rows) // unused rows divide by 1, not 0
	for i := range lengths {
		lengths[i] = 1
	}
	tokRow := make([][]int32, len(docs)) // per token of a document, its patch's row
	parallel(len(docs), func(d int) {
		if base[d] < 0 {
			return
		}
		tr := make([]int32, len(docs[d]))
		t := 0
		for p, l := range out[d].Lengths {
			row := base[d] + p
			lengths[row] = float64(l)
			for range l {
				tr[t] = int32(row)
				t++
			}
		}
		tokRow[d] = tr
	})
	lenT := tensors.FromFlatDataAndDimensions(lengths, rows)
	defer lenT.FinalizeAll()

	var acc *tensors.Tensor
	for n, h := range hidden {
		ids := make([]int32, len(h.rows)*h.c)
		for i, st := range h.rows {
			row := ids[i*h.c : (i+1)*h.c]
			for j := range row {
				row[j] = dump
				if st == nil || h.pos+j >= st.len() {
					continue
				}
				if tr := tokRow[st.tokDoc[h.pos+j]]; tr != nil {
					row[j] = tr[st.tokIdx[h.pos+j]]
				}
			}
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
			return fmt.Errorf("pool patches (chunk %d of %d, %d patch rows): %w", n+1, len(hidden), rows, err)
		}
		acc = res[0]
	}
	res, _, err := s.pools.scale.ExecWithGraphOnDevice(dev, []*tensors.Tensor{acc, lenT})
	acc.FinalizeAll()
	if err != nil {
		return fmt.Errorf("pool patches (scale %d rows): %w", rows, err)
	}
	means := res[0]
	defer means.FinalizeAll()

	host := s.hostFloats(rows * dim)
	defer s.hostPool.Put(host)
	vals := (*host)[:rows*dim]
	buf, err := means.Buffer(s.backend, dev)
	if err != nil {
		return fmt.Errorf("patch vectors: %w", err)
	}
	if err := s.backend.BufferToFlatData(buf, vals); err != nil {
		return fmt.Errorf("patch vectors to host: %w", err)
	}
	parallel(len(docs), func(d int) {
		if base[d] >= 0 {
			out[d].Pooled = slices.Clone(vals[base[d]*dim : (base[d]+len(out[d].Lengths))*dim])
		}
	})
	return nil
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

// hostFloats returns a reusable host buffer of at least n floats: the
// patch vectors of a call are ~100 MB at the real size, and a fresh slice
// per call cost as much CPU (allocation, zeroing) as the copy.
func (s *Scorer) hostFloats(n int) *[]float32 {
	if p, ok := s.hostPool.Get().(*[]float32); ok && cap(*p) >= n {
		return p
	}
	b := make([]float32, n)
	return &b
}

// parallel runs f(0…n−1) on all cores.
func parallel(n int, f func(i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), n) {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				f(i)
			}
		})
	}
	wg.Wait()
}
