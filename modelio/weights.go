package modelio

import "fmt"

// Weights is a loaded model: its config and every tensor as float32 in
// PyTorch's [out, in] layout, row-major.
type Weights struct {
	Config Config
	// DType is the dtype the weights had on disk: "F32", "BF16" or "F16".
	DType string
	// SHA256 is the hex digest of the safetensors file (model identity); empty
	// for weights made in memory.
	SHA256 string

	TokEmbeddings []float32 // [vocab, dim]
	Layers        []LayerWeights
	Norm          []float32 // [dim], final RMSNorm
	Output        []float32 // [vocab, dim]
}

// LayerWeights holds one transformer block. With H = n_heads, K = n_kv_heads,
// D = head dim, F = HiddenDim():
type LayerWeights struct {
	WQ       []float32 // [H·D, dim]
	WK       []float32 // [K·D, dim]
	WV       []float32 // [K·D, dim]
	WO       []float32 // [dim, H·D]
	W1       []float32 // [F, dim] gate
	W2       []float32 // [dim, F] down
	W3       []float32 // [F, dim] up
	AttnNorm []float32 // [dim]
	FFNNorm  []float32 // [dim]
}

// Safetensors names of the model's tensors.
const (
	NameTokEmbeddings = "tok_embeddings.weight"
	NameNorm          = "norm.weight"
	NameOutput        = "output.weight"
)

// LayerTensorNames returns the nine tensor names of layer i in LayerWeights
// field order: wq, wk, wv, wo, w1, w2, w3, attention_norm, ffn_norm.
func LayerTensorNames(i int) [9]string {
	p := fmt.Sprintf("layers.%d.", i)
	return [9]string{
		p + "attention.wq.weight", p + "attention.wk.weight", p + "attention.wv.weight", p + "attention.wo.weight",
		p + "feed_forward.w1.weight", p + "feed_forward.w2.weight", p + "feed_forward.w3.weight",
		p + "attention_norm.weight", p + "ffn_norm.weight",
	}
}

// Fields returns pointers to the layer's tensors in LayerTensorNames order.
func (l *LayerWeights) Fields() [9]*[]float32 {
	return [9]*[]float32{&l.WQ, &l.WK, &l.WV, &l.WO, &l.W1, &l.W2, &l.W3, &l.AttnNorm, &l.FFNNorm}
}

// LayerShapes returns the expected [rows, cols] of each tensor of a layer in
// LayerTensorNames order (norms are [dim, 0] meaning a vector of dim).
func (c Config) LayerShapes() [9][2]int {
	q := c.NHeads * c.HeadDimension()
	kv := c.KVHeads() * c.HeadDimension()
	f := c.HiddenDim()
	d := c.Dim
	return [9][2]int{{q, d}, {kv, d}, {kv, d}, {d, q}, {f, d}, {d, f}, {f, d}, {d, 0}, {d, 0}}
}

// NumParams counts every parameter of a model with this config:
// embeddings, output projection, final norm and NLayers blocks.
func (c Config) NumParams() int {
	perLayer := 0
	for _, s := range c.LayerShapes() {
		if s[1] == 0 {
			perLayer += s[0]
		} else {
			perLayer += s[0] * s[1]
		}
	}
	return 2*c.VocabSize*c.Dim + c.Dim + c.NLayers*perLayer
}
