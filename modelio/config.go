package modelio

import (
	"fmt"
)

// Config holds the hyper-parameters of a BLT entropy model, with the JSON
// names used by Meta's BaseTransformerArgs (config.json "args" or
// params.json "entropy_model").
type Config struct {
	Dim      int `json:"dim"`
	NLayers  int `json:"n_layers"`
	NHeads   int `json:"n_heads"`
	NKVHeads int `json:"n_kv_heads,omitempty"` // 0 means NHeads (no GQA)
	HeadDim  int `json:"head_dim,omitempty"`   // 0 means Dim/NHeads

	VocabSize        int     `json:"vocab_size"`
	FFNDimMultiplier float64 `json:"ffn_dim_multiplier,omitempty"` // 0 means unset (no multiplier)
	MultipleOf       int     `json:"multiple_of"`
	NormEps          float64 `json:"norm_eps"`
	RopeTheta        float64 `json:"rope_theta"`
	SlidingWindow    int     `json:"sliding_window"` // keys a query sees, itself included; 0 means unlimited
	MaxSeqLen        int     `json:"max_seqlen"`

	// Patching holds defaults written by `bltpipe calibrate`; nil if absent.
	Patching *PatchingDefaults `json:"patching,omitempty"`
}

// PatchingDefaults are patcher settings stored with a model.
type PatchingDefaults struct {
	Threshold         float64 `json:"threshold"`
	TargetPatchLength float64 `json:"target_patch_length,omitempty"`
}

// KVHeads returns the number of key/value heads (NHeads unless GQA).
func (c Config) KVHeads() int {
	if c.NKVHeads > 0 {
		return c.NKVHeads
	}
	return c.NHeads
}

// HeadDimension returns the per-head width.
func (c Config) HeadDimension() int {
	if c.HeadDim > 0 {
		return c.HeadDim
	}
	if c.NHeads == 0 {
		return 0
	}
	return c.Dim / c.NHeads
}

// HiddenDim is the SwiGLU FFN width, computed as Meta's FeedForward does:
// h = int(2·(4·dim)/3); h = int(ffn_dim_multiplier·h) if set;
// h = multiple_of · ceil(h / multiple_of). 2048 for dim 768, multiple_of 256.
func (c Config) HiddenDim() int {
	h := int(2 * (4 * c.Dim) / 3)
	if c.FFNDimMultiplier != 0 {
		h = int(c.FFNDimMultiplier * float64(h))
	}
	m := c.MultipleOf
	if m <= 0 {
		m = 1
	}
	return m * ((h + m - 1) / m)
}

// Validate reports impossible hyper-parameters.
func (c Config) Validate() error {
	switch {
	case c.Dim <= 0:
		return fmt.Errorf("dim must be > 0, got %d", c.Dim)
	case c.NLayers <= 0:
		return fmt.Errorf("n_layers must be > 0, got %d", c.NLayers)
	case c.NHeads <= 0:
		return fmt.Errorf("n_heads must be > 0, got %d", c.NHeads)
	case c.NKVHeads < 0 || c.NHeads%c.KVHeads() != 0:
		return fmt.Errorf("n_heads (%d) must be a multiple of n_kv_heads (%d)", c.NHeads, c.NKVHeads)
	case c.HeadDim < 0:
		return fmt.Errorf("head_dim must be >= 0 (0 means dim/n_heads), got %d", c.HeadDim)
	case c.HeadDim == 0 && c.Dim%c.NHeads != 0:
		return fmt.Errorf("dim (%d) must be a multiple of n_heads (%d)", c.Dim, c.NHeads)
	case c.HeadDimension()%2 != 0:
		return fmt.Errorf("head dimension must be even for RoPE, got %d", c.HeadDimension())
	case c.VocabSize < 260:
		return fmt.Errorf("vocab_size must be >= 260 (BLT byte vocabulary), got %d", c.VocabSize)
	case c.NormEps <= 0 || c.NormEps > 1:
		return fmt.Errorf("norm_eps must be in (0, 1], got %g", c.NormEps)
	case c.RopeTheta <= 0:
		return fmt.Errorf("rope_theta must be > 0, got %g", c.RopeTheta)
	case c.MaxSeqLen < 0:
		return fmt.Errorf("max_seqlen must be >= 0, got %d", c.MaxSeqLen)
	case c.SlidingWindow < 0:
		return fmt.Errorf("sliding_window must be >= 0, got %d", c.SlidingWindow)
	case c.MultipleOf < 0:
		return fmt.Errorf("multiple_of must be >= 0, got %d", c.MultipleOf)
	case c.FFNDimMultiplier < 0:
		return fmt.Errorf("ffn_dim_multiplier must be >= 0, got %g", c.FFNDimMultiplier)
	case c.Dim > maxDim || c.NLayers > maxLayers || c.NHeads > c.Dim || c.HeadDim > maxDim || c.VocabSize > maxVocab ||
		c.MultipleOf > maxDim*16 || c.FFNDimMultiplier > 64:
		return fmt.Errorf("hyper-parameters out of any plausible range (dim ≤ %d, n_layers ≤ %d, n_heads ≤ dim, head_dim ≤ %d, vocab_size ≤ %d, multiple_of ≤ %d, ffn_dim_multiplier ≤ 64): %s",
			maxDim, maxLayers, maxDim, maxVocab, maxDim*16, configSummary(c))
	case c.paramCount() > maxParams:
		return fmt.Errorf("about %.3g parameters, more than the %d an entropy model could have: %s", c.paramCount(), int64(maxParams), configSummary(c))
	}
	return nil
}

// Bounds on hyper-parameters: far beyond any entropy model, small enough
// that sizes computed from them cannot overflow or exhaust memory before
// the weights file is even read (found by FuzzParseConfig: n_layers 10^12
// passed validation and the loader's per-layer slice killed the process).
const (
	maxDim    = 1 << 16
	maxLayers = 1024
	maxVocab  = 1 << 20
	maxParams = 1 << 36
)

// paramCount estimates the number of weights (embeddings, attention, FFN)
// in float64 so it cannot overflow.
func (c Config) paramCount() float64 {
	d, hd := float64(c.Dim), float64(c.HeadDimension())
	attn := d*hd*float64(c.NHeads)*2 + d*hd*float64(c.KVHeads())*2
	ffn := 3 * d * float64(c.HiddenDim())
	return 2*d*float64(c.VocabSize) + float64(c.NLayers)*(attn+ffn+2*d)
}

// Defaults fills zero-valued optional fields with Meta's defaults for the
// entropy model (norm_eps 1e-5, rope_theta 10000, multiple_of 256, vocab
// 260). sliding_window is left alone: 0 there means unlimited, and the
// released entropy model states its 512 in its config.
func (c *Config) Defaults() {
	if c.VocabSize == 0 {
		c.VocabSize = 260
	}
	if c.NormEps == 0 {
		c.NormEps = 1e-5
	}
	if c.RopeTheta == 0 {
		c.RopeTheta = 10000
	}
	if c.MultipleOf == 0 {
		c.MultipleOf = 256
	}
}
