package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"

	"github.com/bltpipe/bltpipe/pipelines"
	"github.com/bltpipe/bltpipe/schemas"
	"github.com/bltpipe/bltpipe/transforms/fsio"
	"github.com/bltpipe/bltpipe/transforms/limits"
	"github.com/bltpipe/bltpipe/transforms/pretokenize/modality"
	"github.com/bltpipe/bltpipe/transforms/read"
	"github.com/bltpipe/bltpipe/transforms/reject"
	"github.com/bltpipe/bltpipe/transforms/write"
)

// limitFlags are bltpipe run's limits and reject budget. Every limit has a
// safe default; an input over a limit becomes a row of rejects/.
type limitFlags struct {
	maxDoc, maxLine, maxRow, maxFile *int64
	maxRejects                       *string
	onDecodeError                    *string
	depth, members                   *int
	expanded                         *int64
	ratio                            *float64
	pixels                           *int64
	audioSeconds                     *float64
}

func addLimitFlags(fs *flag.FlagSet) *limitFlags {
	d := modality.DefaultLimits
	return &limitFlags{
		maxDoc:        fs.Int64("max-doc-bytes", limits.DefaultMaxDocBytes, "largest document the model reads, in `bytes`; longer text is cut into windows at paragraph/line boundaries, anything else is rejected"),
		maxLine:       fs.Int64("max-line-bytes", read.DefaultMaxLineBytes, "longest JSONL line in `bytes` (longer lines are rejected unread)"),
		maxRow:        fs.Int64("max-row-bytes", read.DefaultMaxRowBytes, "largest Parquet input row in `bytes` (text, id and kept values); also bounds a documents/ output row at 8× this"),
		maxFile:       fs.Int64("max-file-bytes", read.DefaultMaxFileBytes, "largest whole-file input and Parquet row group (uncompressed) in `bytes`"),
		maxRejects:    fs.String("max-rejects", reject.DefaultBudget.String(), "fail the run when more than `N` documents, or this fraction (0.05) or percentage (5%) of the documents seen, are rejected"),
		onDecodeError: fs.String("on-decode-error", "reject", "what to do with a file the modality decoder rejects (corrupt image, archive over a limit): `reject` or fallback (keep it as basic text/bytes)"),
		depth:         fs.Int("max-archive-depth", d.MaxDepth, "deepest archive nesting (`levels`)"),
		members:       fs.Int("max-archive-members", d.MaxMembers, "most archive members in one input, all levels (`N`)"),
		expanded:      fs.Int64("max-expanded-bytes", d.MaxExpandedBytes, "most decompressed `bytes` from one input, all archives"),
		ratio:         fs.Float64("max-expansion-ratio", d.MaxRatio, "largest decompressed/compressed `ratio` of one stream"),
		pixels:        fs.Int64("max-image-pixels", d.MaxPixels, "largest image, width·height `pixels`"),
		audioSeconds:  fs.Float64("max-audio-seconds", d.MaxAudioSeconds, "longest audio or video stream in `seconds`"),
	}
}

// resolve checks the values and returns the pipeline's limits and budget.
func (f *limitFlags) resolve() (pipelines.Limits, reject.Budget, error) {
	var l pipelines.Limits
	budget, err := reject.ParseBudget(*f.maxRejects)
	if err != nil {
		return l, budget, err
	}
	for name, v := range map[string]int64{"max-doc-bytes": *f.maxDoc, "max-line-bytes": *f.maxLine, "max-row-bytes": *f.maxRow, "max-file-bytes": *f.maxFile,
		"max-archive-depth": int64(*f.depth), "max-archive-members": int64(*f.members), "max-expanded-bytes": *f.expanded, "max-image-pixels": *f.pixels} {
		if v < 1 {
			return l, budget, fmt.Errorf("--%s must be ≥ 1", name)
		}
	}
	if !(*f.ratio > 0) || !(*f.audioSeconds > 0) {
		return l, budget, fmt.Errorf("--max-expansion-ratio and --max-audio-seconds must be > 0")
	}
	switch *f.onDecodeError {
	case "reject":
	case "fallback":
		l.KeepFallback = true
	default:
		return l, budget, fmt.Errorf("--on-decode-error %q: want reject or fallback", *f.onDecodeError)
	}
	if *f.maxDoc < 4 {
		return l, budget, fmt.Errorf("--max-doc-bytes must be ≥ 4")
	}
	l.MaxDocBytes, l.MaxLineBytes, l.MaxRowBytes, l.MaxFileBytes = *f.maxDoc, *f.maxLine, *f.maxRow, *f.maxFile
	ml := modality.Limits{MaxDepth: *f.depth, MaxMembers: *f.members, MaxExpandedBytes: *f.expanded, MaxRatio: *f.ratio, MaxPixels: *f.pixels, MaxAudioSeconds: *f.audioSeconds}
	if ml != modality.DefaultLimits {
		if l.SegmenterOptions, err = (modality.Options{Limits: ml}).Config(); err != nil {
			return l, budget, err
		}
	}
	return l, budget, nil
}

// readManifest reads output's _MANIFEST.json; ok is false when there is none.
func readManifest(ctx context.Context, output string) (m write.Manifest, ok bool, err error) {
	b, err := fsio.ReadFile(ctx, fsio.Join(output, schemas.ManifestFile))
	if err != nil {
		return m, false, nil
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, false, fmt.Errorf("%s: %w", schemas.ManifestFile, err)
	}
	return m, true, nil
}

// manifestFailure is the failure the manifest records, if the run wrote one.
func manifestFailure(ctx context.Context, output string) string {
	m, ok, _ := readManifest(ctx, output)
	if !ok || m.Status != "failed" {
		return ""
	}
	return m.Error
}

// printAccounting prints the manifest's documents + rejected = seen line
// and the rejects per stage, and fails if the balance does not hold.
func printAccounting(ctx context.Context, w io.Writer, output string) error {
	m, ok, err := readManifest(ctx, output)
	if err != nil || !ok {
		return fmt.Errorf("run finished but its manifest is unreadable: %v", err)
	}
	a := m.Accounting
	fmt.Fprintf(w, "  %-20s %s\n", "accounting", a)
	for _, st := range schemas.RejectStages {
		if n := a.ByStage[st]; n > 0 {
			fmt.Fprintf(w, "  %-20s %15d\n", "rejected at "+st, n)
		}
	}
	if a.Rejected > 0 {
		fmt.Fprintf(w, "  rejects: %s/ (stage, error_class, message, head of the input)\n", fsio.Join(output, schemas.RejectsDir))
	}
	return a.Check()
}
