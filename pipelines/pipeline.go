// Package pipelines wires bltpipe's stages into one Beam graph:
//
//	read → pretokenize → patch → embed → waterfill-prep → write → sphere
//
// Build takes a Scope so the CLI and the tests construct exactly the same
// pipeline. Everything between the read stage's reshuffle and the shard
// writer is fused: documents, per-token arrays and pooled vectors are never
// shuffled, and per-token hidden states never leave the patch DoFn.
package pipelines

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/bltpipe/bltpipe/modelio/patcher"
	"github.com/bltpipe/bltpipe/schemas"
	"github.com/bltpipe/bltpipe/transforms/embed"
	"github.com/bltpipe/bltpipe/transforms/limits"
	"github.com/bltpipe/bltpipe/transforms/patch"
	"github.com/bltpipe/bltpipe/transforms/pretokenize"
	_ "github.com/bltpipe/bltpipe/transforms/pretokenize/modality" // registers the "modality" segmenter (Auto picks it)
	"github.com/bltpipe/bltpipe/transforms/read"
	"github.com/bltpipe/bltpipe/transforms/reject"
	"github.com/bltpipe/bltpipe/transforms/resume"
	"github.com/bltpipe/bltpipe/transforms/waterfill"
	"github.com/bltpipe/bltpipe/transforms/waterfill/alloc"
	"github.com/bltpipe/bltpipe/transforms/waterfill/sphere"
	"github.com/bltpipe/bltpipe/transforms/write"
)

// Options are the parameters of one run (the flags of `bltpipe run`).
type Options struct {
	Inputs      []string // globs, directories or files; local or gs://
	Output      string   // output directory; local or gs://
	ModelDir    string   // local model directory (must exist on workers too), or patch.NoModel
	Patcher     patcher.Options
	Embeddings  bool   // --embeddings patch (true) or none
	BLTArrow    string // --blt-arrow NAME; empty for none
	BatchTokens int    // tokens per model call; 0 means patch.DefaultBatchTokens
	Devices     int    // GPUs per worker with a model replica; 0 means all
	IDField     string
	TextField   string
	Keep        []string
	Segmenter   string // pretokenize segmenter; "" = auto
	// SegmentStartsPatch makes the first token of every segment of a
	// document (Origin.Segments) start a patch (--segment-starts-patch).
	SegmentStartsPatch bool
	Backend            string // GoMLX backend; "" = $GOMLX_BACKEND or simplego
	DType              string // "f32", "bf16", "f16" or "" (backend default)
	// JSONLSplitBytes and RowGroupsPerSplit size the input splits (0 = defaults).
	JSONLSplitBytes   int64
	RowGroupsPerSplit int64
	Version           string // tool version for the manifest
	// Limits and the reject budget (flags --max-*). Zero values take each
	// stage's default; MaxRejects' zero value allows no reject.
	Limits     Limits
	MaxRejects reject.Budget
	// Waterfill places patches on shells (sphere/); the zero value is
	// alloc.DefaultConfig() (rank, 256 shells), Method "none" writes none.
	Waterfill alloc.Config
	// Overwrite redoes every input split. By default (false) a split that
	// an earlier run into Output finished with the same configuration and
	// input (its completion record in _splits/ says so) is not read again:
	// the run resumes. Either way the output is the same.
	Overwrite bool
}

// Limits bound what one input can make a worker hold or do; an input over
// a limit is a reject (rejects/), never a failed run. See docs/SCHEMA.md.
type Limits struct {
	MaxDocBytes  int64 // a document the model reads; text over it is cut into windows
	MaxLineBytes int64 // a JSONL line
	MaxRowBytes  int64 // a Parquet input row; a documents/ output row may be 8× this
	MaxFileBytes int64 // a whole-file input, a Parquet row group
	// KeepFallback keeps a source the segmenter rejected as its basic
	// text/bytes reading instead of rejecting it.
	KeepFallback bool
	// SegmenterOptions configures the segmenter (JSON; for "modality" its
	// Options, holding modality.Limits: archive depth, members, expanded
	// bytes and ratio, image pixels, audio seconds); "" for defaults.
	SegmenterOptions string
}

// Validate checks the options that do not need storage or the model.
func (o Options) Validate() error {
	if len(o.Inputs) == 0 {
		return fmt.Errorf("no input: give --input GLOB[,GLOB…]")
	}
	if o.Output == "" {
		return fmt.Errorf("no output: give --output DIR")
	}
	if o.ModelDir == "" {
		return fmt.Errorf("no model: give --model DIR")
	}
	if err := o.patchConfig().Validate(); err != nil {
		return err
	}
	if o.ModelDir == patch.NoModel {
		if o.BLTArrow != "" {
			return fmt.Errorf("--model none: --blt-arrow needs entropies, which need the model")
		}
		if m := o.Waterfill.OrDefault().Method; m != alloc.MethodNone {
			return fmt.Errorf("--model none: --waterfill %s needs prominence, which needs the model; use --waterfill none", m)
		}
	}
	if strings.ContainsAny(o.BLTArrow, "/\\") {
		return fmt.Errorf("--blt-arrow %q: want a file name prefix, not a path", o.BLTArrow)
	}
	if err := o.Waterfill.OrDefault().Validate(); err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, k := range o.Keep {
		if k == "" || seen[k] {
			return fmt.Errorf("--keep-columns: empty or repeated column %q", k)
		}
		seen[k] = true
	}
	return nil
}

// patchConfig is the patch stage's configuration.
func (o Options) patchConfig() patch.Config {
	return patch.Config{
		ModelDir: o.ModelDir, Backend: o.Backend, DType: o.DType,
		BatchTokens: o.BatchTokens, Devices: o.Devices, Patcher: o.Patcher, Embeddings: o.Embeddings,
		SegmentStartsPatch: o.SegmentStartsPatch,
	}
}

// Run returns the manifest's run description. The model must be loadable
// (unless it is patch.NoModel).
func (o Options) Run() (write.Run, error) {
	model := write.Model{Dir: o.ModelDir}
	batch := 0
	if o.ModelDir != patch.NoModel {
		w, err := patch.LoadWeights(o.ModelDir)
		if err != nil {
			return write.Run{}, err
		}
		model = write.Model{Dir: o.ModelDir, Config: &w.Config, WeightsSHA256: w.SHA256, DType: w.DType}
		batch = o.patchConfig().EffectiveBatchTokens()
	}
	emb := "none"
	if o.Embeddings {
		emb = "patch"
	}
	_, seg, err := pretokenize.Lookup(o.Segmenter)
	if err != nil {
		return write.Run{}, err
	}
	return write.Run{
		Tool:    "bltpipe",
		Version: o.Version,
		Inputs:  o.Inputs,
		Model:   model,
		Patcher: write.Patcher{
			Mode: string(o.Patcher.Mode), Threshold: o.Patcher.Threshold, Monotonic: o.Patcher.Monotonic,
			ThresholdAdd: o.Patcher.ThresholdAdd, PatchSize: o.Patcher.PatchSize, MaxPatchLength: o.Patcher.MaxPatchLength,
			SegmentStartsPatch: o.SegmentStartsPatch,
		},
		SegmenterOptions: json.RawMessage(o.Limits.SegmenterOptions),
		Embeddings:       emb,
		BLTArrow:         o.BLTArrow,
		KeepColumns:      o.Keep,
		IDField:          o.IDField,
		TextField:        o.TextField,
		Segmenter:        seg,
		BatchTokens:      batch,
	}, nil
}

// Build adds the whole pipeline to s and returns the PCollection<string>
// holding the manifest path (written last). It loads the model once to
// record its identity; in-process runners reuse that load.
func Build(s beam.Scope, o Options) (beam.PCollection, error) {
	if err := o.Validate(); err != nil {
		return beam.PCollection{}, err
	}
	run, err := o.Run()
	if err != nil {
		return beam.PCollection{}, err
	}
	wf := o.Waterfill.OrDefault()
	rc, err := o.resumeConfig(run, wf)
	if err != nil {
		return beam.PCollection{}, err
	}
	ro := read.Options{
		MaxLineBytes: o.Limits.MaxLineBytes, MaxRowBytes: o.Limits.MaxRowBytes, MaxFileBytes: o.Limits.MaxFileBytes,
		IDField: o.IDField, TextField: o.TextField, Keep: o.Keep,
		JSONLSplitBytes: o.JSONLSplitBytes, RowGroupsPerSplit: o.RowGroupsPerSplit, Ledger: rc.Ledger,
	}
	rs := s.Scope("Read")
	planned := read.Splits(rs, o.Inputs, ro)
	// Splits an earlier run finished are not read: their files, tallies and
	// statistics come from their completion records.
	todo, doneShards, doneTallies, donePartials := resume.Check(s, beam.Reshuffle(rs, planned), rc)
	docs, readTallies := read.ReadSplits(rs, todo, ro)
	docs = pretokenize.Apply(s, docs, pretokenize.Config{Segmenter: o.Segmenter, Options: o.Limits.SegmenterOptions})
	docs, limitTallies := limits.Apply(s, docs, limits.Config{MaxDocBytes: o.Limits.MaxDocBytes, KeepFallback: o.Limits.KeepFallback, Ledger: rc.Ledger})
	scored := patch.Patch(s, docs, o.patchConfig())
	scored = embed.Embed(s, scored)
	stats := waterfill.PrepWeighted(s, reject.DropRejects(s, scored), wf.Weighting(), schemas.PatchesParts(o.Embeddings), donePartials)
	wc := write.Config{Output: o.Output, Keep: o.Keep, Embeddings: o.Embeddings, BLTArrow: o.BLTArrow, Run: run,
		MaxRowBytes: 8 * o.Limits.MaxRowBytes, MaxRejects: o.MaxRejects, Resume: rc}
	shards := beam.Flatten(s, write.Shards(s, scored, wc), doneShards)
	// sphere/ is written from the committed patches/ shards; its shards
	// join the manifest.
	spheres := sphere.Stage(s, shards, stats, sphere.Config{Output: o.Output, Alloc: wf})
	tallies := beam.Flatten(s, readTallies, limitTallies, doneTallies)
	return write.Finalize(s, beam.Flatten(s, shards, spheres), stats, tallies, planned, wc), nil
}

// resumeConfig fingerprints what shapes a split's files and its statistics
// partial: everything the sidecars record (run: model identity and
// directory, patcher, segmenter and its options, fields, kept columns,
// embeddings, BLT Arrow name, batch size, tool version, input patterns),
// the schema version, and the options not in run that change bytes —
// compute backend and dtype, limits, split sizes and the waterfill
// weighting. MaxRejects and the sphere's parameters only shape files that
// every run rewrites (_MANIFEST.json, sphere/), so they are left out.
func (o Options) resumeConfig(run write.Run, wf alloc.Config) (resume.Config, error) {
	fp, err := resume.Fingerprint(struct {
		Schema            string
		Run               write.Run
		Backend, DType    string
		Limits            Limits
		JSONLSplitBytes   int64
		RowGroupsPerSplit int64
		Weighting         alloc.Weighting
	}{schemas.Version, run, o.Backend, o.DType, o.Limits, o.JSONLSplitBytes, o.RowGroupsPerSplit, wf.Weighting()})
	if err != nil {
		return resume.Config{}, err
	}
	return resume.Config{Output: o.Output, Fingerprint: fp, Ledger: resume.NewLedger(), Overwrite: o.Overwrite, Weighting: wf.Weighting()}, nil
}
