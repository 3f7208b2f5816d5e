package train

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/bltpipe/bltpipe/modelio/tokenizer"
	"github.com/klauspost/compress/zstd"
)

// ReadCorpus reads the documents of every file matching the globs, files in
// sorted path order (each file once). A file named *.jsonl, *.jsonl.gz or
// *.jsonl.zst holds one JSON object per line whose "text" string is a
// document (blank lines are skipped; a line without "text" is an error).
// Any other file is one document, decompressed first when it ends in .gz or
// .zst.
func ReadCorpus(globs []string) ([][]byte, error) {
	var paths []string
	for _, g := range globs {
		m, err := filepath.Glob(g)
		if err != nil {
			return nil, fmt.Errorf("corpus glob %q: %w", g, err)
		}
		if len(m) == 0 {
			return nil, fmt.Errorf("corpus glob %q matches no file", g)
		}
		paths = append(paths, m...)
	}
	slices.Sort(paths)
	paths = slices.Compact(paths)
	var docs [][]byte
	for _, p := range paths {
		d, err := readFile(p)
		if err != nil {
			return nil, err
		}
		docs = append(docs, d...)
	}
	return docs, nil
}

func readFile(path string) ([][]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read corpus: %w", err)
	}
	defer f.Close()
	var r io.Reader = bufio.NewReaderSize(f, 1<<20)
	name := path
	switch {
	case strings.HasSuffix(name, ".gz"):
		gz, err := gzip.NewReader(r)
		if err != nil {
			return nil, fmt.Errorf("read corpus %s: %w", path, err)
		}
		defer gz.Close()
		r, name = gz, strings.TrimSuffix(name, ".gz")
	case strings.HasSuffix(name, ".zst"):
		zr, err := zstd.NewReader(r)
		if err != nil {
			return nil, fmt.Errorf("read corpus %s: %w", path, err)
		}
		defer zr.Close()
		r, name = zr, strings.TrimSuffix(name, ".zst")
	}
	if !strings.HasSuffix(name, ".jsonl") {
		b, err := io.ReadAll(r)
		if err != nil {
			return nil, fmt.Errorf("read corpus %s: %w", path, err)
		}
		return [][]byte{b}, nil
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 256<<20)
	var docs [][]byte
	for line := 1; sc.Scan(); line++ {
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		var rec struct {
			Text *string `json:"text"`
		}
		if err := json.Unmarshal(b, &rec); err != nil {
			return nil, fmt.Errorf("read corpus %s:%d: %w", path, line, err)
		}
		if rec.Text == nil {
			return nil, fmt.Errorf("read corpus %s:%d: no \"text\" string", path, line)
		}
		docs = append(docs, []byte(*rec.Text))
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read corpus %s: %w", path, err)
	}
	return docs, nil
}

// SplitHoldout moves about frac of docs (each with probability frac, drawn
// from a PCG stream seeded with seed, in document order) to a held-out set.
func SplitHoldout(docs [][]byte, frac float64, seed uint64) (train, held [][]byte) {
	if frac <= 0 {
		return docs, nil
	}
	r := rand.New(rand.NewPCG(seed, 0x686f6c646f7574)) // "holdout"
	for _, d := range docs {
		if r.Float64() < frac {
			held = append(held, d)
		} else {
			train = append(train, d)
		}
	}
	return train, held
}

// Rows holds documents packed into rows of SeqLen tokens (see the package
// comment): Tokens and Segs are [N, SeqLen] row-major, Segs the index of
// each token's document (−1 on padding).
type Rows struct {
	SeqLen int
	N      int
	Tokens []int32
	Segs   []int32
	Bytes  int // document bytes packed (excluding BOS/EOS)
}

// PackRows tokenizes docs in order and packs them into rows.
func PackRows(docs [][]byte, seqLen int) *Rows {
	r := &Rows{SeqLen: seqLen}
	for i, d := range docs {
		tok := tokenizer.EncodeDoc(d)
		r.Tokens = append(r.Tokens, tok...)
		for range tok {
			r.Segs = append(r.Segs, int32(i))
		}
		r.Bytes += len(d)
	}
	r.N = (len(r.Tokens) + seqLen - 1) / seqLen
	for len(r.Tokens) < r.N*seqLen {
		r.Tokens = append(r.Tokens, 0)
		r.Segs = append(r.Segs, -1)
	}
	return r
}

// Batch is the host side of one training or evaluation step, all [B, T]
// row-major: Targets[b, t] is the token that follows (b, t) and Weights[b,
// t] is 1 where that prediction counts (same document, in the row), else 0.
type Batch struct {
	B, T    int
	Tokens  []int32
	Segs    []int32
	Targets []int32
	Weights []float32
}

// batch assembles rows idx (−1: an empty row) into a Batch. bytesOnly keeps
// only predictions whose target is a byte (for bits per byte).
func (r *Rows) batch(idx []int, bytesOnly bool) *Batch {
	t := r.SeqLen
	b := &Batch{B: len(idx), T: t,
		Tokens: make([]int32, len(idx)*t), Segs: make([]int32, len(idx)*t),
		Targets: make([]int32, len(idx)*t), Weights: make([]float32, len(idx)*t)}
	for i, row := range idx {
		o := i * t
		if row < 0 {
			for j := range t {
				b.Segs[o+j] = -1
			}
			continue
		}
		copy(b.Tokens[o:o+t], r.Tokens[row*t:(row+1)*t])
		copy(b.Segs[o:o+t], r.Segs[row*t:(row+1)*t])
		for j := range t - 1 {
			if s := b.Segs[o+j]; s >= 0 && s == b.Segs[o+j+1] {
				next := b.Tokens[o+j+1]
				b.Targets[o+j] = next
				if !bytesOnly || tokenizer.IsByte(next) {
					b.Weights[o+j] = 1
				}
			}
		}
	}
	return b
}

// order yields the rows of training step `step`: rows step·n … (step+1)·n−1
// of the endless sequence of epochs, each a PCG permutation of all rows
// seeded with (seed, epoch).
type order struct {
	n, rows int
	seed    uint64
	epoch   int
	perm    []int
}

func (o *order) rowsFor(step int) []int {
	out := make([]int, o.n)
	for i := range out {
		pos := step*o.n + i
		e := pos / o.rows
		if o.perm == nil || e != o.epoch {
			o.epoch = e
			o.perm = rand.New(rand.NewPCG(o.seed, uint64(e))).Perm(o.rows)
		}
		out[i] = o.perm[pos%o.rows]
	}
	return out
}

// UnigramBits is the entropy, in bits per byte, of the byte frequencies of
// docs: what a model that ignores context achieves at best on them.
func UnigramBits(docs [][]byte) float64 {
	var counts [256]float64
	total := 0.0
	for _, d := range docs {
		for _, c := range d {
			counts[c]++
		}
		total += float64(len(d))
	}
	h := 0.0
	for _, c := range counts {
		if c > 0 {
			p := c / total
			h -= p * math.Log2(p)
		}
	}
	return h
}
