// Package calibrate owns choosing a model's global entropy threshold: given
// per-token entropies of a sample (scored once), it bisects the threshold
// so that the default entropy patcher cuts patches of a target mean length,
// and stores the result in the model's config.
//
// It works on stored entropies only: it must not run the model (the caller
// scores the sample with modelio.Scorer) nor change the patching rules
// (modelio/patcher owns them).
//
// Mean patch length is measured over the whole sample: total tokens
// (BOS and EOS included, as inference patches them) over total patches.
package calibrate

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"

	"github.com/bltpipe/bltpipe/modelio"
	"github.com/bltpipe/bltpipe/modelio/patcher"
	"github.com/bltpipe/bltpipe/modelio/tokenizer"
)

// Doc is one scored document: its tokens ([BOS, bytes…, EOS]) and the
// model's entropy (nats) after each token.
type Doc struct {
	Tokens    []int32
	Entropies []float32
}

// Stats describes the patches of a sample under one set of options.
type Stats struct {
	Tokens  int
	Patches int
	// MeanLength is Tokens / Patches.
	MeanLength float64
	// StartsAtWord is the share of free patch starts (every start but the
	// two the rules always place, on BOS and the first byte) that fall on
	// the first byte of a word: an ASCII letter, digit or '_' or a non-ASCII
	// byte, preceded by none of these.
	StartsAtWord float64
	// WordsStarted is the share of word starts (past the first byte) where
	// a patch starts.
	WordsStarted float64
}

// Measure patches every document with o and summarises the patches.
func Measure(docs []Doc, o patcher.Options) (Stats, error) {
	var s Stats
	var free, freeAtWord, words, wordsStarted int
	var lengths []int32
	for i, d := range docs {
		var err error
		lengths, err = patcher.AppendPatch(lengths[:0], d.Tokens, d.Entropies, o)
		if err != nil {
			return s, fmt.Errorf("document %d: %w", i, err)
		}
		s.Tokens += len(d.Tokens)
		s.Patches += len(lengths)
		start := make([]bool, len(d.Tokens)+1)
		for _, p := range patcher.Starts(lengths) {
			start[p] = true
		}
		for p := 2; p < len(d.Tokens); p++ {
			ws := wordStart(d.Tokens, p)
			if start[p] {
				free++
				if ws {
					freeAtWord++
				}
			}
			if ws {
				words++
				if start[p] {
					wordsStarted++
				}
			}
		}
	}
	if s.Patches > 0 {
		s.MeanLength = float64(s.Tokens) / float64(s.Patches)
	}
	if free > 0 {
		s.StartsAtWord = float64(freeAtWord) / float64(free)
	}
	if words > 0 {
		s.WordsStarted = float64(wordsStarted) / float64(words)
	}
	return s, nil
}

func isWordToken(t int32) bool {
	if !tokenizer.IsByte(t) {
		return false
	}
	b := byte(t - tokenizer.Offset)
	return b >= 0x80 || b == '_' || '0' <= b && b <= '9' || 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z'
}

// wordStart reports whether token p is the first byte of a word.
func wordStart(tokens []int32, p int) bool {
	return isWordToken(tokens[p]) && (p == 0 || !isWordToken(tokens[p-1]))
}

// Result is the outcome of FindThreshold.
type Result struct {
	Threshold  float64 // nats, a float32 value (the patcher compares in float32)
	Stats              // the sample's patches at Threshold
	Iterations int
}

// FindThreshold bisects the global threshold of base (entropy mode, not
// monotonic, no threshold_add) until the mean patch length of docs is as
// close to target as the sample allows: the mean grows with the threshold
// in steps, so the result is the float32 threshold whose mean lies nearest
// the target. It fails when the sample has no document or target lies
// outside the means the sample can reach.
func FindThreshold(docs []Doc, target float64, base patcher.Options) (Result, error) {
	if base.Mode != patcher.ModeEntropy || base.Monotonic || base.ThresholdAdd != nil {
		return Result{}, errors.New("calibrate: only the global entropy threshold can be calibrated (entropy mode, no monotonicity, no threshold_add)")
	}
	if len(docs) == 0 {
		return Result{}, errors.New("calibrate: empty sample")
	}
	lo, hi := float32(math.Inf(1)), float32(math.Inf(-1))
	for _, d := range docs {
		for _, e := range d.Entropies {
			lo, hi = min(lo, e), max(hi, e)
		}
	}
	if math.IsInf(float64(lo), 0) {
		return Result{}, errors.New("calibrate: the sample has no tokens")
	}
	measure := func(t float32) (Stats, error) {
		o := base
		o.Threshold = float64(t)
		return Measure(docs, o)
	}
	// Below every entropy each position starts a patch; at the largest
	// entropy none but the forced ones does.
	lo = math.Nextafter32(lo, float32(math.Inf(-1)))
	sLo, err := measure(lo)
	if err != nil {
		return Result{}, err
	}
	sHi, err := measure(hi)
	if err != nil {
		return Result{}, err
	}
	if target < sLo.MeanLength || target > sHi.MeanLength {
		return Result{}, fmt.Errorf("calibrate: target mean patch length %g is outside what this sample reaches (%.4g to %.4g)", target, sLo.MeanLength, sHi.MeanLength)
	}
	it := 0
	for ; it < 100; it++ {
		mid := lo + (hi-lo)/2
		if mid <= lo || mid >= hi {
			break
		}
		s, err := measure(mid)
		if err != nil {
			return Result{}, err
		}
		if s.MeanLength < target {
			lo, sLo = mid, s
		} else {
			hi, sHi = mid, s
		}
	}
	if target-sLo.MeanLength < sHi.MeanLength-target {
		return Result{Threshold: float64(lo), Stats: sLo, Iterations: it}, nil
	}
	return Result{Threshold: float64(hi), Stats: sHi, Iterations: it}, nil
}

// WriteDefaults stores p as "patching" in the model directory's config:
// config.json (inside "args" when the hyper-parameters sit there), or
// params.json's "entropy_model" when the directory has no config.json.
// Other keys are kept; the file is replaced atomically (written to a
// temporary file beside it, synced, renamed).
func WriteDefaults(dir string, p modelio.PatchingDefaults) error {
	path, key := filepath.Join(dir, modelio.ConfigFile), "args"
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		path, key = filepath.Join(dir, modelio.ParamsFile), "entropy_model"
		b, err = os.ReadFile(path)
	}
	if err != nil {
		return fmt.Errorf("write threshold: %w", err)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(b, &top); err != nil || top == nil {
		return fmt.Errorf("write threshold: %s is not a JSON object", path)
	}
	pj, err := json.Marshal(p)
	if err != nil {
		return err
	}
	if sub, ok := top[key]; ok && !bytes.Equal(bytes.TrimSpace(sub), []byte("null")) {
		var args map[string]json.RawMessage
		if err := json.Unmarshal(sub, &args); err != nil || args == nil {
			return fmt.Errorf("write threshold: %s: %q is not a JSON object", path, key)
		}
		args["patching"] = pj
		if top[key], err = json.Marshal(args); err != nil {
			return err
		}
	} else if key == "entropy_model" {
		return fmt.Errorf("write threshold: %s has no %q object", path, key)
	} else {
		top["patching"] = pj
	}
	out, err := json.MarshalIndent(top, "", "  ")
	if err != nil {
		return err
	}
	return modelio.WriteFileAtomic(path, append(out, '\n'))
}
