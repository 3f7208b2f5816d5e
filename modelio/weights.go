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

	// ExtraTensors lists, sorted, the tensors LoadModel found in the file
	// but the model does not use (they were ignored); nil otherwise.
	ExtraTensors []string
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

// TensorRef ties one tensor of a model to its safetensors name and the shape
// it must have: [rows, cols] for matrices, [n] for vectors.
type TensorRef struct {
	Name  string
	Shape []int
	Data  *[]float32 // the Weights field holding it
}

// Tensors returns every tensor of w in file order: tok_embeddings, then the
// nine tensors of each layer in LayerTensorNames order, then norm and
// output. Shapes come from w.Config; w.Layers must have Config.NLayers
// entries (missing layers are not listed).
func (w *Weights) Tensors() []TensorRef {
	c := w.Config
	refs := make([]TensorRef, 0, 3+9*len(w.Layers))
	refs = append(refs, TensorRef{NameTokEmbeddings, []int{c.VocabSize, c.Dim}, &w.TokEmbeddings})
	shapes := c.LayerShapes()
	for i := range w.Layers {
		names := LayerTensorNames(i)
		fields := w.Layers[i].Fields()
		for j, s := range shapes {
			shape := []int{s[0], s[1]}
			if s[1] == 0 {
				shape = shape[:1]
			}
			refs = append(refs, TensorRef{names[j], shape, fields[j]})
		}
	}
	refs = append(refs,
		TensorRef{NameNorm, []int{c.Dim}, &w.Norm},
		TensorRef{NameOutput, []int{c.VocabSize, c.Dim}, &w.Output})
	return refs
}

// Validate checks that w.Config is valid and that w holds NLayers layers and
// every tensor has exactly the number of values its shape needs.
func (w *Weights) Validate() error {
	if err := w.Config.Validate(); err != nil {
		return err
	}
	if len(w.Layers) != w.Config.NLayers {
		return fmt.Errorf("weights have %d layers, config says n_layers %d", len(w.Layers), w.Config.NLayers)
	}
	for _, r := range w.Tensors() {
		n := 1
		for _, d := range r.Shape {
			n *= d
		}
		if len(*r.Data) != n {
			return fmt.Errorf("tensor %q has %d values, shape %v needs %d", r.Name, len(*r.Data), r.Shape, n)
		}
	}
	return nil
}
