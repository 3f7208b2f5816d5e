package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/bltpipe/bltpipe/modelio"
)

func init() {
	register(command{
		name:    "model info",
		summary: "check a model directory and print its config, parameter count, dtype and sha256",
		run:     runModelInfo,
	})
}

const modelInfoUsage = `Usage: bltpipe model info --model DIR [--json]

Loads the BLT entropy model in DIR the way bltpipe score does (config.json or
params.json, and model.safetensors), checks every tensor's name, shape, dtype
and values, and prints the hyper-parameters, the parameter count, the dtype
on disk and the SHA-256 of model.safetensors (the model's identity in
outputs). A bad model directory exits with status 2 and says what is wrong.
DIR may be gs://BUCKET/DIR or hf://ORG/NAME[@REV] (downloaded into a cache
and verified first).

Examples:
  bltpipe model info --model models/blt-entropy
  bltpipe model info --model models/blt-entropy --json
  bltpipe model info --model hf://facebook/blt-entropy
`

// modelInfo is the --json output of bltpipe model info.
type modelInfo struct {
	Model      string         `json:"model"`
	Config     modelio.Config `json:"config"` // as stored; zero n_kv_heads/head_dim are omitted
	Parameters int            `json:"parameters"`
	DType      string         `json:"dtype"`
	SHA256     string         `json:"sha256"`
	HeadDim    int            `json:"head_dim"`   // per-head width, resolved
	KVHeads    int            `json:"kv_heads"`   // key/value heads, resolved
	HiddenDim  int            `json:"hidden_dim"` // SwiGLU width
	// ExtraTensors are tensors in the file that the model ignores.
	ExtraTensors []string `json:"extra_tensors"`
}

func runModelInfo(args []string, stdout io.Writer) error {
	fs := newFlagSet("model info", modelInfoUsage, stdout)
	dir := fs.String("model", "", "model `directory` (required)")
	asJSON := fs.Bool("json", false, "print one JSON object instead of text")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *dir == "" {
		return usageErrorf("--model DIR is required (see bltpipe model info --help)")
	}
	local, err := fetchModel(*dir)
	if err != nil {
		return err
	}
	w, err := modelio.LoadModel(local)
	if err != nil {
		return usageErrorf("%v", err)
	}
	c := w.Config
	info := modelInfo{
		Model: *dir, Config: c, Parameters: c.NumParams(), DType: w.DType, SHA256: w.SHA256,
		HeadDim: c.HeadDimension(), KVHeads: c.KVHeads(), HiddenDim: c.HiddenDim(),
		ExtraTensors: w.ExtraTensors,
	}
	if info.ExtraTensors == nil {
		info.ExtraTensors = []string{}
	}
	if *asJSON {
		b, err := json.Marshal(info)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(stdout, "%s\n", b)
		return err
	}
	return printModelInfo(stdout, info)
}

func printModelInfo(stdout io.Writer, info modelInfo) error {
	c := info.Config
	tw := tabwriter.NewWriter(stdout, 0, 8, 2, ' ', 0)
	row := func(k string, v any) { fmt.Fprintf(tw, "%s\t%v\n", k, v) }
	row("model", info.Model)
	row("parameters", thousands(info.Parameters))
	row("dtype", info.DType)
	row("sha256", info.SHA256)
	row("dim", c.Dim)
	row("n_layers", c.NLayers)
	row("n_heads", c.NHeads)
	row("n_kv_heads", info.KVHeads)
	row("head_dim", info.HeadDim)
	row("hidden_dim", info.HiddenDim)
	row("vocab_size", c.VocabSize)
	if c.FFNDimMultiplier != 0 {
		row("ffn_dim_multiplier", c.FFNDimMultiplier)
	} else {
		row("ffn_dim_multiplier", "unset")
	}
	row("multiple_of", c.MultipleOf)
	row("norm_eps", c.NormEps)
	row("rope_theta", c.RopeTheta)
	if c.SlidingWindow > 0 {
		row("sliding_window", c.SlidingWindow)
	} else {
		row("sliding_window", "unlimited")
	}
	row("max_seqlen", c.MaxSeqLen)
	if p := c.Patching; p != nil {
		v := fmt.Sprintf("threshold %g nats", p.Threshold)
		if p.TargetPatchLength != 0 {
			v += fmt.Sprintf(", target patch length %g tokens", p.TargetPatchLength)
		}
		row("patching", v)
	}
	if len(info.ExtraTensors) > 0 {
		row("ignored tensors", strings.Join(info.ExtraTensors, ", "))
	}
	return tw.Flush()
}

// thousands formats n with comma separators: 99512064 → "99,512,064".
func thousands(n int) string {
	s := strconv.Itoa(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	return b.String()
}
