package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"

	"github.com/bltpipe/bltpipe/cmd/bltpipe/internal/plots"
	"github.com/bltpipe/bltpipe/pipelines/outputs"
	"github.com/bltpipe/bltpipe/transforms/fsio"
)

func init() {
	register(command{
		name:    "plot",
		summary: "draw a document's entropy per byte with patch boundaries (the BLT paper's figure), or corpus histograms, as PNG",
		run:     runPlot,
	})
}

const plotUsage = `Usage: bltpipe plot DIR --doc ID [--bytes N] [--out FILE.png]
       bltpipe plot DIR --histogram [--out FILE.png]

With --doc: the BLT paper's figure for one document of a finished run. Top
panel: the entropy (nats) of each byte given the bytes before it, the
entropy threshold as a red line and patch starts as dashed lines; bottom
panel: each byte's prominence. Bytes are the x tick labels ("·" is a space)
when the run kept the text (--blt-arrow, UTF-8 documents) or the document is
a whole text file that is still at its source path; otherwise ticks are byte
offsets. Only the first --bytes bytes are drawn (the title says so).

With --histogram: corpus-wide histograms of token entropy, token prominence
and patch length.

The PNG goes to --out (default: ID.png, or histograms.png).

Examples:
  bltpipe plot out/demo --doc testdata/demo/text/entropy.md --out docs/plot-example.png
  bltpipe plot out/demo --doc doc-3 --bytes 200 --out doc-3.png
  bltpipe plot out/demo --histogram --out hist.png
`

func runPlot(args []string, stdout io.Writer) error {
	fs := newFlagSet("plot", plotUsage, stdout)
	doc := fs.String("doc", "", "document `ID` to draw (bltpipe inspect DIR --ids lists them)")
	hist := fs.Bool("histogram", false, "draw corpus-wide histograms instead")
	out := fs.String("out", "", "PNG `FILE` (default ID.png or histograms.png)")
	maxBytes := fs.Int("bytes", 120, "draw the first `N` bytes of the document (0: all)")
	dir, err := parseWithDir(fs, args)
	if err != nil {
		return err
	}
	if (*doc == "") == !*hist {
		return usageErrorf("give exactly one of --doc ID and --histogram")
	}
	if *maxBytes < 0 {
		return usageErrorf("--bytes must be ≥ 0")
	}
	ctx := context.Background()
	r, err := openRun(ctx, dir)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if *hist {
		s, err := r.Summarize(ctx)
		if err != nil {
			return err
		}
		if err := plots.Histograms(&buf, s); err != nil {
			return err
		}
		if *out == "" {
			*out = "histograms.png"
		}
	} else {
		if err := plotDocument(ctx, &buf, r, *doc, *maxBytes); err != nil {
			return err
		}
		if *out == "" {
			*out = safeFileName(*doc) + ".png"
		}
	}
	if err := os.WriteFile(*out, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", *out, err)
	}
	fmt.Fprintf(stdout, "wrote %s\n", *out)
	return nil
}

// plotDocument draws one document's figure with the run's patcher settings.
func plotDocument(ctx context.Context, w io.Writer, r *outputs.Run, id string, maxBytes int) error {
	d, err := r.Document(ctx, id)
	if err != nil {
		return usageErrorf("%v", err)
	}
	text, err := documentText(ctx, r, d)
	if err != nil {
		return err
	}
	p := r.Manifest.Run.Patcher
	o := plots.DocOptions{
		MaxBytes:      maxBytes,
		Threshold:     p.Threshold,
		ShowThreshold: p.Mode == "entropy" && !p.Monotonic,
		Caption:       patcherLine(r.Manifest.Run),
	}
	return plots.Document(w, d, text, o)
}

// documentText finds a document's bytes: in the run's BLT Arrow shards, or
// at its source when the document is a whole file of the same size (a
// plain-text input). nil when neither has them.
func documentText(ctx context.Context, r *outputs.Run, d outputs.Document) ([]byte, error) {
	text, ok, err := r.Text(ctx, d.ID)
	if err != nil {
		return nil, err
	}
	if ok && len(text) == int(d.NumBytes) {
		return text, nil
	}
	if d.Source == d.ID { // a plain file's id is its path
		if size, err := fsio.Size(ctx, d.Source); err == nil && size == d.NumBytes {
			if b, err := fsio.ReadFile(ctx, d.Source); err == nil && len(b) == int(d.NumBytes) {
				return b, nil
			}
		}
	}
	return nil, nil
}

// safeFileName keeps letters, digits, '-', '_' and '.' of an id.
func safeFileName(id string) string {
	b := []byte(id)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			b[i] = '_'
		}
	}
	if len(b) > 80 {
		b = b[len(b)-80:]
	}
	return string(b)
}
