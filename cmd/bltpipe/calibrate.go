package main

import (
	"cmp"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/bltpipe/bltpipe/modelio"
	"github.com/bltpipe/bltpipe/modelio/calibrate"
	"github.com/bltpipe/bltpipe/modelio/fetch"
	"github.com/bltpipe/bltpipe/modelio/patcher"
	"github.com/bltpipe/bltpipe/modelio/tokenizer"
	"github.com/bltpipe/bltpipe/modelio/train"
)

func init() {
	register(command{name: "calibrate", summary: "set a model's entropy threshold for a target mean patch length", run: runCalibrate})
}

const calibrateUsage = `Usage: bltpipe calibrate --model DIR --input GLOB [--target-patch-size 4.5] [--write]

Scores the sample once, then bisects the global entropy threshold on the
stored entropies (no second model pass) until the default entropy patcher
cuts patches of the target mean length (tokens over patches, BOS and EOS
included). Prints the threshold, the mean patch length and how many patch
starts fall on the first byte of a word. --write stores
"patching": {"threshold": T, "target_patch_length": L} in the model's
config.json (atomically); score and the pipeline then use T by default.

Input files: *.jsonl[.gz|.zst] hold one {"text": …} document per line; any
other file is one document.

Examples:
  bltpipe calibrate --model models/default --input 'docs/*.md' --write
  bltpipe calibrate --model m --input sample.jsonl.zst --check heldout=prose.jsonl.zst
`

func runCalibrate(args []string, stdout io.Writer) error {
	fs := newFlagSet("calibrate", calibrateUsage, stdout)
	modelDir := fs.String("model", "", "model `directory` (default: "+defaultModelHelp+")")
	var inputs, checks stringList
	fs.Var(&inputs, "input", "sample `glob` to calibrate on (repeatable)")
	fs.Var(&checks, "check", "also report patches of `NAME=GLOB` at the calibrated threshold (repeatable)")
	target := fs.Float64("target-patch-size", 4.5, "target mean patch length in tokens")
	write := fs.Bool("write", false, "store the threshold in the model's config.json")
	maxBytes := fs.Int("max-bytes", 0, "use at most `N` bytes of the sample, whole documents in order (0: all)")
	backend := fs.String("backend", "", "GoMLX backend: simplego, or xla:/abs/path/plugin.so (default $GOMLX_BACKEND, else simplego)")
	dtype := fs.String("dtype", "", "compute dtype: f32, bf16 or f16 (GPU only) (default f32 on CPU, f16 on GPU)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if len(inputs) == 0 {
		return usageErrorf("--input is required (see bltpipe calibrate --help)")
	}
	if *target <= 1 {
		return usageErrorf("--target-patch-size must be > 1, got %g", *target)
	}
	if src := cmp.Or(*modelDir, os.Getenv(modelEnv)); *write && fetch.IsRemote(src) {
		return usageErrorf("--write stores the threshold in the model's config.json, and %s is remote: calibrate a local copy, or pass the threshold to bltpipe run --threshold", src)
	}
	dir, err := resolveModelDir(*modelDir)
	if err != nil {
		return err
	}
	w, err := modelio.LoadModel(dir)
	if err != nil {
		return usageErrorf("%v", err)
	}
	s, err := modelio.NewScorer(w, modelio.ScorerOptions{Backend: *backend, DType: *dtype})
	if err != nil {
		return usageErrorf("%v", err)
	}
	score := func(globs []string) ([]calibrate.Doc, int, error) {
		docs, err := train.ReadCorpus(globs)
		if err != nil {
			return nil, 0, usageErrorf("%v", err)
		}
		var toks [][]int32
		n := 0
		for _, d := range docs {
			if *maxBytes > 0 && n > 0 && n+len(d) > *maxBytes {
				break
			}
			toks = append(toks, tokenizer.EncodeDoc(d))
			n += len(d)
		}
		scores, err := s.Score(toks, nil)
		if err != nil {
			return nil, 0, err
		}
		out := make([]calibrate.Doc, len(toks))
		for i := range toks {
			out[i] = calibrate.Doc{Tokens: toks[i], Entropies: scores[i].Entropies}
		}
		return out, n, nil
	}
	sample, n, err := score(inputs)
	if err != nil {
		return err
	}
	res, err := calibrate.FindThreshold(sample, *target, patcher.DefaultOptions())
	if err != nil {
		return usageErrorf("%v", err)
	}
	meta, err := calibrate.Measure(sample, patcher.DefaultOptions())
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "sample: %d documents, %d bytes, %d tokens (%s, %s)\n", len(sample), n, res.Tokens, s.Backend(), s.DType())
	fmt.Fprintf(stdout, "threshold %.9g nats: mean patch length %.4f (target %g), %d patches, %.1f%% of patch starts at a word's first byte, %.1f%% of words start a patch (%d bisection steps)\n",
		res.Threshold, res.MeanLength, *target, res.Patches, 100*res.StartsAtWord, 100*res.WordsStarted, res.Iterations)
	fmt.Fprintf(stdout, "for comparison, Meta's default threshold %.9g gives mean patch length %.4f\n", patcher.DefaultThreshold, meta.MeanLength)
	for _, c := range checks {
		name, glob, ok := strings.Cut(c, "=")
		if !ok || name == "" || glob == "" {
			return usageErrorf("--check wants NAME=GLOB, got %q", c)
		}
		docs, nb, err := score([]string{glob})
		if err != nil {
			return err
		}
		o := patcher.DefaultOptions()
		o.Threshold = res.Threshold
		st, err := calibrate.Measure(docs, o)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "check %s: %d documents, %d bytes: mean patch length %.4f, %.1f%% of patch starts at a word's first byte, %.1f%% of words start a patch\n",
			name, len(docs), nb, st.MeanLength, 100*st.StartsAtWord, 100*st.WordsStarted)
	}
	if *write {
		p := modelio.PatchingDefaults{Threshold: res.Threshold, TargetPatchLength: *target}
		if err := calibrate.WriteDefaults(dir, p); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "wrote threshold %.9g to %s\n", res.Threshold, dir)
	}
	return nil
}
