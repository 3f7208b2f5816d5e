package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/bltpipe/bltpipe/modelio"
	"github.com/bltpipe/bltpipe/modelio/patcher"
	"github.com/bltpipe/bltpipe/modelio/tokenizer"
)

func init() {
	register(command{name: "score", summary: "per-byte entropy, prominence and patches of one document", run: runScore})
}

const scoreUsage = `Usage: bltpipe score [--model DIR] (--text STRING | --file PATH) [--json] [patcher flags]

Runs the entropy model over one document, encoded as [BOS, bytes…, EOS], and
prints per token: the entropy of the next-byte prediction (nats), the
prominence (L2 norm of the pre-norm hidden state) and the patches.

Examples:
  bltpipe score --text "The quick brown fox"
  bltpipe score --model models/default --file README.md --json > doc.json
  bltpipe patch --entropies doc.json --threshold 2.0     # re-patch without the model
`

// scoreOutput is the --json output; `bltpipe patch` reads it back.
type scoreOutput struct {
	Tokens       []int32   `json:"tokens"`
	Entropies    []float32 `json:"entropies"`  // nats, one per token
	Prominence   []float32 `json:"prominence"` // one per token
	PatchLengths []int32   `json:"patch_lengths"`
	PatchStarts  []int32   `json:"patch_starts"`
}

func runScore(args []string, stdout io.Writer) error {
	fs := newFlagSet("score", scoreUsage, stdout)
	modelDir := fs.String("model", "", "model `directory` (default: "+defaultModelHelp+")")
	text := fs.String("text", "", "the document as a `string`")
	file := fs.String("file", "", "read the document from `path` (raw bytes)")
	asJSON := fs.Bool("json", false, "print JSON {tokens, entropies, prominence, patch_lengths, patch_starts}")
	backend := fs.String("backend", "", "GoMLX backend: simplego, or xla:/abs/path/plugin.so (default $GOMLX_BACKEND, else simplego)")
	dtype := fs.String("dtype", "", "compute dtype: f32, bf16 or f16 (GPU only) (default f32 on CPU, f16 on GPU)")
	pf := addPatchFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	var doc []byte
	switch {
	case (*text != "") == (*file != ""):
		return usageErrorf("give exactly one of --text or --file (see bltpipe score --help)")
	case *file != "":
		b, err := os.ReadFile(*file)
		if err != nil {
			return usageErrorf("read document: %v", err)
		}
		doc = b
	default:
		doc = []byte(*text)
	}
	dir, err := resolveModelDir(*modelDir)
	if err != nil {
		return err
	}
	w, err := modelio.LoadModel(dir)
	if err != nil {
		return usageErrorf("%v", err)
	}
	opts, err := pf.options(w.Config.Patching)
	if err != nil {
		return err
	}
	s, err := modelio.NewScorer(w, modelio.ScorerOptions{Backend: *backend, DType: *dtype})
	if err != nil {
		return usageErrorf("%v", err)
	}
	tokens := tokenizer.EncodeDoc(doc)
	scores, err := s.Score([][]int32{tokens}, nil)
	if err != nil {
		return err
	}
	lengths, err := patcher.Patch(tokens, scores[0].Entropies, opts)
	if err != nil {
		return err
	}
	out := scoreOutput{tokens, scores[0].Entropies, scores[0].Prominence, lengths, patcher.Starts(lengths)}
	bw := bufio.NewWriter(stdout)
	if *asJSON {
		if err := json.NewEncoder(bw).Encode(out); err != nil {
			return err
		}
	} else {
		writeScoreTable(bw, out, opts)
	}
	return bw.Flush()
}

// writeScoreTable prints one line per token; "|" marks a patch start.
func writeScoreTable(w io.Writer, o scoreOutput, opts patcher.Options) {
	starts := map[int32]bool{}
	for _, s := range o.PatchStarts {
		starts[s] = true
	}
	fmt.Fprintf(w, "%5s %1s %-8s %9s %10s\n", "pos", "", "token", "entropy", "prominence")
	for i, t := range o.Tokens {
		mark := " "
		if starts[int32(i)] {
			mark = "|"
		}
		fmt.Fprintf(w, "%5d %s %-8s %9.4f %10.4f\n", i, mark, tokenLabel(t), o.Entropies[i], o.Prominence[i])
	}
	fmt.Fprintf(w, "%d tokens, %d patches (mode %s", len(o.Tokens), len(o.PatchLengths), opts.Mode)
	if opts.Mode == patcher.ModeEntropy {
		fmt.Fprintf(w, ", threshold %.6g nats", opts.Threshold)
	}
	fmt.Fprintln(w, ")")
}

// tokenLabel renders a token for humans: <BOS>, <EOS>, or the byte quoted.
func tokenLabel(t int32) string {
	switch t {
	case tokenizer.BOS:
		return "<BOS>"
	case tokenizer.EOS:
		return "<EOS>"
	case tokenizer.BOE:
		return "<BOE>"
	case tokenizer.BPE:
		return "<BPE>"
	}
	b := byte(t - tokenizer.Offset)
	q := strconv.QuoteToASCII(string([]byte{b}))
	if b >= 0x80 {
		q = fmt.Sprintf(`"\x%02x"`, b)
	}
	return q
}
